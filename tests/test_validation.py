"""The validation curve (fit's X_val, y_val) and early stopping."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import log_expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_catneuron import SigmoidNeuronClassifier
from sklearn_catneuron._engine import ValidationCurve, _GramScorer, _ParamsScorer


@pytest.fixture(scope="module")
def reference_with_test_curve(cat):
    """The reference fit (2,000 steps, Gram path) watching the test set."""
    X, y, X_test, y_test = cat
    return SigmoidNeuronClassifier().fit(X, y, X_val=X_test, y_val=y_test)


def test_cost(model, X, y, sample_weight=None):
    """Mean cross-entropy of a fitted model on (X, y), from its own scores."""
    scores = model.decision_function(X)
    if scores.ndim == 1:
        scores = scores[:, None]
    Y = (np.asarray(y)[:, None] == model.classes_).astype(float)
    if len(model.classes_) == 2:
        Y = Y[:, 1:]
    losses = -log_expit((2 * Y - 1) * scores)
    weight = np.ones(len(y)) if sample_weight is None else sample_weight
    return float(np.mean(weight @ losses / weight.sum()))


test_cost.__test__ = False  # a helper, not a test


@pytest.mark.slow
@pytest.mark.parametrize(
    "solver, steps", [("gram", [1, 2, 3, 7, 150, 1000]), ("primal", [1, 2, 7, 150])]
)
def test_validation_cost_at_step_k_is_the_test_cost_of_a_k_step_fit(cat, solver, steps):
    X, y, X_test, y_test = cat
    max_iter = steps[-1] + 1
    model = SigmoidNeuronClassifier(max_iter=max_iter, solver=solver)
    model.fit(X, y, X_val=X_test, y_val=y_test)
    curve = model.validation_loss_curve_
    assert curve.shape == model.loss_curve_.shape == (max_iter,)
    assert curve[0] == pytest.approx(np.log(2), abs=1e-15)  # zero weights
    for k in steps:
        fit_k = SigmoidNeuronClassifier(max_iter=k, solver=solver).fit(X, y)
        assert_allclose(curve[k], test_cost(fit_k, X_test, y_test), rtol=1e-10)


@pytest.mark.slow
def test_the_reference_run_overfits_as_measured(cat, reference_with_test_curve):
    """Test cost lowest at step 150 (0.501), 0.750 by step 2,000."""
    X, y, X_test, y_test = cat
    model = reference_with_test_curve
    curve = model.validation_loss_curve_
    assert model.n_iter_ == 2000 and curve.shape == (2000,)
    assert model.best_iteration_ == 150 == np.argmin(curve)
    assert model.best_validation_loss_ == curve[150]
    assert_allclose(curve[150], 0.5012150170945, rtol=1e-11)
    assert_allclose(curve[1999], 0.7503424320725, rtol=1e-11)
    # The early jumps.
    assert_allclose(
        curve[:6], [0.693147, 1.297888, 0.625648, 1.648299, 0.608957, 1.726775],
        atol=1e-6,
    )  # fmt: skip
    # Without early stopping the weights are the last ones: the reference.
    assert model.score(X, y) == pytest.approx(207 / 209)
    assert model.score(X_test, y_test) == 0.70
    accuracy = {
        k: SigmoidNeuronClassifier(max_iter=k).fit(X, y).score(X_test, y_test)
        for k in (100, 150)
    }
    assert accuracy == {100: 0.84, 150: 0.82}


def test_a_validation_set_leaves_the_fit_unchanged(cat, reference_with_test_curve):
    X, y, _, _ = cat
    plain = SigmoidNeuronClassifier().fit(X, y)
    watched = reference_with_test_curve
    assert_array_equal(watched.coef_, plain.coef_)
    assert_array_equal(watched.intercept_, plain.intercept_)
    assert_array_equal(watched.loss_curve_, plain.loss_curve_)
    for name in ("validation_loss_curve_", "best_iteration_", "best_validation_loss_"):
        assert not hasattr(plain, name)


@pytest.mark.slow
@pytest.mark.parametrize("patience", [None, 10])
def test_early_stopping_on_the_test_set_keeps_step_150(cat, patience):
    """The jumps (0.693, 1.298, 0.626, 1.648, ...) do not stop it: their low
    side improves at every other step, so even a patience of 10 reaches 150."""
    X, y, X_test, y_test = cat
    model = SigmoidNeuronClassifier(early_stopping=True, n_iter_no_change=patience)
    model.fit(X, y, X_val=X_test, y_val=y_test)
    assert model.best_iteration_ == 150
    assert model.n_iter_ == 150 + (200 if patience is None else patience)
    assert model.loss_curve_.shape == model.validation_loss_curve_.shape
    step_150 = SigmoidNeuronClassifier(max_iter=150).fit(X, y)
    assert_allclose(model.coef_, step_150.coef_, rtol=1e-12, atol=1e-15)
    assert_allclose(model.intercept_, step_150.intercept_, rtol=1e-12)
    assert model.score(X_test, y_test) == 0.82
    assert model.score(X, y) == pytest.approx(156 / 209)


# (random_state, n_iter_, best_iteration_, best validation cost, test accuracy)
SPLITS = [
    (0, 200, 0, np.log(2), 0.34),
    (1, 200, 0, np.log(2), 0.34),
    (4, 413, 213, 0.591933, 0.48),
    (6, 463, 263, 0.658715, 0.64),
    (9, 653, 453, 0.583629, 0.58),
]


@pytest.mark.slow
@pytest.mark.parametrize("seed, n_iter, best, best_cost, test_accuracy", SPLITS)
def test_early_stopping_on_a_20_percent_split(
    cat, seed, n_iter, best, best_cost, test_accuracy
):
    """Half of the splits never beat the starting cost ln 2: early stopping
    keeps the zero weights, which call every image non-cat (0.34 on the test
    set); the others stop between steps 213 and 453, below the 0.70 test
    accuracy of the full 2,000 steps. Seed 6 first drops below ln 2 at step
    178, which a patience of 10 would never see."""
    X, y, X_test, y_test = cat
    model = SigmoidNeuronClassifier(
        early_stopping=True, validation_fraction=0.2, random_state=seed
    ).fit(X, y)
    assert (model.n_iter_, model.best_iteration_) == (n_iter, best)
    assert_allclose(model.best_validation_loss_, best_cost, atol=1e-6)
    assert model.score(X_test, y_test) == test_accuracy
    # The split is train_test_split's, stratified and seeded by random_state.
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    explicit = SigmoidNeuronClassifier(max_iter=n_iter)
    explicit.fit(X_fit, y_fit, X_val=X_val, y_val=y_val)
    assert_allclose(
        model.validation_loss_curve_, explicit.validation_loss_curve_, rtol=1e-12
    )


def _small(rng, n_classes=2, n=30, d=50):
    """Classes by the first features plus noise, fewer samples than features:
    the validation cost falls, then rises as the descent fits the noise."""
    X_all = rng.normal(size=(n + 12, d))
    signal = X_all[:, :n_classes] + 0.7 * rng.normal(size=(n + 12, n_classes))
    y_all = signal.argmax(axis=1) if n_classes > 2 else (signal[:, 0] > 0) * 1
    return X_all[:n], y_all[:n], X_all[n:], y_all[n:]


PATH_SETTINGS = [
    {},  # Gram matrix folded, one column (step factor in G)
    {"n_classes": 3},  # folded, three columns
    {"alpha": 0.05},  # not folded: decay
    {"tol": 1e-9},  # not folded: gradient norms
    {"init": "random", "random_state": 0},  # warm: X w_0
    {"init": "random", "random_state": 0, "alpha": 0.05, "n_classes": 3},
    {"fit_intercept": False},
    {"fit_intercept": False, "alpha": 0.05, "init": "random", "random_state": 1},
]


@pytest.mark.parametrize("settings", PATH_SETTINGS, ids=str)
def test_gram_and_primal_validation_curves_agree(settings, rng):
    settings = dict(settings)
    X, y, X_val, y_val = _small(rng, settings.pop("n_classes", 2))
    weight_val = rng.random(len(y_val))
    curves, coefs = [], []
    for solver in ("gram", "primal"):
        model = SigmoidNeuronClassifier(
            learning_rate=0.05, max_iter=60, solver=solver, **settings
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y, X_val=X_val, y_val=y_val, sample_weight_val=weight_val)
        curves.append(model.validation_loss_curve_)
        coefs.append(model.coef_)
    assert_allclose(curves[0], curves[1], rtol=1e-10)
    assert_allclose(coefs[0], coefs[1], rtol=1e-9, atol=1e-12)
    # And it is the cost of the k-step fit on the validation set.
    for k in (1, 5, 30):
        fit_k = SigmoidNeuronClassifier(
            learning_rate=0.05, max_iter=k, solver="primal", **settings
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit_k.fit(X, y)
        expected = test_cost(fit_k, X_val, y_val, weight_val)
        assert_allclose(curves[0][k], expected, rtol=1e-10)


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_early_stopping_keeps_the_best_step_on_both_paths(solver, rng):
    X, y, X_val, y_val = _small(rng)
    model = SigmoidNeuronClassifier(
        learning_rate=0.1, max_iter=500, early_stopping=True, n_iter_no_change=5,
        solver=solver,
    ).fit(X, y, X_val=X_val, y_val=y_val)  # fmt: skip
    best = model.best_iteration_
    curve = model.validation_loss_curve_
    assert best == 7 and model.n_iter_ == best + 5
    assert best == np.argmin(curve) and model.best_validation_loss_ == curve[best]
    # No step after the best improved on it.
    assert np.all(curve[best + 1 :] >= curve[best])
    at_best = SigmoidNeuronClassifier(
        learning_rate=0.1, max_iter=best, solver=solver
    ).fit(X, y)
    assert_allclose(model.coef_, at_best.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(model.intercept_, at_best.intercept_, rtol=1e-12)


def test_early_stopping_tol_is_the_improvement_needed(rng):
    X, y, X_val, y_val = _small(rng)
    common = {"learning_rate": 0.01, "max_iter": 3000, "early_stopping": True}
    strict = SigmoidNeuronClassifier(**common, n_iter_no_change=3)
    strict.fit(X, y, X_val=X_val, y_val=y_val)
    assert strict.best_iteration_ == 69 and strict.n_iter_ == 72
    # tol also stops on the gradient norm; 1e-300 never does.
    loose = SigmoidNeuronClassifier(**common, n_iter_no_change=3, tol=1e-300)
    loose.fit(X, y, X_val=X_val, y_val=y_val)
    assert_array_equal(loose.validation_loss_curve_, strict.validation_loss_curve_)
    # No 3 steps in a row improve on the best by 0.001 at this rate.
    coarse = SigmoidNeuronClassifier(**common, n_iter_no_change=3, tol=1e-3)
    coarse.fit(X, y, X_val=X_val, y_val=y_val)
    assert coarse.n_iter_ == 3
    assert coarse.best_iteration_ == 3  # improved, by less than tol


def test_best_step_counts_the_last_iterate(rng):
    """When the cost falls to the end, the best is the last iterate, n_iter_,
    whose cost is not in the curve (it holds the costs before each step)."""
    X, y, X_val, y_val = _small(rng)
    X_val, y_val = X, y  # the training set falls all along
    model = SigmoidNeuronClassifier(learning_rate=0.01, max_iter=20)
    with pytest.warns(ConvergenceWarning, match="early_stopping=True. in max_iter=20"):
        model.set_params(early_stopping=True).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.best_iteration_ == 20 == model.n_iter_
    assert model.best_validation_loss_ < model.validation_loss_curve_[-1]
    plain = SigmoidNeuronClassifier(learning_rate=0.01, max_iter=20).fit(X, y)
    assert_array_equal(model.coef_, plain.coef_)
    assert_allclose(model.best_validation_loss_, test_cost(plain, X, y), rtol=1e-12)


def test_a_stop_rule_ending_the_fit_still_scores_the_last_iterate(rng):
    X, y, X_val, y_val = _small(rng)
    model = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=5000, tol=0.05)
    model.fit(X, y, X_val=X, y_val=y)
    assert model.n_iter_ < 5000
    assert model.best_iteration_ == model.n_iter_  # the training cost falls


def test_class_weight_weighs_validation_samples_as_training_ones(rng):
    X, y, X_val, y_val = _small(rng)
    y = np.r_[np.zeros(20, int), np.ones(10, int)]
    model = SigmoidNeuronClassifier(
        learning_rate=0.1, max_iter=10, class_weight="balanced"
    ).fit(X, y, X_val=X_val, y_val=y_val)
    per_class = np.array([30 / 40, 30 / 20])  # the training frequencies
    weight = per_class[y_val]
    at_10 = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=9)
    at_10.set_params(class_weight="balanced").fit(X, y)
    assert_allclose(
        model.validation_loss_curve_[9], test_cost(at_10, X_val, y_val, weight),
        rtol=1e-12,
    )  # fmt: skip
    zeroing = SigmoidNeuronClassifier(max_iter=2, class_weight={0: 1.0, 1: 0.0})
    with pytest.raises(ValueError, match=r"sample_weight_val \(times class_weight"):
        zeroing.fit(X, y, X_val=X_val[y_val == 1], y_val=y_val[y_val == 1])


def test_a_later_fit_without_validation_drops_its_attributes(rng):
    X, y, X_val, y_val = _small(rng)
    model = SigmoidNeuronClassifier(max_iter=5).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.validation_loss_curve_.shape == (5,)
    model.fit(X, y)
    assert not hasattr(model, "validation_loss_curve_")
    assert not hasattr(model, "best_iteration_")


def test_validation_labels_may_be_a_subset_of_any_label_type(rng):
    X, y, X_val, y_val = _small(rng, n_classes=3)
    names = np.array(["ant", "bee", "cat"])
    model = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=8)
    model.fit(X, names[y], X_val=X_val[:3], y_val=["cat", "cat", "ant"])
    at_5 = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=5).fit(X, names[y])
    assert_allclose(
        model.validation_loss_curve_[5],
        test_cost(at_5, X_val[:3], ["cat", "cat", "ant"]),
        rtol=1e-12,
    )


def test_float32_validation_curve(rng):
    X, y, X_val, y_val = _small(rng)
    single = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=20)
    single.fit(X.astype(np.float32), y, X_val=X_val.astype(np.float32), y_val=y_val)
    double = SigmoidNeuronClassifier(learning_rate=0.1, max_iter=20)
    double.fit(X, y, X_val=X_val, y_val=y_val)
    assert single.coef_.dtype == np.float32
    assert_allclose(
        single.validation_loss_curve_, double.validation_loss_curve_, rtol=1e-5
    )


def test_validation_curve_observer_alone(rng):
    """The observer on a hand-made path: costs of the start and of each step."""
    from sklearn_catneuron._engine import descend, make_path

    X, y, X_val, y_val = _small(rng)
    Y, Y_val = y[:, None].astype(float), y_val[:, None].astype(float)
    for solver in ("gram", "primal"):
        path = make_path(
            X, Y, np.ones(len(y)), coef=np.zeros((1, 1, X.shape[1])),
            intercept=np.zeros((1, 1)), learning_rates=[0.1], alpha=0.0,
            fit_intercept=True, solver=solver,
        )  # fmt: skip
        observer = ValidationCurve(X_val, Y_val, np.ones(len(y_val)))
        descend(path, max_iter=4, observers=[observer])
        # On the Gram path the scores come from X_val X^T, not from coef.
        scorer = _GramScorer if solver == "gram" else _ParamsScorer
        assert type(observer.scorer) is scorer
        assert len(observer.costs) == 5  # the start and after each of 4 steps
        assert observer.best_params is None  # keep_best=False


def test_dask_x_with_an_in_memory_validation_set(rng):
    da = pytest.importorskip("dask.array")
    X, y, X_val, y_val = _small(rng)
    kwargs = {"learning_rate": 0.1, "max_iter": 15}
    plain = SigmoidNeuronClassifier(**kwargs).fit(X, y, X_val=X_val, y_val=y_val)
    chunked = SigmoidNeuronClassifier(**kwargs, early_stopping=True)
    with pytest.warns(ConvergenceWarning, match="max_iter=15"):  # not stopped
        chunked.fit(da.from_array(X, chunks=10), y, X_val=X_val, y_val=y_val)
    best = chunked.best_iteration_
    assert_allclose(
        chunked.validation_loss_curve_,
        plain.validation_loss_curve_[: chunked.n_iter_],
        rtol=1e-10,
    )
    assert best == np.argmin(plain.validation_loss_curve_)
    with pytest.raises(ValueError, match="X_val is a Dask array; pass the"):
        SigmoidNeuronClassifier(**kwargs).fit(
            X, y, X_val=da.from_array(X_val), y_val=y_val
        )
    with pytest.raises(ValueError, match="cannot split a validation set off a Dask"):
        SigmoidNeuronClassifier(**kwargs, early_stopping=True).fit(
            da.from_array(X, chunks=10), y
        )
