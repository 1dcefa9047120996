"""SigmoidNeuronClassifier: the reference result, the solver's maths, the options."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier
from sklearn_catneuron._engine import choose_solver, descend, make_path
from sklearn_catneuron._neuron import _cost


def reference_loop(X, y, learning_rate, n_steps):
    """The course notebook's loop, (features, samples) layout and all."""
    X = X.T
    Y = y.reshape(1, -1)
    w = np.zeros((X.shape[0], 1))
    b = 0.0
    m = X.shape[1]
    costs = []
    for _ in range(n_steps):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        costs.append(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))
        w = w - learning_rate * (X @ (A - Y).T) / m
        b = b - learning_rate * np.mean(A - Y)
    return w.ravel(), b, np.array(costs)


def test_reference_result_on_cat_data(catvnoncat, reference_costs):
    X_train, y_train, X_test, y_test = catvnoncat
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
    model.fit(X_train, y_train)
    neuron = model[-1]

    assert np.sum(model.predict(X_train) == y_train) == 207
    assert np.sum(model.predict(X_test) == y_test) == 35
    assert model.score(X_train, y_train) == pytest.approx(207 / 209)
    assert model.score(X_test, y_test) == pytest.approx(0.70)
    assert neuron.n_iter_ == 2000
    assert neuron.loss_curve_.shape == (2000,)
    assert_array_equal(np.round(neuron.loss_curve_[::100], 6), reference_costs)
    assert neuron.coef_.shape == (1, 64 * 64 * 3)


def test_matches_the_notebook_loop(catvnoncat):
    X_train, y_train, _, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1) / 255.0
    w, b, costs = reference_loop(X, y_train, 0.005, 300)
    clf = SigmoidNeuronClassifier(max_iter=300).fit(X, y_train)
    assert_allclose(clf.coef_.ravel(), w, rtol=1e-10, atol=1e-14)
    assert_allclose(clf.intercept_[0], b, rtol=1e-10)
    assert_allclose(clf.loss_curve_, costs, rtol=1e-12)


def test_grid_search_over_learning_rate(catvnoncat):
    X_train, y_train, X_test, y_test = catvnoncat
    search = GridSearchCV(
        make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()),
        {"sigmoidneuronclassifier__learning_rate": [0.001, 0.005, 0.01]},
        cv=3,
        n_jobs=2,
    ).fit(X_train, y_train)
    assert search.best_params_["sigmoidneuronclassifier__learning_rate"] in (
        0.001,
        0.005,
        0.01,
    )
    assert search.cv_results_["mean_test_score"].shape == (3,)
    y_pred = search.predict(X_test)
    assert y_pred.shape == (50,)
    assert set(np.unique(y_pred)) <= {0, 1}
    assert search.score(X_test, y_test) > 0.5


def test_gradient_matches_finite_differences(rng):
    X = rng.normal(size=(30, 4))
    Y = (rng.random((30, 1)) < 0.5).astype(float)
    sw = rng.random(30) + 0.1
    coef = rng.normal(size=(1, 4))
    intercept = rng.normal(size=1)
    alpha, lr = 0.3, 1e-3

    path = make_path(
        X, Y, sw, coef=coef[None], intercept=intercept[None], learning_rates=[lr],
        alpha=alpha, fit_intercept=True, solver="primal",
    )  # fmt: skip
    result = descend(path, max_iter=1)
    new_coef, new_intercept = result.coef[0], result.intercept[0]

    def cost(w, b):
        return _cost(X @ w.T + b, Y, sw, sw.sum(), w, alpha)[0]

    eps = 1e-6
    grad_w = [
        (cost(coef + eps * e, intercept) - cost(coef - eps * e, intercept)) / 2 / eps
        for e in np.eye(4)[:, None, :]
    ]
    grad_b = (cost(coef, intercept + eps) - cost(coef, intercept - eps)) / 2 / eps
    assert_allclose((coef - new_coef).ravel() / lr, grad_w, rtol=1e-6)
    assert_allclose((intercept - new_intercept) / lr, grad_b, rtol=1e-6)


def test_zero_init_starts_at_ln2(rng):
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 2
    clf = SigmoidNeuronClassifier(max_iter=5).fit(X, y)
    assert clf.loss_curve_[0] == pytest.approx(np.log(2), rel=1e-15)


@pytest.mark.parametrize(
    "labels", [np.array([3, 7]), np.array(["dog", "cat"]), np.array([-1, 2])]
)
def test_any_label_values(labels, rng):
    X = rng.normal(size=(40, 3))
    y_index = (X[:, 0] > 0).astype(int)
    y = labels[y_index]
    clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=200).fit(X, y)
    assert_array_equal(clf.classes_, np.sort(labels))
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.9


def test_one_vs_rest_multiclass(rng):
    centers = np.array([[0, 5], [5, 0], [-5, -5]])
    y = np.repeat(["a", "b", "c"], 30)
    X = centers[np.repeat(np.arange(3), 30)] + rng.normal(size=(90, 2))
    clf = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=300).fit(X, y)
    assert clf.coef_.shape == (3, 2)
    assert clf.intercept_.shape == (3,)
    assert clf.decision_function(X).shape == (90, 3)
    assert clf.score(X, y) > 0.95
    # Each neuron is the binary neuron trained on "this class against the rest".
    for k, label in enumerate(clf.classes_):
        binary = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=300)
        binary.fit(X, y == label)
        assert_allclose(clf.coef_[k], binary.coef_[0], rtol=1e-12)
        assert_allclose(clf.intercept_[k], binary.intercept_[0], rtol=1e-12)
    # loss_curve_ is the mean of the neurons' costs: ln 2 each at zero init.
    assert clf.loss_curve_[0] == pytest.approx(np.log(2))
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(np.exp(clf.predict_log_proba(X)), clf.predict_proba(X))


def test_extreme_learning_rate_on_raw_pixels_is_warning_free(catvnoncat):
    X_train, y_train, X_test, _ = catvnoncat
    X = X_train.reshape(len(X_train), -1).astype(float)  # 0..255, not scaled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = SigmoidNeuronClassifier(learning_rate=1e4, max_iter=50).fit(X, y_train)
        proba = clf.predict_proba(X_test.reshape(50, -1).astype(float))
        log_proba = clf.predict_log_proba(X_test.reshape(50, -1).astype(float))
    assert np.all(np.isfinite(clf.loss_curve_))
    assert np.all(np.isfinite(clf.coef_))
    assert np.all(np.isfinite(proba))
    assert not np.any(np.isnan(log_proba))
    assert_allclose(proba.sum(axis=1), 1.0)


def test_huge_scores_give_finite_probabilities():
    clf = SigmoidNeuronClassifier(max_iter=1).fit([[0.0], [1.0]], [0, 1])
    clf.coef_ = np.array([[1e308]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = clf.predict_proba([[1.0], [-1.0], [0.0]])
    assert_allclose(proba, [[0, 1], [1, 0], [0.5, 0.5]])


def test_divergence_raises_a_clear_error(rng):
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 2
    clf = SigmoidNeuronClassifier(learning_rate=100.0, alpha=1.0, max_iter=2000)
    with pytest.raises(ValueError, match="diverged.*lower learning_rate"):
        clf.fit(X, y)


def _grad_norm(model, X, y, alpha):
    """Euclidean norm of the cost's gradient (weights and bias) at ``model``."""
    residual = 1 / (1 + np.exp(-(X @ model.coef_[0] + model.intercept_[0]))) - y
    grad_w = X.T @ residual / len(y) + alpha * model.coef_[0]
    return np.sqrt(grad_w @ grad_w + residual.mean() ** 2)


def test_tol_stops_at_the_first_small_gradient(rng):
    """tol is met when the gradient norm at the iterate before a step is <= tol."""
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=50) > 0).astype(int)
    params = {"learning_rate": 0.5, "alpha": 0.1}
    early = SigmoidNeuronClassifier(max_iter=500, tol=1e-4, **params).fit(X, y)
    full = SigmoidNeuronClassifier(max_iter=500, **params).fit(X, y)
    n = early.n_iter_
    assert 10 < n < 500
    before = SigmoidNeuronClassifier(max_iter=n - 1, **params).fit(X, y)
    earlier = SigmoidNeuronClassifier(max_iter=n - 2, **params).fit(X, y)
    assert _grad_norm(before, X, y, 0.1) <= 1e-4 < _grad_norm(earlier, X, y, 0.1)
    assert early.loss_curve_.shape == (n,)
    assert_allclose(early.loss_curve_, full.loss_curve_[:n], rtol=1e-13)
    exact = SigmoidNeuronClassifier(max_iter=n, **params).fit(X, y)
    assert_allclose(early.coef_, exact.coef_, rtol=1e-13)


def test_tol_not_reached_warns(rng):
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = SigmoidNeuronClassifier(max_iter=5, tol=1e-12)
    with pytest.warns(ConvergenceWarning, match="increase max_iter"):
        clf.fit(X, y)
    assert clf.n_iter_ == 5


def test_no_warning_without_tol(rng):
    X = rng.normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SigmoidNeuronClassifier(max_iter=5).fit(X, y)


def test_warm_start_continues_the_same_descent(rng):
    X = rng.normal(size=(40, 5))
    y = (X[:, 1] > 0).astype(int)
    once = SigmoidNeuronClassifier(learning_rate=0.2, max_iter=100).fit(X, y)
    twice = SigmoidNeuronClassifier(learning_rate=0.2, max_iter=60, warm_start=True)
    first_curve = twice.fit(X, y).loss_curve_
    twice.set_params(max_iter=40).fit(X, y)
    assert twice.n_iter_ == 40
    assert_allclose(twice.coef_, once.coef_, rtol=1e-13)
    assert_allclose(twice.intercept_, once.intercept_, rtol=1e-13)
    assert_allclose(
        np.concatenate([first_curve, twice.loss_curve_]), once.loss_curve_, rtol=1e-13
    )


def test_warm_start_with_other_classes_raises(rng):
    X = rng.normal(size=(30, 2))
    clf = SigmoidNeuronClassifier(max_iter=3, warm_start=True).fit(X, np.arange(30) % 2)
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X, np.arange(30) % 3)


def test_random_init_is_seeded_and_differs_from_zeros(rng):
    X = rng.normal(size=(30, 4))
    y = np.arange(30) % 2
    a = SigmoidNeuronClassifier(init="random", random_state=1, max_iter=3).fit(X, y)
    b = SigmoidNeuronClassifier(init="random", random_state=1, max_iter=3).fit(X, y)
    z = SigmoidNeuronClassifier(max_iter=3).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)
    assert not np.allclose(a.coef_, z.coef_)
    assert a.loss_curve_[0] != pytest.approx(np.log(2), rel=1e-9)


def test_no_intercept_keeps_bias_at_zero(rng):
    X = rng.normal(size=(30, 2)) + 3
    y = np.arange(30) % 2
    clf = SigmoidNeuronClassifier(fit_intercept=False, max_iter=50).fit(X, y)
    assert_array_equal(clf.intercept_, [0.0])


def test_l2_penalty_shrinks_weights(rng):
    X = rng.normal(size=(60, 3))
    y = (X @ [2.0, -1.0, 0.5] > 0).astype(int)
    plain = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=300).fit(X, y)
    ridge = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=300, alpha=0.5)
    ridge.fit(X, y)
    assert np.linalg.norm(ridge.coef_) < 0.5 * np.linalg.norm(plain.coef_)


def test_integer_sample_weight_equals_repetition(rng):
    X = rng.normal(size=(25, 3))
    y = np.arange(25) % 2
    weights = rng.integers(0, 4, size=25)
    weighted = SigmoidNeuronClassifier(learning_rate=0.3, max_iter=100)
    weighted.fit(X, y, sample_weight=weights)
    repeated = SigmoidNeuronClassifier(learning_rate=0.3, max_iter=100)
    repeated.fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-10)
    assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-10)


def test_class_weight_balanced_and_dict(rng):
    X = rng.normal(size=(40, 2))
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    balanced = SigmoidNeuronClassifier(class_weight="balanced", max_iter=50)
    as_dict = SigmoidNeuronClassifier(
        class_weight={0: 40 / 60, 1: 40 / 20}, max_iter=50
    )
    as_weights = SigmoidNeuronClassifier(max_iter=50)
    sw = np.where(y == 1, 2.0, 2 / 3)
    balanced.fit(X, y)
    as_dict.fit(X, y)
    as_weights.fit(X, y, sample_weight=sw)
    assert_allclose(balanced.coef_, as_dict.coef_, rtol=1e-12)
    assert_allclose(balanced.coef_, as_weights.coef_, rtol=1e-12)


def test_class_weight_naming_unknown_class_raises(rng):
    X = rng.normal(size=(10, 2))
    clf = SigmoidNeuronClassifier(class_weight={0: 1.0, 5: 2.0})
    with pytest.raises(ValueError, match="not in class"):
        clf.fit(X, np.arange(10) % 2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1e-3}, "tol"),
        ({"alpha": -1.0}, "alpha"),
        ({"init": "ones"}, "init"),
        ({"class_weight": "auto"}, "class_weight"),
    ],
)
def test_invalid_parameters(params, match):
    X = np.array([[0.0], [1.0]])
    with pytest.raises(ValueError, match=match):
        SigmoidNeuronClassifier(**params).fit(X, [0, 1])


def test_one_class_raises():
    with pytest.raises(ValueError, match="only one class"):
        SigmoidNeuronClassifier().fit([[0.0], [1.0]], [1, 1])


def test_zero_total_weight_raises():
    with pytest.raises(ValueError, match="non-zero"):
        SigmoidNeuronClassifier().fit([[0.0], [1.0]], [0, 1], sample_weight=[0, 0])


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        SigmoidNeuronClassifier().predict([[0.0]])


def test_float32_stays_float32(rng):
    X = rng.random((30, 4)).astype(np.float32)
    y = np.arange(30) % 2
    clf = SigmoidNeuronClassifier(max_iter=20).fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert clf.decision_function(X).dtype == np.float32
    clf64 = SigmoidNeuronClassifier(max_iter=20).fit(X.astype(np.float64), y)
    assert_allclose(clf.coef_, clf64.coef_, rtol=1e-4)


def test_verbose_prints_the_cost(capsys, rng):
    X = rng.normal(size=(20, 2))
    SigmoidNeuronClassifier(max_iter=201, verbose=1).fit(X, np.arange(20) % 2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Cost after iteration 0",
        "Cost after iteration 100",
        "Cost after iteration 200",
    ]
    assert lines[0].endswith("0.693147")


def test_clone_pickle_params_and_repr(rng):
    X = rng.normal(size=(20, 2))
    y = np.arange(20) % 2
    clf = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=30).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert not hasattr(fresh, "coef_")
    assert fresh.get_params() == clf.get_params()
    assert "learning_rate=0.1" in repr(clf)
    assert "SigmoidNeuronClassifier" in clf._repr_html_()


def test_feature_names_from_dataframe(rng):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(rng.normal(size=(20, 2)), columns=["height", "weight"])
    clf = SigmoidNeuronClassifier(max_iter=5).fit(X, np.arange(20) % 2)
    assert_array_equal(clf.feature_names_in_, ["height", "weight"])


def test_class_weights_zeroing_every_sample_raise(rng):
    clf = SigmoidNeuronClassifier(class_weight={0: 0.0, 1: 0.0})
    with pytest.raises(ValueError, match="sum to 0"):
        clf.fit(rng.normal(size=(10, 2)), np.arange(10) % 2)


def assert_same_fit(gram, primal, rtol=1e-9):
    """Same iterates: coef_, intercept_, loss_curve_ to rtol, n_iter_ exactly.

    Weights that cross zero have no relative precision, so coef_ also gets an
    absolute floor of 1e-12 times its largest entry (1e3 times below rtol).
    """
    assert gram.n_iter_ == primal.n_iter_
    scale = np.abs(primal.coef_).max()
    assert_allclose(gram.coef_, primal.coef_, rtol=rtol, atol=1e-12 * scale)
    assert_allclose(gram.intercept_, primal.intercept_, rtol=rtol, atol=1e-300)
    assert_allclose(gram.loss_curve_, primal.loss_curve_, rtol=rtol)


def fit_both(X, y, sample_weight=None, **params):
    fits = [
        SigmoidNeuronClassifier(solver=solver, **params).fit(X, y, sample_weight)
        for solver in ("gram", "primal")
    ]
    return fits


@pytest.mark.parametrize(
    "params",
    [
        # The reference run's parameters; 200 steps: the primal path reads X
        # twice a step, and the full run's results are checked elsewhere
        # (207/209, the costs), so more steps add time, not meaning.
        {"max_iter": 200},
        {"max_iter": 300, "alpha": 0.05, "init": "random", "random_state": 0,
         "class_weight": "balanced"},
        {"max_iter": 600, "fit_intercept": False, "tol": 0.5, "learning_rate": 0.005},
    ],
)  # fmt: skip
def test_gram_and_primal_paths_agree_on_cat_data(catvnoncat, params):
    X_train, y_train, X_test, _ = catvnoncat
    X = ImageFlattener().fit_transform(X_train)
    gram, primal = fit_both(X, y_train, **params)
    assert_same_fit(gram, primal)
    X_test = ImageFlattener().fit_transform(X_test)
    assert_array_equal(gram.predict(X_test), primal.predict(X_test))
    if "tol" in params:
        assert gram.n_iter_ < 600


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "n_samples, n_features, n_classes",
    [(20, 50, 2), (30, 100, 3), (60, 10, 4), (15, 15, 2)],
)
@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.3},
        {"alpha": 0.1, "init": "random", "random_state": 3, "fit_intercept": False},
        {"class_weight": "balanced", "tol": 1e-4},
        {"alpha": 0.01, "tol": 1e-3, "init": "random", "random_state": 0},
    ],
)
def test_gram_and_primal_paths_agree_on_random_shapes(
    n_samples, n_features, n_classes, params, rng
):
    X = rng.normal(size=(n_samples, n_features))
    y = np.arange(n_samples) % n_classes
    sample_weight = rng.integers(0, 4, size=n_samples).astype(float)
    sample_weight[:n_classes] = 1.0  # every class keeps some weight
    gram, primal = fit_both(
        X, y, sample_weight, learning_rate=0.05, max_iter=150, **params
    )
    assert_same_fit(gram, primal)
    assert gram.coef_.shape == (1 if n_classes == 2 else n_classes, n_features)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gram_path_warm_starts_exactly(n_classes, rng):
    X = rng.normal(size=(25, 80))
    y = np.arange(25) % n_classes
    sample_weight = rng.random(25) + 0.5
    params = {"learning_rate": 0.05, "alpha": 0.2}
    once = SigmoidNeuronClassifier(solver="primal", max_iter=100, **params)
    once.fit(X, y, sample_weight)
    for solver in ("gram", "primal"):
        chunks = SigmoidNeuronClassifier(
            solver=solver, max_iter=25, warm_start=True, **params
        )
        curve = np.concatenate(
            [chunks.fit(X, y, sample_weight).loss_curve_ for _ in range(4)]
        )
        assert_allclose(chunks.coef_, once.coef_, rtol=1e-9, atol=1e-12)
        assert_allclose(chunks.intercept_, once.intercept_, rtol=1e-9)
        assert_allclose(curve, once.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e4])
@pytest.mark.parametrize("init", ["zeros", "random"])
def test_gram_path_at_any_feature_scale(scale, init, rng):
    # Without penalty the bias rides in G + 1, unless the samples are so small
    # that the 1 would swamp G (then it is updated apart, as with a penalty).
    X = scale * rng.normal(size=(30, 60))
    y = (X[:, 0] > 0).astype(int)
    # A rate stable for the bias (curvature 1/4) and for the weights.
    learning_rate = min(1.0, 0.05 / scale**2)
    gram, primal = fit_both(
        X, y, learning_rate=learning_rate, max_iter=100, init=init, random_state=0
    )
    assert_same_fit(gram, primal)


def test_gram_path_detects_divergence_at_the_same_step(rng):
    X = rng.normal(size=(20, 40))
    y = np.arange(20) % 2
    messages = []
    for solver in ("gram", "primal"):
        clf = SigmoidNeuronClassifier(
            learning_rate=100.0, alpha=1.0, max_iter=2000, solver=solver
        )
        with pytest.raises(ValueError, match="diverged at step") as error:
            clf.fit(X, y)
        messages.append(str(error.value).split(" (cost")[0])
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "shape, max_iter, expected",
    [
        ((209, 12288, 1), 2000, "gram"),  # the cat data
        ((209, 12288, 1), 100, "gram"),  # the command line's chunks
        ((6144, 12288, 1), 2000, "gram"),
        ((6145, 12288, 1), 2000, "primal"),  # G more than half of X
        ((50000, 12288, 1), 2000, "primal"),
        ((209, 12288, 1), 1, "primal"),  # one step: G costs more than it saves
        ((209, 12288, 8 * 5), 2000, "gram"),  # the CV: rates x folds columns
        ((100, 5, 3), 2000, "primal"),
    ],
)
def test_auto_solver_follows_the_shapes(shape, max_iter, expected):
    n_samples, n_features, n_columns = shape
    assert choose_solver("auto", n_samples, n_features, n_columns, max_iter) == expected
    assert choose_solver("primal", *shape, max_iter) == "primal"


def test_invalid_solver_raises():
    with pytest.raises(ValueError, match="'solver' parameter.*'gram'"):
        SigmoidNeuronClassifier(solver="dual").fit([[0.0], [1.0]], [0, 1])


def fit_peak_bytes(estimator, X, y):
    """Peak memory allocated (tracemalloc, numpy included) while fitting.

    A first fit, untraced, keeps one-off allocations (lazy imports, caches)
    out of the measure.
    """
    clone(estimator).fit(X, y)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        estimator.fit(X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_float32_fit_makes_no_copy_of_x(solver, rng):
    X = rng.random((300, 4000), dtype=np.float32)
    y = np.arange(300) % 3
    clf = SigmoidNeuronClassifier(solver=solver, max_iter=5)
    # An upcast (or any copy) of X would allocate at least X.nbytes.
    assert fit_peak_bytes(clf, X, y) < 0.5 * X.nbytes
    assert clf.coef_.dtype == clf.intercept_.dtype == np.float32
    assert clf.decision_function(X).dtype == np.float32
    clf64 = SigmoidNeuronClassifier(solver=solver, max_iter=5).fit(X.astype(float), y)
    assert_allclose(clf.coef_, clf64.coef_, rtol=1e-4, atol=1e-7)


def test_float32_images_stay_float32_through_the_pipeline(rng):
    images = rng.integers(0, 256, size=(200, 32, 32, 3)).astype(np.float32)
    y = np.arange(200) % 2
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=20))
    # One float32 copy of X (the flattened, scaled images) and small change.
    assert fit_peak_bytes(model, images, y) < 1.5 * images.nbytes
    assert model[-1].coef_.dtype == np.float32
    assert model.predict_proba(images).dtype == np.float32


def test_float32_x_with_float64_model_stays_in_blas(rng):
    # The product runs at X's precision (coef cast to float32) and the scores
    # keep the dtype NumPy's promotion gives (float64 for a float64 model).
    X = rng.random((40, 6))
    clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=50).fit(X, X[:, 0] > 0.5)
    X32 = X.astype(np.float32)
    scores = clf.decision_function(X32)
    assert scores.dtype == np.float64
    expected = (X32 @ clf.coef_.astype(np.float32).T).astype(np.float64).ravel()
    assert np.array_equal(scores, expected + clf.intercept_)
    np.testing.assert_allclose(scores, clf.decision_function(X), rtol=1e-5, atol=1e-5)
    assert clf.predict_proba(X32).dtype == np.float64
