"""NeuronPipeline: the fused prediction path against the plain Pipeline."""

import pickle
import threading
import tracemalloc
import warnings

import joblib
import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_catneuron._gram as gram_module
import sklearn_catneuron._neuron as neuron_module
from sklearn_catneuron import (
    ImageFlattener,
    NeuronPipeline,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
    make_neuron_pipeline,
)
from sklearn_catneuron._neuron import _score_row_blocks
from sklearn_catneuron._threads import for_each_block

METHODS = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
SHAPE = (16, 16, 3)  # 768 values: 128 float64 rows (256 float32 rows) a block


@pytest.fixture(autouse=True)
def _two_threads():
    """The fused paths' second thread runs here even under pytest-xdist, which
    sets ``OMP_NUM_THREADS=1`` in each worker (see conftest.py)."""
    with threadpool_limits(2, user_api="openmp"):
        yield


def _fused_from(plain):
    """A NeuronPipeline holding the very steps of a fitted plain pipeline."""
    return NeuronPipeline(plain.steps)


def _images(rng, n, dtype=np.uint8, shape=SHAPE):
    images = rng.integers(0, 256, size=(n, *shape))
    if np.dtype(dtype).kind in "iu":
        return images.astype(dtype)
    return ((images + rng.random(images.shape)) * (255 / 256)).astype(dtype)


def _labels(images, n_classes=2):
    """Labels that depend on the images (bright top half, ...)."""
    brightness = images[:, : images.shape[1] // 2].mean(axis=(1, 2, 3))
    cuts = np.quantile(brightness, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.searchsorted(cuts, brightness)


@pytest.fixture(scope="module")
def fitted():
    """A plain pipeline fitted on 300 generated uint8 images (two classes)."""
    rng = np.random.default_rng(7)
    images = _images(rng, 300)
    model = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(learning_rate=0.01, max_iter=100)
    )
    return model.fit(images, _labels(images))


def _assert_same_outputs(plain, fused, X, methods=METHODS):
    assert fused._fused_steps(X, {}) is not None, "the fused path is not taken"
    for method in methods:
        expected = getattr(plain, method)(X)
        got = getattr(fused, method)(X)
        assert got.dtype == expected.dtype, method
        assert got.shape == expected.shape, method
        assert np.array_equal(got, expected), method


@pytest.mark.parametrize("subset", ["train", "test"])
def test_cat_images_give_bit_identical_outputs(catvnoncat, reference_pipeline, subset):
    X_train, _, X_test, _ = catvnoncat
    X = X_train if subset == "train" else X_test
    _assert_same_outputs(reference_pipeline, _fused_from(reference_pipeline), X)


def test_cat_test_accuracy_is_the_reference(catvnoncat, reference_pipeline):
    _, _, X_test, y_test = catvnoncat
    fused = _fused_from(reference_pipeline)
    assert fused._fused_steps(X_test, {}) is not None
    assert int((fused.predict(X_test) == y_test).sum()) == 35


DTYPES = (np.uint8, np.float32, np.float64)


@pytest.mark.parametrize(
    "dtype, n",
    [(np.uint8, 257), (np.float64, 257), (np.float32, 513)]
    + [(dtype, n) for dtype in DTYPES for n in (1000, 2047)]
    + [(np.int16, 1000), (np.float16, 1000)],
)
def test_generated_images_give_bit_identical_outputs(fitted, dtype, n):
    # Blocks of 128 rows for float64 (uint8 images are scaled to float64) and
    # 256 for float32: 257 = 2 * 128 + 1 and 513 = 2 * 256 + 1 end with one
    # row that joins the block before it; 1000 and 2047 end on shorter blocks.
    X = _images(np.random.default_rng(n), n, dtype)
    _assert_same_outputs(fitted, _fused_from(fitted), X)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_one_and_two_threads_scale_differently_to_the_same_bits(
    fitted, n_threads, monkeypatch
):
    # One thread converts the pixels in a pass of their own, two let NumPy
    # convert as it multiplies (one call fewer at the GIL): same values.
    from sklearn_catneuron import _preprocessing
    from sklearn_catneuron._threads import N_THREADS

    divide, cast_first = _preprocessing._divide_by_255, []

    def recording(pixels, out, **kwargs):
        cast_first.append(kwargs.get("cast_first", False))
        divide(pixels, out, **kwargs)

    monkeypatch.setattr(_preprocessing, "_divide_by_255", recording)
    X = _images(np.random.default_rng(5), 1000)
    with threadpool_limits(n_threads, user_api="openmp"):
        _assert_same_outputs(fitted, _fused_from(fitted), X)
    # (the plain pipeline's flattener converts as it multiplies)
    assert (True in cast_first) == (min(n_threads, N_THREADS) == 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_flat_input_gives_bit_identical_outputs(fitted, dtype):
    X = _images(np.random.default_rng(1), 700, dtype).reshape(700, -1)
    _assert_same_outputs(fitted, _fused_from(fitted), X)


@pytest.mark.parametrize("block_bytes", [2 * 768 * 8, 7 * 768 * 8, 100_000])
def test_small_blocks_give_bit_identical_outputs(fitted, block_bytes, monkeypatch):
    monkeypatch.setattr(neuron_module, "_SCORE_BLOCK_BYTES", block_bytes)
    X = _images(np.random.default_rng(3), 301)
    _assert_same_outputs(fitted, _fused_from(fitted), X)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_float32_fitted_model(dtype):
    rng = np.random.default_rng(11)
    train = _images(rng, 200, np.float32)
    plain = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=50))
    plain.fit(train, _labels(train))
    assert plain[-1].coef_.dtype == np.float32
    _assert_same_outputs(plain, _fused_from(plain), _images(rng, 1400, dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_one_vs_rest_multiclass(dtype):
    rng = np.random.default_rng(5)
    train = _images(rng, 300)
    y = np.array(["ant", "bee", "cat"])[_labels(train, n_classes=3)]
    plain = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(learning_rate=0.01, max_iter=60)
    ).fit(train, y)
    assert plain[-1].coef_.shape == (3, 768)
    X = _images(rng, 777, dtype)
    _assert_same_outputs(plain, _fused_from(plain), X)
    assert set(_fused_from(plain).predict(X)) <= {"ant", "bee", "cat"}


def test_cv_classifier_takes_the_fused_path_too():
    rng = np.random.default_rng(9)
    train = _images(rng, 120)
    plain = make_pipeline(
        ImageFlattener(),
        SigmoidNeuronClassifierCV(learning_rates=[0.001, 0.01], max_iter=30, cv=2),
    ).fit(train, _labels(train))
    _assert_same_outputs(plain, _fused_from(plain), _images(rng, 700))


@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_do_not_depend_on_blas_threads(fitted, threads):
    X = _images(np.random.default_rng(4), 1001)
    with threadpool_limits(limits=1):
        expected = {m: getattr(fitted, m)(X) for m in METHODS}
    fused = _fused_from(fitted)
    with threadpool_limits(limits=threads):
        for method in METHODS:
            assert np.array_equal(getattr(fused, method)(X), expected[method])
            assert np.array_equal(getattr(fitted, method)(X), expected[method])


def _raised(call):
    """The type and message of what ``call`` raises.

    The pipeline's own errors name its class; NeuronPipeline's say
    "NeuronPipeline" where the plain one's say "Pipeline".
    """
    with pytest.raises(Exception) as info:
        call()
    return type(info.value), str(info.value).replace("NeuronPipeline", "Pipeline")


def _outcome(call):
    """What ``call`` raises (type, message) or returns (bytes, dtype, shape)."""
    try:
        out = call()
    except Exception as exc:
        return type(exc), str(exc)
    return out.tobytes(), out.dtype, out.shape


def _bad_value(dtype, value, row):
    def make(rng):
        X = _images(rng, 1000, dtype)
        X[row, 3, 4, 1] = value
        return X

    return make


ERROR_CASES = {
    "other image shape": lambda rng: _images(rng, 1000, shape=(16, 15, 3)),
    "other flat width": lambda rng: _images(rng, 1000).reshape(1000, -1)[:, :700],
    "grayscale images": lambda rng: _images(rng, 1000)[..., 0],
    "above 255 (int16), first block": _bad_value(np.int16, 256, 0),
    "above 255 (int16), second thread's block": _bad_value(np.int16, 300, 999),
    "negative (float64), last block": _bad_value(np.float64, -0.5, 998),
    "negative (int64), middle": _bad_value(np.int64, -1, 500),
    "NaN (float32), first row": _bad_value(np.float32, np.nan, 0),
    "NaN (float64), last row": _bad_value(np.float64, np.nan, 999),
    "inf (float64)": _bad_value(np.float64, np.inf, 400),
    "-inf (float32)": _bad_value(np.float32, -np.inf, 700),
    "booleans": lambda rng: _images(rng, 1000) > 128,
    "complex": lambda rng: _images(rng, 1000).astype(np.complex128),
    "strings": lambda rng: np.full((1000, *SHAPE), "a"),
    "1-D": lambda rng: _images(rng, 1000).ravel(),
    "5-D": lambda rng: _images(rng, 1000)[..., None],
    "no samples": lambda rng: _images(rng, 0),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
@pytest.mark.parametrize("method", METHODS)
def test_errors_are_the_plain_pipelines(fitted, case, method):
    X = ERROR_CASES[case](np.random.default_rng(0))
    fused = _fused_from(fitted)
    expected = _raised(lambda: getattr(fitted, method)(X))
    assert _raised(lambda: getattr(fused, method)(X)) == expected


@pytest.mark.parametrize(
    "case",
    ["above 255 (int16), second thread's block", "NaN (float64), last row"],
)
def test_value_errors_are_raised_inside_the_fused_path(fitted, case):
    X = ERROR_CASES[case](np.random.default_rng(0))
    fused = _fused_from(fitted)
    assert fused._fused_steps(X, {}) is not None
    with pytest.raises(ValueError, match="passed to ImageFlattener|contains 1 NaN"):
        fused.predict_proba(X)


def _unfitted_flattener(fitted):
    return Pipeline([("imageflattener", ImageFlattener()), fitted.steps[1]])


def _other_width_classifier(fitted):
    rng = np.random.default_rng(2)
    other = SigmoidNeuronClassifier(max_iter=5).fit(rng.random((20, 10)), [0, 1] * 10)
    return Pipeline([fitted.steps[0], ("sigmoidneuronclassifier", other)])


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda fitted: make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()),
         NotFittedError, "Pipeline instance is not fitted yet"),
        (_unfitted_flattener, NotFittedError, "ImageFlattener instance is not fitted"),
        (_other_width_classifier, ValueError, "expecting 10 features"),
    ],
    ids=["unfitted", "unfitted flattener", "classifier of another width"],
)  # fmt: skip
def test_step_errors_are_the_plain_pipelines(fitted, build, error, match):
    plain = build(fitted)
    fused = NeuronPipeline(plain.steps)
    X = _images(np.random.default_rng(0), 1000)
    for method in METHODS:
        with pytest.raises(error, match=match):
            getattr(plain, method)(X)
        assert _raised(lambda m=method: getattr(fused, m)(X)) == _raised(
            lambda m=method: getattr(plain, m)(X)
        )


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_unknown_parameters_are_refused_as_by_the_plain_pipeline(fitted, method):
    X = _images(np.random.default_rng(0), 1000)
    fused = _fused_from(fitted)
    expected = _raised(lambda: getattr(fitted, method)(X, colour=True))
    assert expected[0] is TypeError
    assert _raised(lambda: getattr(fused, method)(X, colour=True)) == expected


def test_decision_function_parameters_are_refused_as_by_the_plain_pipeline(fitted):
    X = _images(np.random.default_rng(0), 1000)
    fused = _fused_from(fitted)
    expected = _raised(lambda: fitted.decision_function(X, colour=True))
    assert expected[0] is ValueError
    assert _raised(lambda: fused.decision_function(X, colour=True)) == expected


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize(
    "max_value, dtype",
    [(1e-300, np.float32), (np.inf, np.float64), (1e39, np.float32)],
)
def test_max_value_that_cannot_divide_to_finite_takes_the_plain_path(
    fitted, max_value, dtype
):
    # 1e-300 rounds to 0 in float32 (0 / 0 is NaN), inf / inf is NaN, and
    # 1e39 is inf in float32: the classifier's finite check has work to do.
    plain = clone(fitted).fit(_images(np.random.default_rng(0), 50), [0, 1] * 25)
    plain[0].set_params(max_value=max_value)
    X = np.zeros((1000, *SHAPE), dtype)
    X[5, 0, 0, 0] = np.inf if max_value == np.inf else 0
    fused = NeuronPipeline(plain.steps)
    assert fused._fused_steps(X, {}) is None
    for method in METHODS:
        assert _outcome(lambda m=method: getattr(fused, m)(X)) == _outcome(
            lambda m=method: getattr(plain, m)(X)
        )


class _OwnFlattener(ImageFlattener):
    pass


class _OwnClassifier(SigmoidNeuronClassifier):
    pass


def _refit(steps, images):
    return NeuronPipeline(steps).fit(images, _labels(images))


FALLBACKS = {
    "a list of images": lambda fused, X: (fused, X[:400].tolist()),
    "a flattener subclass": lambda fused, X: (
        _refit([("f", _OwnFlattener()), fused.steps[1]], X[:100]), X),
    "a classifier subclass": lambda fused, X: (
        _refit([fused.steps[0], ("c", _OwnClassifier(max_iter=5))], X[:100]), X),
    "three steps": lambda fused, X: (
        _refit([fused.steps[0], ("p", "passthrough"), fused.steps[1]], X[:100]), X),
    "pandas output": lambda fused, X: (
        clone(fused).set_output(transform="pandas").fit(X[:100], _labels(X[:100])),
        X.reshape(len(X), -1)),
    "too few rows": lambda fused, X: (  # one block's rows
        fused, X[: neuron_module._SCORE_BLOCK_BYTES // (8 * X[0].size)]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(FALLBACKS))
def test_other_cases_take_the_plain_path(fitted, case):
    X = _images(np.random.default_rng(6), 1000)
    fused, X = FALLBACKS[case](_fused_from(fitted), X)
    plain = Pipeline(fused.steps)
    assert fused._fused_steps(X, {}) is None
    for method in METHODS:
        assert np.array_equal(getattr(fused, method)(X), getattr(plain, method)(X))


def test_dask_images_take_the_plain_path(fitted):
    da = pytest.importorskip("dask.array")
    X = _images(np.random.default_rng(6), 1000)
    fused = _fused_from(fitted)
    lazy = da.from_array(X, chunks=(250, *SHAPE))
    assert fused._fused_steps(lazy, {}) is None
    assert np.array_equal(
        fused.predict_proba(lazy).compute(), fitted.predict_proba(lazy).compute()
    )


def test_memmap_images_take_the_fused_path(fitted, tmp_path):
    X = _images(np.random.default_rng(6), 1000)
    mapped = np.lib.format.open_memmap(
        tmp_path / "images.npy", mode="w+", dtype=X.dtype, shape=X.shape
    )
    mapped[...] = X
    _assert_same_outputs(fitted, _fused_from(fitted), mapped)


def test_array_api_dispatch_takes_the_plain_path(fitted):
    X = _images(np.random.default_rng(6), 1000)
    fused = _fused_from(fitted)
    with sklearn.config_context(array_api_dispatch=True):
        assert fused._fused_steps(X, {}) is None
        assert np.array_equal(fused.predict_proba(X), fitted.predict_proba(X))


def test_metadata_routing_without_parameters_takes_the_fused_path(fitted):
    X = _images(np.random.default_rng(6), 1000)
    with sklearn.config_context(enable_metadata_routing=True):
        fused = _fused_from(fitted)
        _assert_same_outputs(fitted, fused, X)
        routing = fused.get_metadata_routing()
    assert type(routing).__name__ == "MetadataRouter"


def test_fit_with_routed_sample_weight():
    rng = np.random.default_rng(8)
    images = _images(rng, 60)
    y, weight = _labels(images), rng.random(60)
    with sklearn.config_context(enable_metadata_routing=True):
        steps = [
            ImageFlattener(),
            SigmoidNeuronClassifier(max_iter=20).set_fit_request(sample_weight=True),
        ]
        fused = make_neuron_pipeline(*map(clone, steps))
        plain = make_pipeline(*map(clone, steps))
        fused.fit(images, y, sample_weight=weight)
        plain.fit(images, y, sample_weight=weight)
    np.testing.assert_array_equal(fused[-1].coef_, plain[-1].coef_)


def test_make_neuron_pipeline_names_steps_as_make_pipeline():
    fused = make_neuron_pipeline()
    plain = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
    assert type(fused) is NeuronPipeline
    assert list(fused.named_steps) == list(plain.named_steps)
    assert fused.get_params(deep=False).keys() == plain.get_params(deep=False).keys()
    cv = make_neuron_pipeline(
        ImageFlattener(max_value=1.0), SigmoidNeuronClassifierCV(), verbose=True
    )
    assert list(cv.named_steps) == ["imageflattener", "sigmoidneuronclassifiercv"]
    assert cv.verbose is True and cv[0].max_value == 1.0


def test_clone_get_params_set_params_and_pickle(fitted):
    fused = make_neuron_pipeline(memory=None, verbose=False)
    copy = clone(fused)
    assert type(copy) is NeuronPipeline
    assert copy.get_params()["sigmoidneuronclassifier__learning_rate"] == 0.005
    copy.set_params(sigmoidneuronclassifier__learning_rate=0.01)
    assert copy[-1].learning_rate == 0.01
    assert fused[-1].learning_rate == 0.005

    model = _fused_from(fitted)
    back = pickle.loads(pickle.dumps(model))
    assert type(back) is NeuronPipeline
    X = _images(np.random.default_rng(2), 900)
    _assert_same_outputs(fitted, back, X)


def test_grid_search_over_the_learning_rate():
    rng = np.random.default_rng(10)
    images = _images(rng, 120)
    y = _labels(images)
    search = GridSearchCV(
        make_neuron_pipeline(classifier=SigmoidNeuronClassifier(max_iter=40)),
        {"sigmoidneuronclassifier__learning_rate": [0.0001, 0.01]},
        cv=3,
    ).fit(images, y)
    best = search.best_estimator_
    assert type(best) is NeuronPipeline
    rate = search.best_params_["sigmoidneuronclassifier__learning_rate"]
    plain = make_pipeline(
        ImageFlattener(), SigmoidNeuronClassifier(max_iter=40, learning_rate=rate)
    ).fit(images, y)
    _assert_same_outputs(plain, best, _images(rng, 700))
    assert np.array_equal(search.predict_proba(images), plain.predict_proba(images))


def test_fused_path_makes_no_copy_of_the_images(reference_pipeline):
    # 1,000 generated 64x64x3 images: 12 MB of uint8, 98 MB once flattened.
    X = np.random.default_rng(0).integers(0, 256, (1000, 64, 64, 3), dtype=np.uint8)
    fused = _fused_from(reference_pipeline)
    one_copy = X.size * 8
    fused.predict_proba(X)  # warm up
    tracemalloc.start()
    try:
        fused.predict_proba(X)
        _, fused_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        reference_pipeline.predict_proba(X)
        _, plain_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plain_peak >= one_copy  # the measurement sees the plain path's copy
    # Two threads' buffers of two blocks each (768 KiB and a row) and the
    # outputs.
    row = 64 * 64 * 3 * 8
    assert fused_peak < 4 * (neuron_module._SCORE_BLOCK_BYTES + row) + 2**20
    assert fused_peak < 0.05 * one_copy


@pytest.mark.parametrize("step_rows", [1, 2, 3, 7])
def test_score_blocks_cover_every_row_with_no_one_row_block(step_rows, monkeypatch):
    monkeypatch.setattr(neuron_module, "_SCORE_BLOCK_BYTES", step_rows * 80)
    for n in range(40):
        blocks = _score_row_blocks(n, 10, np.float64)
        assert [i for b in blocks for i in range(b.start, b.stop)] == list(range(n))
        lengths = [b.stop - b.start for b in blocks]
        assert n == 1 or min(lengths, default=2) >= 2
        assert max(lengths, default=0) <= max(step_rows, 2) + 1


def _check_statuses(estimator):
    results = check_estimator(estimator, on_fail=None)
    return {(r["check_name"], r["status"]) for r in results}


@pytest.mark.filterwarnings("ignore")
def test_estimator_checks_pass_where_the_plain_pipeline_passes():
    fused = _check_statuses(make_neuron_pipeline())
    plain = _check_statuses(make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()))
    passed = {name for name, status in plain if status == "passed"}
    assert passed
    assert {name for name, status in fused if status == "passed"} >= passed


def test_concurrent_predictions_give_back_the_blas_threads(fitted):
    # The fused path runs BLAS on one thread while it works; callers in other
    # threads overlap, and the last one to finish restores the setting.
    X = _images(np.random.default_rng(12), 1000)
    expected = fitted.predict_proba(X)
    fused = _fused_from(fitted)
    results = []

    def predict():
        results.extend(
            np.array_equal(fused.predict_proba(X), expected) for _ in range(5)
        )

    with threadpool_limits(limits=2, user_api="blas"):
        threads = [threading.Thread(target=predict) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = {
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        }
    assert results == [True] * 20
    assert after == {2}


def test_methods_the_last_step_lacks_are_missing_as_in_pipeline(fitted):
    from sklearn.svm import LinearSVC

    fused = make_neuron_pipeline(classifier=LinearSVC())
    plain = make_pipeline(ImageFlattener(), LinearSVC())
    for method in METHODS:
        assert hasattr(fused, method) == hasattr(plain, method)
    assert not hasattr(fused, "predict_proba")


def test_very_wide_images_never_take_more_than_one_copy():
    # Rows of 2.4 MB: blocks of 2 rows and a last one of 3. Each thread's
    # buffer is sized for its own blocks, so together they hold the 5 rows.
    rng = np.random.default_rng(13)
    shape = (1, 100_000, 3)
    train = rng.integers(0, 256, size=(4, *shape), dtype=np.uint8)
    plain = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=2))
    plain.fit(train, [0, 1, 0, 1])
    X = rng.integers(0, 256, size=(5, *shape), dtype=np.uint8)
    fused = _fused_from(plain)
    _assert_same_outputs(plain, fused, X)
    tracemalloc.start()
    try:
        fused.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.05 * X.size * 8


def test_for_each_block_runs_every_block_once_in_any_number_of_threads():
    blocks = [slice(i, i + 1) for i in range(4)]
    for n_threads in (1, 2, 3, 5):
        seen, shares = [], []

        def make_step(share, seen=seen, shares=shares):
            shares.append(list(share))
            return seen.append

        for_each_block(blocks, make_step, n_threads=n_threads)
        assert sorted(block.start for block in seen) == [0, 1, 2, 3]
        assert all(shares) and len(shares) <= n_threads


# fit: from uint8 images the classifier's X X^T is summed exactly from the
# pixels (sklearn_catneuron._gram); every other case is the plain fit.


def _integer_gram(pixels, max_value=255.0):
    pixels = pixels.reshape(len(pixels), -1).astype(np.int64)
    return (pixels @ pixels.T) / (float(max_value) ** 2)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "shape", [(209, 12288), (40, 256 * 5), (9, 1000), (3, 257), (1, 1), (2, 255)]
)
def test_exact_pixel_gram_is_the_integer_product(shape, threads):
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape, np.uint8)
    with threadpool_limits(threads, user_api="blas"):
        gram = gram_module.exact_pixel_gram(pixels, 255.0)
    assert gram.dtype == np.float64
    assert np.array_equal(gram, _integer_gram(pixels))


@pytest.mark.parametrize("max_value", [255.0, 300, 1e-3])
def test_exact_pixel_gram_at_the_largest_sums(max_value):
    """All pixels 255: each block's sums reach 256 * 255^2, just under 2^24."""
    pixels = np.full((30, 256 * 3 + 7), 255, dtype=np.uint8)
    gram = gram_module.exact_pixel_gram(pixels, max_value)
    assert np.array_equal(gram, _integer_gram(pixels, max_value))
    assert gram[0, 0] * float(max_value) ** 2 == 775 * 255**2
    # One float32 product over all the columns cannot be exact: 775 * 255^2 is
    # odd and above 2^24, so float32 cannot hold it.
    flat = pixels.astype(np.float32)
    assert (flat @ flat.T)[0, 0] != 775 * 255**2


def test_exact_pixel_gram_refuses_other_pixels():
    with pytest.raises(ValueError, match="2-D uint8"):
        gram_module.exact_pixel_gram(np.zeros((3, 4), dtype=np.uint16), 255.0)
    with pytest.raises(ValueError, match="2-D uint8"):
        gram_module.exact_pixel_gram(np.zeros((3, 4, 3), dtype=np.uint8), 255.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float_gram_sums_two_halves_the_same_way_on_any_number_of_threads(
    dtype, monkeypatch
):
    X = np.random.default_rng(0).random((209, 4000)).astype(dtype)
    blocks_seen, for_each_block = [], gram_module.for_each_block

    def recording(blocks, make_step):
        blocks_seen.append(len(blocks))
        return for_each_block(blocks, make_step)

    monkeypatch.setattr(gram_module, "for_each_block", recording)
    grams = []
    for n_threads in (1, 2):
        # (BLAS on one thread in both cases: a BLAS product's last bits may
        # depend on its own threads, for X @ X.T as well)
        with threadpool_limits(n_threads, user_api="openmp"):
            with threadpool_limits(1, user_api="blas"):
                grams.append(gram_module.float_gram(X))
    assert blocks_seen == [2, 2]  # two halves of the features, both times
    assert grams[0].dtype == dtype
    assert np.array_equal(grams[0], grams[1])  # not by the thread count
    assert np.array_equal(grams[0], grams[0].T)
    half = X.shape[1] // 2
    left, right = X[:, :half], X[:, half:]
    with threadpool_limits(1, user_api="blas"):
        assert np.array_equal(grams[0], left @ left.T + right @ right.T)
    rtol = 1e-13 if dtype == np.float64 else 1e-5
    assert_allclose(grams[0], X @ X.T, rtol=rtol)


@pytest.mark.parametrize(
    "shape, split",
    [
        ((64, 8192), True),  # 64^2 * 8192 = 2^25 multiply-adds: split
        ((64, 8191), False),  # one fewer feature: one product
        ((256, 4096), True),  # one sample per 16 features: split
        ((257, 4096), False),  # one more sample: one product
        ((65, 8193), True),  # odd halves: 4096 and 4097 features
    ],
)
def test_float_gram_splits_exactly_at_its_bounds(shape, split, monkeypatch):
    X = np.random.default_rng(sum(shape)).normal(size=shape)
    calls, for_each_block = [], gram_module.for_each_block

    def recording(blocks, make_step):
        calls.append([(b.start, b.stop) for b in blocks])
        return for_each_block(blocks, make_step)

    monkeypatch.setattr(gram_module, "for_each_block", recording)
    gram = gram_module.float_gram(X)
    half = shape[1] // 2
    assert calls == ([[(0, half), (half, shape[1])]] if split else [])
    assert np.array_equal(gram, gram.T)
    scale = np.abs(X @ X.T).max()
    assert_allclose(gram, X @ X.T, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("shape", [(20, 3000), (300, 4000)])
def test_float_gram_of_few_features_or_little_work_is_one_product(shape):
    # 20 rows: below the work that pays for a thread; 300 rows of 4000
    # features: the second half's n x n sum would take more than 1/16 of X.
    X = np.random.default_rng(1).random(shape)
    assert np.array_equal(gram_module.float_gram(X), X @ X.T)


@pytest.fixture
def gram_calls(monkeypatch):
    """The pixel arrays the exact Gram was computed from, in order."""
    calls = []
    exact = gram_module.exact_pixel_gram

    def spy(pixels, max_value):
        calls.append(pixels)
        return exact(pixels, max_value)

    monkeypatch.setattr(gram_module, "exact_pixel_gram", spy)
    return calls


def test_cat_fit_sums_the_gram_exactly_and_keeps_the_reference_iterates(
    catvnoncat, reference_pipeline, reference_costs, gram_calls
):
    X_train, y_train, X_test, y_test = catvnoncat
    model = make_neuron_pipeline().fit(X_train, y_train)
    assert len(gram_calls) == 1
    assert gram_calls[0].shape == (209, 12288)
    neuron, plain = model[-1], reference_pipeline[-1]
    # The same iterates as the float64 X X^T, to rounding.
    scale = np.abs(plain.coef_).max()
    assert_allclose(neuron.coef_, plain.coef_, rtol=1e-12, atol=1e-12 * scale)
    assert_allclose(neuron.intercept_, plain.intercept_, rtol=1e-12)
    assert_allclose(neuron.loss_curve_, plain.loss_curve_, rtol=1e-12)
    assert np.array_equal(np.round(neuron.loss_curve_[::100], 6), reference_costs)
    assert np.sum(model.predict(X_train) == y_train) == 207
    assert np.sum(model.predict(X_test) == y_test) == 35


def test_cat_fit_matches_the_reference_loop(catvnoncat, gram_calls):
    X_train, y_train, _, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1).T / 255.0
    Y = y_train.reshape(1, -1)
    w, b, m = np.zeros((X.shape[0], 1)), 0.0, X.shape[1]
    for _ in range(300):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        w = w - 0.005 * (X @ (A - Y).T) / m
        b = b - 0.005 * np.sum(A - Y) / m
    neuron = make_neuron_pipeline(classifier=SigmoidNeuronClassifier(max_iter=300)).fit(
        X_train, y_train
    )[-1]
    assert len(gram_calls) == 1
    scale = np.abs(w).max()
    assert_allclose(neuron.coef_[0], w.ravel(), rtol=1e-10, atol=1e-10 * scale)
    assert_allclose(neuron.intercept_[0], b, rtol=1e-10)


def test_cv_fit_sums_the_gram_exactly(catvnoncat, gram_calls):
    X_train, y_train, _, _ = catvnoncat
    rates = [1e-4, 1e-3, 5e-3]
    cv = SigmoidNeuronClassifierCV(learning_rates=rates, max_iter=200, cv=3)
    model = make_neuron_pipeline(classifier=cv).fit(X_train, y_train)
    plain = make_pipeline(ImageFlattener(), clone(cv)).fit(X_train, y_train)
    assert len(gram_calls) == 1
    assert model[-1].learning_rate_ == plain[-1].learning_rate_
    assert_allclose(model[-1].scores_, plain[-1].scores_)
    scale = np.abs(plain[-1].coef_).max()
    assert_allclose(model[-1].coef_, plain[-1].coef_, rtol=1e-12, atol=1e-12 * scale)


def _small_uint8(n=24, shape=(16, 16, 3)):
    images = _images(np.random.default_rng(n), n, shape=shape)
    return images, _labels(images)


def test_generated_fit_sums_the_gram_exactly(gram_calls):
    images, y = _small_uint8()
    classifier = SigmoidNeuronClassifier(learning_rate=0.05, max_iter=150)
    model = make_neuron_pipeline(classifier=classifier).fit(images, y)
    plain = make_pipeline(ImageFlattener(), clone(classifier)).fit(images, y)
    assert len(gram_calls) == 1
    scale = np.abs(plain[-1].coef_).max()
    assert_allclose(model[-1].coef_, plain[-1].coef_, rtol=1e-12, atol=1e-12 * scale)
    assert_allclose(model[-1].loss_curve_, plain[-1].loss_curve_, rtol=1e-12)


def _fit_cases():
    images, y = _small_uint8()
    classifier = SigmoidNeuronClassifier(learning_rate=0.05, max_iter=50)

    class Flattener(ImageFlattener):
        pass

    class Classifier(SigmoidNeuronClassifier):
        pass

    return {
        "float64 images": (make_neuron_pipeline(), images.astype(np.float64), {}),
        "float32 images": (make_neuron_pipeline(), images.astype(np.float32), {}),
        "uint16 images": (make_neuron_pipeline(), images.astype(np.uint16), {}),
        "a list": (make_neuron_pipeline(), images.tolist(), {}),
        "sample_weight": (
            make_neuron_pipeline(),
            images,
            {"sigmoidneuronclassifier__sample_weight": np.ones(len(y))},
        ),
        "a flattener subclass": (
            NeuronPipeline([("f", Flattener()), ("c", classifier)]),
            images,
            {},
        ),
        "a classifier subclass": (
            NeuronPipeline([("f", ImageFlattener()), ("c", Classifier(max_iter=50))]),
            images,
            {},
        ),
        "three steps": (
            NeuronPipeline(
                [
                    ("f", ImageFlattener()),
                    ("p", "passthrough"),
                    ("c", clone(classifier)),
                ]
            ),
            images,
            {},
        ),
        "memory": (
            NeuronPipeline(
                [("f", ImageFlattener()), ("c", clone(classifier))],
                memory=joblib.Memory(None, verbose=0),
            ),
            images,
            {},
        ),
        "the primal solver": (
            make_neuron_pipeline(
                classifier=SigmoidNeuronClassifier(solver="primal", max_iter=50)
            ),
            images,
            {},
        ),
        "more images than 1/16 of the pixels": (
            make_neuron_pipeline(),
            _small_uint8(n=100)[0],
            {},
        ),
        "early stopping (fewer rows)": (
            make_neuron_pipeline(
                classifier=SigmoidNeuronClassifier(
                    early_stopping=True,
                    max_iter=50,
                    validation_fraction=0.25,
                    random_state=0,
                )
            ),
            images,
            {},
        ),
    }, y


@pytest.mark.parametrize("case", list(_fit_cases()[0]))
def test_other_fits_are_the_plain_pipelines(case, gram_calls):
    cases, y = _fit_cases()
    model, images, params = cases[case]
    if case.startswith("more images"):
        y = _labels(images)
    plain = Pipeline(clone(model).steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(images, y, **params)
        plain.fit(images, y, **params)
    assert gram_calls == []
    assert np.array_equal(model[-1].coef_, plain[-1].coef_)
    assert np.array_equal(model[-1].loss_curve_, plain[-1].loss_curve_)


def test_pandas_output_fits_the_plain_way(gram_calls):
    pytest.importorskip("pandas")
    images, y = _small_uint8()
    flat = images.reshape(len(images), -1)
    model = make_neuron_pipeline().set_output(transform="pandas").fit(flat, y)
    assert gram_calls == []
    assert model[-1].n_features_in_ == flat.shape[1]


def test_the_pixels_are_named_only_during_the_fit(gram_calls):
    images, y = _small_uint8()
    with pytest.raises(ValueError, match="Values above max_value"):
        make_neuron_pipeline(ImageFlattener(max_value=100)).fit(images, y)
    assert gram_module._PIXELS.get() is None
    make_neuron_pipeline().fit(images, y)
    assert gram_module._PIXELS.get() is None
    assert len(gram_calls) == 1
    # A classifier fitted outside the pipeline afterwards sums X X^T itself.
    X = ImageFlattener().fit_transform(images)
    SigmoidNeuronClassifier(max_iter=5).fit(X, y)
    assert len(gram_calls) == 1


def test_other_values_of_the_same_shape_are_not_taken_for_the_pixels(gram_calls):
    """Within the fit, only an X whose first and last rows are the pixels scaled."""
    images, _ = _small_uint8()
    pixels = images.reshape(len(images), -1)
    X = pixels / 255.0
    with gram_module.scaled_pixels(pixels, 255.0):
        for row in (0, -1):
            other = X.copy()
            other[row, 3] += 1e-16 if other[row, 3] else 1e-300
            assert np.array_equal(gram_module.gram_matrix(other), other @ other.T)
        other = X.astype(np.float32)
        assert gram_module.gram_matrix(other).dtype == np.float32
        assert gram_module.gram_matrix(X[:-1]).shape == (len(X) - 1,) * 2
        assert gram_calls == []
        assert np.array_equal(gram_module.gram_matrix(X), _integer_gram(pixels))
    assert len(gram_calls) == 1
    assert np.array_equal(gram_module.gram_matrix(X), X @ X.T)  # outside: plain


def test_grid_search_over_neuron_pipelines_sums_each_fold_exactly(gram_calls):
    images, y = _small_uint8(n=40)
    search = GridSearchCV(
        make_neuron_pipeline(classifier=SigmoidNeuronClassifier(max_iter=40)),
        {"sigmoidneuronclassifier__learning_rate": [0.01, 0.05]},
        cv=2,
    ).fit(images, y)
    assert len(gram_calls) == 2 * 2 + 1  # the folds and the refit
    assert search.best_estimator_[-1].n_iter_ == 40


def test_the_classifier_skips_its_finite_scan_only_for_the_pixels(monkeypatch):
    """The flattener checked the pixels; a scan of X would find nothing new."""
    import sklearn.utils.validation as validation

    scans = []
    scan = validation._assert_all_finite

    def spy(X, *args, **kwargs):
        scans.append(X.shape)
        return scan(X, *args, **kwargs)

    monkeypatch.setattr(validation, "_assert_all_finite", spy)
    images, y = _small_uint8()
    make_neuron_pipeline(classifier=SigmoidNeuronClassifier(max_iter=5)).fit(images, y)
    assert (len(images), images[0].size) not in scans
    make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=5)).fit(images, y)
    assert (len(images), images[0].size) in scans
    # Within the fit, other values are scanned: NaN is refused as always.
    pixels = images.reshape(len(images), -1)
    X = pixels / 255.0
    X[1, 0] = np.nan
    with gram_module.scaled_pixels(pixels, 255.0):
        with pytest.raises(ValueError, match="NaN"):
            SigmoidNeuronClassifier(max_iter=5).fit(X[:-1], y[:-1])
        X[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            SigmoidNeuronClassifier(max_iter=5).fit(X, y)


def test_exact_pixel_gram_memory_is_the_gram_and_two_float32_products():
    n, d = 300, 256 * 20
    pixels = np.random.default_rng(3).integers(0, 256, (n, d), np.uint8)
    gram_module.exact_pixel_gram(pixels, 255.0)  # one-off allocations
    tracemalloc.start()
    try:
        gram_module.exact_pixel_gram(pixels, 255.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    expected = 8 * n * n + 2 * 4 * n * n + 2 * 4 * n * 256  # G, products, blocks
    assert peak <= expected + 2**17  # and Python objects: threads, slices
    # Less than a quarter of what a float64 copy of the pixels takes.
    assert peak < 8 * n * d / 4


def test_one_blas_thread_leaves_a_users_limit_of_one_alone():
    from sklearn_catneuron._threads import blas_threads, one_blas_thread

    before = blas_threads()
    with threadpool_limits(1, user_api="blas"):
        with one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == 1
    assert blas_threads() == before
    with one_blas_thread():
        assert blas_threads() == 1
        with one_blas_thread():  # nested: the outer one gives it back
            assert blas_threads() == 1
        assert blas_threads() == 1
    assert blas_threads() == before


def _layouts(rng):
    """uint8 inputs of many shapes and memory layouts (as an attacker would vary)."""
    base = rng.integers(0, 256, size=(30, 16, 16, 3), dtype=np.uint8)
    return {
        "4-D": base,
        "3-D (grey)": base[..., 0].copy(),
        "2-D (flat)": base.reshape(30, -1).copy(),
        "Fortran order": np.asfortranarray(base),
        "every other row": base[::2],
        "a channel view": base[..., :2],
        "reversed rows": base[::-1],
        "read-only": np.frombuffer(base.tobytes(), np.uint8).reshape(base.shape),
        "one image of one pixel": base[:1, :1, :1],
        "all 255": np.full((20, 16, 16, 3), 255, np.uint8),
        "all 0": np.zeros((20, 16, 16, 3), np.uint8),
    }


@pytest.mark.parametrize("case", list(_layouts(np.random.default_rng(0))))
def test_exact_fit_of_any_layout_equals_the_plain_fit(case, gram_calls):
    images = _layouts(np.random.default_rng(0))[case]
    n, d = len(images), images[0].size
    y = np.arange(n) % 2 if n > 1 else np.array([0])
    classifier = SigmoidNeuronClassifier(learning_rate=0.05, max_iter=60)
    model = make_neuron_pipeline(classifier=classifier)
    plain = make_pipeline(ImageFlattener(), clone(classifier))
    if n == 1:  # one class: both refuse it the same way
        for pipeline in (model, plain):
            with pytest.raises(ValueError, match="class"):
                pipeline.fit(images, y)
        return
    model.fit(images, y)
    plain.fit(images, y)
    assert len(gram_calls) == (1 if n <= d / 16 else 0)
    scale = max(np.abs(plain[-1].coef_).max(), 1e-300)
    assert_allclose(model[-1].coef_, plain[-1].coef_, rtol=1e-12, atol=1e-12 * scale)
    assert_allclose(model[-1].loss_curve_, plain[-1].loss_curve_, rtol=1e-12)
    assert np.array_equal(model.predict(images), plain.predict(images))


def test_exact_fit_refuses_what_the_plain_fit_refuses(gram_calls):
    images = np.zeros((4, 2, 2, 2, 3), dtype=np.uint8)  # 5-D
    for pipeline in (
        make_neuron_pipeline(),
        make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()),
    ):
        with pytest.raises(ValueError, match="dimensions"):
            pipeline.fit(images, [0, 1, 0, 1])
    too_bright = np.full((40, 8, 8, 3), 200, dtype=np.uint8)
    with pytest.raises(ValueError, match="above max_value"):
        make_neuron_pipeline(ImageFlattener(max_value=100)).fit(
            too_bright, np.arange(40) % 2
        )
    assert gram_calls == []


def test_most_layouts_take_the_exact_sum():
    layouts = _layouts(np.random.default_rng(0)).values()
    exact = [len(x) > 1 and len(x) <= x[0].size / 16 for x in layouts]
    assert sum(exact) >= 7  # the rest: too few pixels per image, or one image


def test_own_threads_follow_the_openmp_limit_as_scikit_learns_do():
    from sklearn_catneuron._threads import N_THREADS, thread_budget

    blocks = [slice(i, i + 1) for i in range(6)]

    def threads_used():
        seen = set()
        for_each_block(
            blocks, lambda share: lambda rows: seen.add(threading.get_ident())
        )
        return seen

    with threadpool_limits(1, user_api="openmp"):
        assert thread_budget() == 1
        assert threads_used() == {threading.get_ident()}
    with threadpool_limits(2, user_api="openmp"):
        assert thread_budget() == N_THREADS
        assert len(threads_used()) == N_THREADS
