"""Array API support: fits and predictions in the input's namespace and device.

array-api-strict (in the test extra) always runs; PyTorch on the CPU runs when
torch is installed, and is skipped with the reason otherwise (it is several GB,
so it is in no extra). Results are compared with the NumPy fit: float64 to
1e-10, float32 to 1e-5.
"""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.pipeline import make_pipeline
from sklearn.utils._array_api import (
    device as array_device,
)
from sklearn.utils._array_api import (
    get_namespace,
    move_estimator_to,
    move_to,
)

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
)

array_api_strict = pytest.importorskip(
    "array_api_strict", reason="array-api-strict is in the test extra; install it"
)

TORCH_MISSING = (
    "torch is not installed (not in any extra: several GB); pip install torch"
)


def _torch():
    return pytest.importorskip("torch", reason=TORCH_MISSING)


# (name, device): every namespace a test runs on.
NAMESPACES = [
    pytest.param(("array_api_strict", "CPU_DEVICE"), id="strict"),
    pytest.param(("array_api_strict", "device1"), id="strict-device1"),
    pytest.param(("torch", "cpu"), id="torch-cpu"),
]
RTOL = {"float64": 1e-10, "float32": 1e-5}


class Namespace:
    """Create arrays of one namespace on one device, and read them back."""

    def __init__(self, name, device):
        if name == "torch":
            self.xp = _torch()
            self.device = self.xp.device(device)
        else:
            self.xp = array_api_strict
            self.device = array_api_strict.Device(device)
        self.name = name

    def asarray(self, array):
        return self.xp.asarray(np.ascontiguousarray(array), device=self.device)

    def to_numpy(self, array):
        return move_to(array, xp=np, device="cpu")

    def check(self, array):
        """``array`` is of this namespace and on this device."""
        with sklearn.config_context(array_api_dispatch=True):
            xp, _ = get_namespace(array)
            assert xp.__name__.endswith(self.name), xp.__name__
            assert array_device(array) == self.device


@pytest.fixture(params=NAMESPACES)
def ns(request):
    return Namespace(*request.param)


@pytest.fixture(scope="module")
def cat_rows(catvnoncat):
    """Flattened training images in [0, 1] (float64), their labels, test rows."""
    X_train, y_train, X_test, y_test = catvnoncat
    flat = X_train.reshape(len(X_train), -1) / 255.0
    return flat, y_train, X_test.reshape(len(X_test), -1) / 255.0


def _dispatch():
    return sklearn.config_context(array_api_dispatch=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("solver", ["primal", "gram"])
def test_fit_on_the_cat_images_equals_numpy(ns, cat_rows, solver, dtype):
    """Both solver paths, on the real images: the NumPy fit's numbers."""
    X, y, X_test = cat_rows
    X, X_test = X.astype(dtype), X_test.astype(dtype)
    params = {"max_iter": 300, "solver": solver}
    ref = SigmoidNeuronClassifier(**params).fit(X, y)
    with _dispatch():
        clf = SigmoidNeuronClassifier(**params).fit(ns.asarray(X), ns.asarray(y))
        proba = clf.predict_proba(ns.asarray(X_test))
        pred = clf.predict(ns.asarray(X_test))
    for name in ("coef_", "intercept_", "loss_curve_"):
        ns.check(getattr(clf, name))
    ns.check(proba)
    ns.check(pred)
    rtol = RTOL[dtype]
    assert ns.to_numpy(clf.coef_).dtype == np.dtype(dtype)
    # Relative to the weights' scale: a weight near 0 carries the others' error.
    scale = np.abs(ref.coef_).max()
    assert_allclose(ns.to_numpy(clf.coef_), ref.coef_, rtol=rtol, atol=rtol * scale)
    assert_allclose(ns.to_numpy(clf.intercept_), ref.intercept_, rtol=rtol)
    assert_allclose(ns.to_numpy(clf.loss_curve_), ref.loss_curve_, rtol=rtol)
    # Probabilities lie in [0, 1]: to rtol in absolute terms too.
    assert_allclose(ns.to_numpy(proba), ref.predict_proba(X_test), rtol=rtol, atol=rtol)
    assert_array_equal(ns.to_numpy(pred), ref.predict(X_test))
    assert clf.n_iter_ == ref.n_iter_ == 300


@pytest.mark.parametrize("solver", ["primal", "gram"])
@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.1},
        {"tol": 1e-2, "max_iter": 5000},
        {"n_iter_no_change": 5, "tol": 1e-3},
        {"init": "random", "random_state": 0, "alpha": 0.01},
        {"class_weight": "balanced"},
        {"fit_intercept": False},
    ],
    ids=["alpha", "tol", "no-change", "random-init", "balanced", "no-intercept"],
)
def test_options_equal_numpy(ns, rng, solver, params):
    """Penalty, stop rules, random start, class weights: as in NumPy."""
    X = rng.normal(size=(40, 6))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0.2).astype(int)
    weight = rng.uniform(0.5, 2.0, size=40)
    kwargs = {"learning_rate": 0.5, "max_iter": 400, "solver": solver, **params}
    ref = SigmoidNeuronClassifier(**kwargs).fit(X, y, sample_weight=weight)
    with _dispatch():
        clf = SigmoidNeuronClassifier(**kwargs).fit(
            ns.asarray(X), ns.asarray(y), sample_weight=ns.asarray(weight)
        )
    assert clf.n_iter_ == ref.n_iter_
    if "tol" in params:  # the stop rule stops both at the same step
        assert ref.n_iter_ < kwargs["max_iter"]
    assert_allclose(ns.to_numpy(clf.coef_), ref.coef_, rtol=1e-10, atol=1e-13)
    assert_allclose(ns.to_numpy(clf.intercept_), ref.intercept_, rtol=1e-10)
    assert_allclose(ns.to_numpy(clf.loss_curve_), ref.loss_curve_, rtol=1e-10)


def test_multiclass_outputs_are_of_the_input_namespace(ns, rng):
    X = rng.normal(size=(45, 3))
    y = np.repeat([0, 1, 2], 15)
    X[y == 1, 0] += 3
    X[y == 2, 1] += 3
    ref = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=200).fit(X, y)
    with _dispatch():
        clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=200)
        clf.fit(ns.asarray(X), ns.asarray(y))
        outputs = {
            "decision_function": clf.decision_function(ns.asarray(X)),
            "predict": clf.predict(ns.asarray(X)),
            "predict_proba": clf.predict_proba(ns.asarray(X)),
            "predict_log_proba": clf.predict_log_proba(ns.asarray(X)),
        }
        score = clf.score(ns.asarray(X), ns.asarray(y))
    ns.check(clf.classes_)  # y's namespace, as LogisticRegression
    for name, output in outputs.items():
        ns.check(output)
        assert_allclose(
            ns.to_numpy(output), getattr(ref, name)(X), rtol=1e-10, atol=1e-12
        )
    # accuracy_score averages in the namespace's default float (float32 in torch)
    assert score == pytest.approx(ref.score(X, y), rel=1e-6)


def test_labels_from_numpy_y_stay_numpy(ns, rng):
    """String labels: ``classes_`` and ``predict`` stay NumPy (as sklearn's)."""
    X = rng.normal(size=(30, 4))
    y = np.where(X[:, 0] > 0, "cat", "non-cat")
    ref = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100).fit(X, y)
    with _dispatch():
        clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100)
        clf.fit(ns.asarray(X), y)
        pred = clf.predict(ns.asarray(X))
    assert isinstance(clf.classes_, np.ndarray)
    ns.check(clf.coef_)
    assert isinstance(pred, np.ndarray)
    assert_array_equal(pred, ref.predict(X))


def test_uint8_image_pipeline_equals_numpy(ns, catvnoncat):
    """ImageFlattener then the neuron, from uint8 images of the namespace."""
    X_train, y_train, X_test, y_test = catvnoncat
    steps = lambda: make_pipeline(  # noqa: E731
        ImageFlattener(), SigmoidNeuronClassifier(max_iter=500)
    )
    ref = steps().fit(X_train, y_train)
    with _dispatch():
        images = ns.asarray(X_train)
        model = steps().fit(images, ns.asarray(y_train))
        flat = model[0].transform(images)
        proba = model.predict_proba(ns.asarray(X_test))
        pred = model.predict(ns.asarray(X_test))
        back = model[0].inverse_transform(flat)
    assert ns.to_numpy(images).dtype == np.uint8
    for array in (flat, proba, pred, back, model[-1].coef_):
        ns.check(array)
    flat_np = ns.to_numpy(flat)
    assert flat_np.dtype == np.float64
    assert_array_equal(flat_np, ref[0].transform(X_train))
    assert_array_equal(ns.to_numpy(back), ref[0].inverse_transform(flat_np))
    assert_allclose(ns.to_numpy(proba), ref.predict_proba(X_test), rtol=1e-10)
    assert_array_equal(ns.to_numpy(pred), ref.predict(X_test))
    assert_allclose(ns.to_numpy(model[-1].loss_curve_), ref[-1].loss_curve_, rtol=1e-10)


def test_flattener_float32_and_bad_pixels_on_device(ns):
    images = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    with _dispatch():
        flat = ImageFlattener().fit_transform(ns.asarray(images))
        assert ns.to_numpy(flat).dtype == np.float32
        assert_array_equal(ns.to_numpy(flat), ImageFlattener().fit_transform(images))
        bad = images.copy()
        bad[0, 0, 0, 0], bad[1, 0, 0, 0] = -1.0, np.nan
        with pytest.raises(ValueError, match="X contains 1 NaN and 0 infinite"):
            ImageFlattener().fit(ns.asarray(bad))
        bad[1, 0, 0, 0] = 300.0
        with pytest.raises(
            ValueError, match="Negative values in data .* 1 values below 0 and 1 above"
        ):
            ImageFlattener().fit(ns.asarray(bad))
        with pytest.raises(TypeError, match="needs real pixel values, got dtype"):
            ImageFlattener().fit(ns.asarray(images > 3))
        fitted = ImageFlattener().fit(ns.asarray(images))
        with pytest.raises(ValueError, match=r"Image shape \(2, 2\) does not match"):
            fitted.transform(ns.asarray(images[..., 0]))


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
@pytest.mark.parametrize("refit", [True, False])
def test_cv_equals_numpy(ns, rng, scoring, refit):
    """Folds, scores, the chosen rate and the refit: as with NumPy input."""
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    params = {
        "learning_rates": [0.01, 0.1, 1.0],
        "cv": 3,
        "max_iter": 150,
        "scoring": scoring,
        "refit": refit,
    }
    ref = SigmoidNeuronClassifierCV(**params).fit(X, y)
    with _dispatch():
        clf = SigmoidNeuronClassifierCV(**params).fit(ns.asarray(X), ns.asarray(y))
        proba = clf.predict_proba(ns.asarray(X))
    for name in ("coef_", "intercept_", "scores_"):
        ns.check(getattr(clf, name))
    ns.check(proba)
    assert clf.learning_rate_ == ref.learning_rate_
    assert_allclose(ns.to_numpy(clf.scores_), ref.scores_, rtol=1e-10)
    assert_allclose(ns.to_numpy(clf.coef_), ref.coef_, rtol=1e-10, atol=1e-13)
    assert_allclose(ns.to_numpy(proba), ref.predict_proba(X), rtol=1e-10)
    for key in ("mean_test_score", "rank_test_score"):
        assert_allclose(clf.cv_results_[key], ref.cv_results_[key], rtol=1e-10)


def test_cv_gram_path_on_device(ns, rng):
    """Wide data: the CV folds share X X^T computed on the device."""
    X = rng.normal(size=(30, 200)) / 10
    y = (X[:, 0] > 0).astype(int)
    params = {"learning_rates": [0.1, 1.0], "cv": 3, "max_iter": 100}
    ref = SigmoidNeuronClassifierCV(solver="gram", **params).fit(X, y)
    with _dispatch():
        clf = SigmoidNeuronClassifierCV(solver="gram", **params)
        clf.fit(ns.asarray(X), ns.asarray(y))
    assert_allclose(ns.to_numpy(clf.coef_), ref.coef_, rtol=1e-10, atol=1e-13)
    assert_allclose(ns.to_numpy(clf.scores_), ref.scores_, rtol=1e-10)


def test_warm_start_and_partial_fit_on_device(ns, rng):
    X = rng.normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    ref = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=50, warm_start=True)
    ref.fit(X, y).fit(X, y)
    ref_partial = SigmoidNeuronClassifier(learning_rate=0.5)
    for _ in range(3):
        ref_partial.partial_fit(X, y, classes=[0, 1])
    with _dispatch():
        Xd, yd = ns.asarray(X), ns.asarray(y)
        clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=50, warm_start=True)
        clf.fit(Xd, yd).fit(Xd, yd)
        partial = SigmoidNeuronClassifier(learning_rate=0.5)
        for _ in range(3):
            partial.partial_fit(Xd, yd, classes=[0, 1])
    ns.check(clf.coef_)
    ns.check(partial.coef_)
    ns.check(partial.loss_curve_)
    assert_allclose(ns.to_numpy(clf.coef_), ref.coef_, rtol=1e-10)
    assert_allclose(ns.to_numpy(partial.coef_), ref_partial.coef_, rtol=1e-10)
    assert_allclose(
        ns.to_numpy(partial.loss_curve_), ref_partial.loss_curve_, rtol=1e-10
    )


def test_predict_refuses_another_namespace(ns, rng):
    X = rng.normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    with _dispatch():
        clf = SigmoidNeuronClassifier(max_iter=10).fit(ns.asarray(X), ns.asarray(y))
        for method in ("predict", "predict_proba", "decision_function"):
            with pytest.raises(ValueError, match="must use the same namespace"):
                getattr(clf, method)(X)


def test_model_fitted_on_device_moves_to_numpy_for_saving(ns, catvnoncat, tmp_path):
    """``move_estimator_to(model, numpy, "cpu")``: NumPy arrays, same predictions."""
    import pickle

    X_train, y_train, X_test, _ = catvnoncat
    with _dispatch():
        model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=50))
        model.fit(ns.asarray(X_train), ns.asarray(y_train))
        expected = ns.to_numpy(model.predict_proba(ns.asarray(X_test)))
    host = move_estimator_to(model, np, "cpu")
    clf = host[-1]
    for name in ("coef_", "intercept_", "loss_curve_", "classes_"):
        assert type(getattr(clf, name)) is np.ndarray, name
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(host))
    loaded = pickle.loads(path.read_bytes())
    assert_allclose(loaded.predict_proba(X_test), expected, rtol=1e-12)
    ns.check(model[-1].coef_)  # the original is left on its device


def test_without_dispatch_behaviour_is_unchanged(rng):
    """No dispatch: torch CPU tensors are NumPy arrays to the estimators."""
    torch = _torch()
    X = rng.normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(int)
    ref = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100).fit(X, y)
    clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100)
    clf.fit(torch.asarray(X), torch.asarray(y))
    assert type(clf.coef_) is np.ndarray
    proba = clf.predict_proba(torch.asarray(X))
    assert type(proba) is np.ndarray
    assert_array_equal(clf.coef_, ref.coef_)
    assert_array_equal(proba, ref.predict_proba(X))


def test_numpy_input_under_dispatch_is_the_numpy_fit(rng):
    """NumPy input with dispatch on keeps the NumPy paths: identical numbers."""
    X = rng.normal(size=(30, 40))
    y = (X[:, 0] > 0).astype(int)
    for solver in ("primal", "gram"):
        ref = SigmoidNeuronClassifier(max_iter=100, solver=solver).fit(X, y)
        with _dispatch():
            clf = SigmoidNeuronClassifier(max_iter=100, solver=solver).fit(X, y)
            proba = clf.predict_proba(X)
        assert type(clf.coef_) is np.ndarray
        assert_array_equal(clf.coef_, ref.coef_)
        assert_array_equal(proba, ref.predict_proba(X))


def test_catneuron_train_saves_numpy_arrays_under_dispatch(tmp_path, catvnoncat_dir):
    """Dispatch on or off, the command line trains on NumPy and saves NumPy."""
    pytest.importorskip("skops", reason="the cli extra (skops) is not installed")
    from sklearn_catneuron.cli import _load_model, main

    model_path, plot = tmp_path / "model.skops", tmp_path / "cost.png"
    args = ["train", "--data-home", str(catvnoncat_dir), "--max-iter", "20"]
    args += ["--model", str(model_path), "--plot", str(plot), "--quiet"]
    with _dispatch():
        assert main(args) == 0
    neuron = _load_model(model_path)[-1]
    for name in ("coef_", "intercept_", "loss_curve_", "classes_"):
        assert type(getattr(neuron, name)) is np.ndarray, name
    assert neuron.coef_.shape == (1, 12288)


def test_model_file_of_a_model_fitted_on_device_holds_numpy(ns, catvnoncat, tmp_path):
    """``save_model`` converts arrays of any namespace; the file loads as NumPy."""
    from sklearn_catneuron import load_model, save_model

    X_train, y_train, X_test, _ = catvnoncat
    with _dispatch():
        model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=50))
        model.fit(ns.asarray(X_train), ns.asarray(y_train))
        expected = ns.to_numpy(model.predict_proba(ns.asarray(X_test)))
        save_model(model, tmp_path / "model.catneuron")
    loaded = load_model(tmp_path / "model.catneuron")
    for name in ("coef_", "intercept_", "classes_"):
        assert type(getattr(loaded[-1], name)) is np.ndarray, name
    assert_allclose(loaded.predict_proba(X_test), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, params",
    [({"X_val": "X", "y_val": "y"}, {}), ({}, {"early_stopping": True})],
    ids=["X_val", "early_stopping"],
)
def test_validation_set_on_device_is_refused(ns, rng, kwargs, params):
    X = rng.normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    arrays = {"X": ns.asarray(X), "y": ns.asarray(y)}
    fit_kwargs = {key: arrays[value] for key, value in kwargs.items()}
    clf = SigmoidNeuronClassifier(max_iter=5, **params)
    with _dispatch():
        with pytest.raises(ValueError, match="X_val, y_val and early_stopping=True"):
            clf.fit(arrays["X"], arrays["y"], **fit_kwargs)
