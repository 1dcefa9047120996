"""Numerical robustness, invariances (property-based), threads and processes."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from joblib import parallel_backend
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
)

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def classification_problems(draw, max_classes=4):
    n_samples = draw(st.integers(2, 30))
    n_features = draw(st.integers(1, 6))
    X = draw(
        hnp.arrays(
            np.float64,
            (n_samples, n_features),
            elements=st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
        )
    )
    n_classes = draw(st.integers(2, min(max_classes, n_samples)))
    y = draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, n_classes - 1)))
    y[:n_classes] = np.arange(n_classes)  # every class present
    label_kind = draw(st.sampled_from(["int", "str", "negative"]))
    labels = {
        "int": np.arange(n_classes),
        "str": np.array([f"class-{k}" for k in range(n_classes)]),
        "negative": -10 * np.arange(n_classes) - 3,
    }[label_kind]
    weights = draw(hnp.arrays(np.float64, n_samples, elements=st.floats(0.01, 100.0)))
    return X, labels[y], weights


def _fit(X, y, sample_weight=None, **params):
    params = {"learning_rate": 0.01, "max_iter": 30, **params}
    return SigmoidNeuronClassifier(**params).fit(X, y, sample_weight=sample_weight)


@PROPERTY_SETTINGS
@given(problem=classification_problems(), lr=st.floats(1e-8, 1e4))
def test_fit_predict_always_finite_and_normalised(problem, lr):
    X, y, weights = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / divide-by-zero RuntimeWarning
        clf = _fit(X, y, weights, learning_rate=lr)
        proba = clf.predict_proba(X)
        log_proba = clf.predict_log_proba(X)
    assert np.all(np.isfinite(clf.loss_curve_))
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert np.all(np.isfinite(proba)) and not np.any(np.isnan(log_proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert set(clf.predict(X)) <= set(clf.classes_)


@PROPERTY_SETTINGS
@given(problem=classification_problems(), seed=st.integers(0, 2**32 - 1))
def test_relabelling_permutes_the_output(problem, seed):
    X, y, _ = problem
    classes = np.unique(y)
    permuted = np.random.default_rng(seed).permutation(classes)
    relabel = dict(zip(classes, permuted, strict=True))
    y_new = np.array([relabel[label] for label in y])
    X = X / (np.abs(X).max() or 1.0)  # keep scores moderate: compare probabilities

    original = _fit(X, y)
    renamed = _fit(X, y_new)
    proba = original.predict_proba(X)
    # Column j of `original` is class classes[j], now called permuted[j].
    order = np.searchsorted(renamed.classes_, permuted)
    assert_allclose(renamed.predict_proba(X)[:, order], proba, rtol=1e-7, atol=1e-12)
    assert_array_equal(
        renamed.predict(X)[proba.max(axis=1) > 0.5 + 1e-6],
        np.array([relabel[c] for c in original.predict(X)])[
            proba.max(axis=1) > 0.5 + 1e-6
        ],
    )


@PROPERTY_SETTINGS
@given(problem=classification_problems())
def test_duplicating_samples_equals_doubling_weights(problem):
    X, y, weights = problem
    # A stable step (lr * |x|^2 small): with oscillating steps rounding grows.
    X = X / (np.abs(X).max() or 1.0)
    duplicated = _fit(
        np.vstack([X, X]), np.concatenate([y, y]), np.r_[weights, weights]
    )
    doubled = _fit(X, y, 2 * weights)
    assert_allclose(duplicated.coef_, doubled.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(duplicated.intercept_, doubled.intercept_, rtol=1e-9, atol=1e-12)
    assert_allclose(duplicated.loss_curve_, doubled.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("learning_rate", [1e-8, 1e-4, 0.005, 1.0, 1e2, 1e4])
def test_learning_rates_on_raw_pixels(catvnoncat, learning_rate):
    X_train, y_train, X_test, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = _fit(X, y_train, learning_rate=learning_rate, max_iter=20)
        proba = clf.predict_proba(X_test.reshape(len(X_test), -1).astype(np.float64))
    assert np.all(np.isfinite(clf.loss_curve_)) and np.all(np.isfinite(clf.coef_))
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    "case",
    ["constant_features", "separable", "tiny_weights", "huge_weights", "mixed_weights"],
)
def test_degenerate_data_stays_finite(case, rng):
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    weights = None
    if case == "constant_features":
        X = np.ones((40, 3)) * 7.0
    elif case == "separable":
        X[:, 0] += np.where(y == 1, 50.0, -50.0)
    elif case == "tiny_weights":
        weights = np.full(40, 1e-300)
    elif case == "huge_weights":
        weights = np.full(40, 1e300)
    else:
        weights = np.where(y == 1, 1e-200, 1e200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = _fit(X, y, weights, learning_rate=10.0, max_iter=200)
        proba = clf.predict_proba(X)
    assert np.all(np.isfinite(clf.loss_curve_)) and np.all(np.isfinite(clf.coef_))
    assert_allclose(proba.sum(axis=1), 1.0)
    if case == "separable":
        assert clf.score(X, y) == 1.0
    if case in ("tiny_weights", "huge_weights"):
        # Scaling every weight by one factor changes nothing.
        assert_allclose(clf.coef_, _fit(X, y, learning_rate=10.0, max_iter=200).coef_)


def test_predict_proba_is_thread_safe(catvnoncat):
    X_train, y_train, X_test, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1) / 255.0
    X_new = np.tile(X_test.reshape(len(X_test), -1) / 255.0, (4, 1))
    clf = _fit(X, y_train, max_iter=50, learning_rate=0.005)
    expected = clf.predict_proba(X_new)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X_new), range(32)))
    for result in results:
        assert_array_equal(result, expected)


def test_grid_search_in_loky_workers_equals_one_process(catvnoncat):
    # The estimators are pickled to two loky worker processes and back; the
    # search must come out exactly as in this process.
    X_train, y_train, X_test, _ = catvnoncat
    pipeline = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=100))
    grid = {"sigmoidneuronclassifier__learning_rate": [0.001, 0.01]}
    searches = {}
    for n_jobs in (1, 2):
        with parallel_backend("loky"):
            searches[n_jobs] = GridSearchCV(pipeline, grid, cv=2, n_jobs=n_jobs).fit(
                X_train, y_train
            )
    one, two = searches[1], searches[2]
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        assert_array_equal(two.cv_results_[key], one.cv_results_[key])
    assert two.best_params_ == one.best_params_
    best_one, best_two = one.best_estimator_[-1], two.best_estimator_[-1]
    assert_array_equal(best_two.coef_, best_one.coef_)
    assert_array_equal(best_two.loss_curve_, best_one.loss_curve_)
    assert_array_equal(two.predict_proba(X_test), one.predict_proba(X_test))


def test_neuron_cv_in_loky_workers_equals_one_process(catvnoncat):
    X_train, y_train, X_test, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1) / 255.0
    models = {}
    for n_jobs in (1, 2):
        with parallel_backend("loky"):
            models[n_jobs] = SigmoidNeuronClassifierCV(
                learning_rates=[0.001, 0.005], cv=3, max_iter=100, n_jobs=n_jobs
            ).fit(X, y_train)
    one, two = models[1], models[2]
    assert two.learning_rate_ == one.learning_rate_
    assert_array_equal(two.scores_, one.scores_)
    assert_array_equal(two.coef_, one.coef_)
    X_new = X_test.reshape(len(X_test), -1) / 255.0
    assert_array_equal(two.predict_proba(X_new), one.predict_proba(X_new))


@PROPERTY_SETTINGS
@given(
    images=hnp.arrays(
        np.uint8,
        hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=9),
        elements=st.integers(0, 255),
    ),
    max_value=st.sampled_from(
        [255, 255.0, np.float32(255), np.int64(255), 256, 254.99999999999997, 1e-3]
    ),
    layout=st.sampled_from(["C", "F", "reversed rows", "every other column"]),
)
def test_flattened_pixels_are_the_division_whatever_the_input(
    images, max_value, layout
):
    # The division-free scaling of uint8 / 255 must be the division, bit for
    # bit, for any shape and memory layout; any other divisor divides.
    images = {
        "C": images,
        "F": np.asfortranarray(images),
        "reversed rows": images[::-1],
        "every other column": images[:, ::2],
    }[layout]
    expected = np.divide(images.reshape(len(images), -1), max_value, dtype=np.float64)
    if images.max(initial=0) > max_value:  # refused, not clipped
        with pytest.raises(ValueError, match="above max_value"):
            ImageFlattener(max_value=max_value).fit_transform(images)
        return
    out = ImageFlattener(max_value=max_value).fit_transform(images)
    assert_array_equal(out, expected, strict=True)
