"""Dask arrays: the same full-batch descent chunk by chunk, lazy images, clusters;
and online learning with partial_fit."""

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
)

da = pytest.importorskip(
    "dask.array",
    reason="the [test-dask] extra (dask, distributed, dask-ml) is not installed",
)
distributed = pytest.importorskip(
    "distributed",
    reason="the [test-dask] extra (dask, distributed, dask-ml) is not installed",
)

CHUNK = 60  # does not divide the 209 training images


class HDF5Rows:
    """An HDF5 dataset read by path on each access: picklable for worker processes."""

    def __init__(self, path, key):
        self.path, self.key = str(path), key
        with h5py.File(self.path, "r") as f:
            self.shape, self.dtype = f[key].shape, f[key].dtype
        self.ndim = len(self.shape)

    def __getitem__(self, index):
        with h5py.File(self.path, "r") as f:
            return f[self.key][index]


def assert_same_fit(fitted, reference):
    scale = np.abs(reference.coef_).max()
    assert fitted.n_iter_ == reference.n_iter_
    assert_allclose(fitted.coef_, reference.coef_, rtol=1e-8, atol=1e-12 * scale)
    assert_allclose(fitted.intercept_, reference.intercept_, rtol=1e-8)
    assert_allclose(fitted.loss_curve_, reference.loss_curve_, rtol=1e-8)


@pytest.fixture(scope="module")
def cat_h5(catvnoncat_dir):
    return catvnoncat_dir / "train_catvnoncat.h5"


@pytest.fixture(scope="module")
def cat_flat(catvnoncat):
    X_train, y_train, _, _ = catvnoncat
    return X_train.reshape(len(X_train), -1) / 255.0, y_train


@pytest.fixture(scope="module")
def in_memory_pipeline(catvnoncat):
    X_train, y_train, _, _ = catvnoncat
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=30))
    return model.fit(X_train, y_train)


def test_pipeline_streams_from_hdf5_and_equals_in_memory_fit(
    cat_h5, catvnoncat, in_memory_pipeline
):
    X_train, y_train, X_test, _ = catvnoncat
    with h5py.File(cat_h5, "r") as f:
        images = da.from_array(f["train_set_x"], chunks=(CHUNK, 64, 64, 3), lock=True)
        labels = da.from_array(f["train_set_y"], chunks=CHUNK, lock=True)
        model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=30))
        flat = model[0].fit(images).transform(images)
        assert isinstance(flat, da.Array)  # lazy: nothing computed yet
        assert flat.shape == (209, 12288) and flat.chunks[0] == (60, 60, 60, 29)
        model.fit(images, labels)
        proba = model.predict_proba(images)
        predicted = model.predict(images)
        assert isinstance(proba, da.Array) and isinstance(predicted, da.Array)
        proba, predicted = proba.compute(), predicted.compute()
    assert_same_fit(model[-1], in_memory_pipeline[-1])
    assert model[0].image_shape_ == (64, 64, 3)
    assert_allclose(proba, in_memory_pipeline.predict_proba(X_train), rtol=1e-8)
    assert_array_equal(predicted, in_memory_pipeline.predict(X_train))
    test_images = da.from_array(X_test, chunks=17)
    assert_array_equal(
        model.predict(test_images).compute(), in_memory_pipeline.predict(X_test)
    )


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.5, "learning_rate": 0.05},
        {"class_weight": "balanced", "fit_intercept": False},
        {"init": "random", "random_state": 0, "tol": 1e-4, "learning_rate": 0.05},
    ],
    ids=["alpha", "class_weight-no_intercept", "random-tol"],
)
def test_options_match_the_in_memory_fit(cat_flat, params):
    X, y = cat_flat
    weights = np.random.default_rng(0).random(len(y)) + 0.5
    params = {"max_iter": 40, **params}
    reference = SigmoidNeuronClassifier(**params).fit(X, y, sample_weight=weights)
    fitted = SigmoidNeuronClassifier(**params).fit(
        da.from_array(X, chunks=(CHUNK, 4096)),
        da.from_array(y, chunks=50),
        sample_weight=weights,
    )
    assert_same_fit(fitted, reference)


def test_one_vs_rest_and_string_labels(rng):
    X = rng.normal(size=(150, 5))
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, size=150)]
    reference = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=25).fit(X, y)
    fitted = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=25)
    fitted.fit(da.from_array(X, chunks=40), y)
    assert_same_fit(fitted, reference)
    scores = fitted.decision_function(da.from_array(X, chunks=40))
    assert scores.shape == (150, 3)
    assert_allclose(scores.compute(), reference.decision_function(X), rtol=1e-8)
    assert_array_equal(fitted.predict(da.from_array(X, chunks=40)).compute(),
                       reference.predict(X))  # fmt: skip


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "2-processes"])
def test_on_a_local_cluster(cat_h5, in_memory_pipeline, processes):
    cluster = distributed.LocalCluster(
        n_workers=2 if processes else 1,
        threads_per_worker=1 if processes else 2,
        processes=processes,
        dashboard_address=None,
    )
    with cluster, distributed.Client(cluster):
        images = da.from_array(HDF5Rows(cat_h5, "train_set_x"), chunks=CHUNK)
        labels = da.from_array(HDF5Rows(cat_h5, "train_set_y"), chunks=CHUNK)
        model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=30))
        model.fit(images, labels)
        predicted = model.predict(images).compute()
    assert_same_fit(model[-1], in_memory_pipeline[-1])
    assert np.mean(predicted == labels.compute()) == pytest.approx(
        in_memory_pipeline.score(images.compute(), labels.compute())
    )


def test_bad_values_are_caught_chunk_by_chunk(rng):
    images = rng.integers(0, 256, size=(30, 4, 4, 3)).astype(float)
    images[25, 0, 0, 0] = 300.0
    flattener = ImageFlattener().fit(da.from_array(images, chunks=10))
    lazy = flattener.transform(da.from_array(images, chunks=10))
    with pytest.raises(ValueError, match="0 values below 0 and 1 above max_value"):
        lazy.compute()
    with pytest.raises(ValueError, match=r"Image shape \(4, 2, 6\) does not match"):
        flattener.transform(da.from_array(images.reshape(30, 4, 2, 6), chunks=10))
    X = rng.normal(size=(30, 3))
    X[29, 1] = np.nan
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        SigmoidNeuronClassifier().fit(da.from_array(X, chunks=10), np.arange(30) % 2)
    with pytest.raises(ValueError, match="Expected a 2D Dask array"):
        SigmoidNeuronClassifier().fit(da.zeros((4, 2, 2)), [0, 1, 0, 1])
    fitted = SigmoidNeuronClassifier(max_iter=2).fit(np.ones((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
        fitted.predict(da.zeros((4, 2)))


# -- partial_fit --------------------------------------------------------------


def hand_written_minibatch_descent(batches, learning_rate, n_features):
    """Mini-batch gradient descent on the mean cross-entropy, one step a batch."""
    w, b, costs = np.zeros(n_features), 0.0, []
    for X, y in batches:
        a = 1 / (1 + np.exp(-(X @ w + b)))
        costs.append(-np.mean(y * np.log(a) + (1 - y) * np.log(1 - a)))
        w = w - learning_rate * X.T @ (a - y) / len(y)
        b = b - learning_rate * np.mean(a - y)
    return w, b, np.array(costs)


def test_partial_fit_is_minibatch_gradient_descent(cat_flat):
    X, y = cat_flat
    batches = [(X[i : i + 32], y[i : i + 32]) for i in range(0, len(y), 32)] * 3
    clf = SigmoidNeuronClassifier(learning_rate=0.01)
    for X_batch, y_batch in batches:
        clf.partial_fit(X_batch, y_batch, classes=[0, 1])
    w, b, costs = hand_written_minibatch_descent(batches, 0.01, X.shape[1])
    assert clf.n_iter_ == len(batches) == 21
    assert clf.loss_curve_.shape == (21,)
    assert clf.loss_curve_[0] == pytest.approx(np.log(2))
    assert_allclose(clf.loss_curve_, costs, rtol=1e-10)
    assert_allclose(clf.coef_.ravel(), w, rtol=1e-9, atol=1e-15)
    assert_allclose(clf.intercept_[0], b, rtol=1e-9)


def test_partial_fit_with_whole_data_is_fit(rng):
    X = rng.normal(size=(40, 3))
    y = np.array(["x", "y", "z", "w"])[np.arange(40) % 4]
    clf = SigmoidNeuronClassifier(learning_rate=0.2, alpha=0.1)
    for _ in range(15):
        clf.partial_fit(X, y, classes=np.unique(y))
    reference = SigmoidNeuronClassifier(
        learning_rate=0.2, alpha=0.1, max_iter=15, solver="primal"
    ).fit(X, y)
    assert_array_equal(clf.classes_, ["w", "x", "y", "z"])
    assert_allclose(clf.coef_, reference.coef_, rtol=1e-12)
    assert_allclose(clf.loss_curve_, reference.loss_curve_, rtol=1e-12)


def test_partial_fit_conventions(rng):
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 3
    clf = SigmoidNeuronClassifier()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:5], y[:5], classes=[0, 1, 2])  # a batch may miss classes
    assert clf.n_features_in_ == 3 and clf.n_iter_ == 1
    assert clf.coef_.shape == (3, 3)
    with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
        clf.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="'balanced' needs the whole data set"):
        SigmoidNeuronClassifier(class_weight="balanced").partial_fit(
            X, y, classes=[0, 1, 2]
        )
    with pytest.raises(ValueError, match="has only one class"):
        SigmoidNeuronClassifier().partial_fit(X, np.zeros(20), classes=[0])
    clf.partial_fit(X, y, sample_weight=np.ones(20))
    assert clf.n_iter_ == 2 and clf.loss_curve_.shape == (2,)


def test_partial_fit_under_dask_ml_incremental(cat_flat):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = cat_flat
    X_dask = da.from_array(X, chunks=(CHUNK, -1))
    y_dask = da.from_array(y, chunks=CHUNK)
    incremental = wrappers.Incremental(
        SigmoidNeuronClassifier(learning_rate=0.01), shuffle_blocks=False
    )
    incremental.fit(X_dask, y_dask, classes=[0, 1])
    batches = [(X[i : i + CHUNK], y[i : i + CHUNK]) for i in range(0, 209, CHUNK)]
    w, b, costs = hand_written_minibatch_descent(batches, 0.01, X.shape[1])
    fitted = incremental.estimator_
    assert fitted.n_iter_ == 4
    assert_allclose(fitted.loss_curve_, costs, rtol=1e-10)
    assert_allclose(fitted.coef_.ravel(), w, rtol=1e-9, atol=1e-15)


# -- distributed model selection -------------------------------------------------


def test_model_selection_on_a_dask_cluster(cat_flat):
    from joblib import parallel_config

    X, y = cat_flat
    grid = {"learning_rate": [0.001, 0.005, 0.01]}
    folds = KFold(3, shuffle=True, random_state=0)
    local_search = GridSearchCV(
        SigmoidNeuronClassifier(max_iter=200), grid, cv=folds, n_jobs=1
    ).fit(X, y)
    local_cv = SigmoidNeuronClassifierCV(
        learning_rates=grid["learning_rate"], cv=folds, max_iter=200
    ).fit(X, y)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with cluster, distributed.Client(cluster):
        with parallel_config(backend="dask"):
            search = GridSearchCV(
                SigmoidNeuronClassifier(max_iter=200), grid, cv=folds, n_jobs=-1
            ).fit(X, y)
            cv_model = SigmoidNeuronClassifierCV(
                learning_rates=grid["learning_rate"], cv=folds, max_iter=200, n_jobs=2
            ).fit(X, y)
    assert search.best_params_ == local_search.best_params_
    assert_allclose(
        search.cv_results_["mean_test_score"],
        local_search.cv_results_["mean_test_score"],
    )
    assert cv_model.learning_rate_ == local_cv.learning_rate_
    assert_allclose(cv_model.coef_, local_cv.coef_, rtol=1e-10)


class _StopAfter:
    """A scikit-learn callback that stops the descent after ``k`` steps."""

    def __init__(self, k):
        self.k, self.steps = k, 0

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "gradient step":
            self.steps += 1
            return self.steps == self.k
        return False

    def teardown(self, estimator, context):
        pass


def test_dask_fit_runs_on_the_engine_with_callbacks_and_tol(cat_flat):
    X, y = cat_flat
    X_dask = da.from_array(X, chunks=(CHUNK, 4096))
    stopped = SigmoidNeuronClassifier(max_iter=50).set_callbacks(_StopAfter(6))
    stopped.fit(X_dask, y)
    exact = SigmoidNeuronClassifier(max_iter=6).fit(X, y)
    assert stopped.n_iter_ == 6
    assert_allclose(stopped.coef_, exact.coef_, rtol=1e-10, atol=1e-15)
    assert_allclose(stopped.loss_curve_, exact.loss_curve_, rtol=1e-12)
    # tol is the gradient norm on the chunked path too.
    # (The norm starts at 6.7, rises to 12 as the cost oscillates, then falls.)
    in_memory = SigmoidNeuronClassifier(max_iter=400, tol=6.0, solver="primal")
    chunked = SigmoidNeuronClassifier(max_iter=400, tol=6.0)
    n_iter = chunked.fit(X_dask, y).n_iter_
    assert n_iter == in_memory.fit(X, y).n_iter_
    assert 100 < n_iter < 400
