"""Momentum and Nesterov's momentum, on both solvers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

from sklearn_catneuron import SigmoidNeuronClassifier
from sklearn_catneuron._engine import Momentum


def momentum_loop(X, y, steps, *, lr, mu, nesterov, alpha=0.0, sample_weight=None):
    """MLPClassifier's SGD update on the neuron's full-batch gradient."""
    s = np.ones(len(y)) if sample_weight is None else sample_weight
    w, b = np.zeros(X.shape[1]), 0.0
    vw, vb = np.zeros_like(w), 0.0
    for _ in range(steps):
        r = s * (expit(X @ w + b) - y)
        gw = X.T @ r / s.sum() + alpha * w
        gb = r.sum() / s.sum()
        vw, vb = mu * vw - lr * gw, mu * vb - lr * gb
        if nesterov:
            w, b = w + (mu * vw - lr * gw), b + (mu * vb - lr * gb)
        else:
            w, b = w + vw, b + vb
    return w, b


@pytest.mark.parametrize("solver", ["gram", "primal"])
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_fit_matches_a_hand_written_momentum_loop(solver, nesterov, alpha, rng):
    X = rng.normal(size=(25, 40))
    y = (X[:, 0] + 0.5 * rng.normal(size=25) > 0).astype(float)
    weight = rng.random(25) + 0.5
    w, b = momentum_loop(
        X, y, 80, lr=0.05, mu=0.9, nesterov=nesterov, alpha=alpha, sample_weight=weight
    )
    model = SigmoidNeuronClassifier(
        learning_rate=0.05, max_iter=80, momentum=0.9, nesterovs_momentum=nesterov,
        alpha=alpha, solver=solver,
    ).fit(X, y, sample_weight=weight)  # fmt: skip
    assert_allclose(model.coef_[0], w, rtol=1e-10, atol=1e-10 * np.abs(w).max())
    assert_allclose(model.intercept_[0], b, rtol=1e-10)


def test_nesterov_and_classical_momentum_differ(rng):
    X = rng.normal(size=(25, 40))
    y = (X[:, 0] > 0).astype(int)
    fits = [
        SigmoidNeuronClassifier(
            learning_rate=0.05, max_iter=20, momentum=0.9, nesterovs_momentum=n
        ).fit(X, y)
        for n in (True, False)
    ]
    assert np.abs(fits[0].coef_ - fits[1].coef_).max() > 1e-3


def test_zero_momentum_is_plain_descent(rng):
    X = rng.normal(size=(25, 40))
    y = (X[:, 0] > 0).astype(int)
    plain = SigmoidNeuronClassifier(learning_rate=0.05, max_iter=30).fit(X, y)
    zero = SigmoidNeuronClassifier(learning_rate=0.05, max_iter=30, momentum=0.0)
    assert_array_equal(zero.fit(X, y).coef_, plain.coef_)


@pytest.mark.slow
@pytest.mark.parametrize("nesterov", [True, False])
def test_gram_iterates_match_primal_on_cat_data(cat, nesterov):
    """Velocities in sample space keep the primal iterates (to 1e-9)."""
    X, y, X_test, y_test = cat
    params = {
        "learning_rate": 0.001, "max_iter": 300, "momentum": 0.9,
        "nesterovs_momentum": nesterov,
    }  # fmt: skip
    gram = SigmoidNeuronClassifier(**params, solver="gram")
    gram.fit(X, y, X_val=X_test, y_val=y_test)
    primal = SigmoidNeuronClassifier(**params, solver="primal")
    primal.fit(X, y, X_val=X_test, y_val=y_test)
    scale = np.abs(primal.coef_).max()
    assert_allclose(gram.coef_, primal.coef_, rtol=1e-9, atol=1e-9 * scale)
    assert_allclose(gram.intercept_, primal.intercept_, rtol=1e-9)
    assert_allclose(gram.loss_curve_, primal.loss_curve_, rtol=1e-9)
    assert_allclose(
        gram.validation_loss_curve_, primal.validation_loss_curve_, rtol=1e-9
    )


@pytest.mark.parametrize(
    "settings",
    [
        # Gram matrix unfolded for the gradient norms; stops at step 465.
        {"tol": 1e-2, "alpha": 1.0, "learning_rate": 0.01, "max_iter": 1000},
        {"alpha": 0.01, "init": "random", "random_state": 0},  # decay c, w_0
        {"fit_intercept": False},
        {"class_weight": "balanced"},
    ],
    ids=str,
)
def test_gram_matches_primal_with_momentum_and_options(settings, rng):
    X = rng.normal(size=(30, 60))
    y = rng.integers(0, 3, size=30)
    params = {"learning_rate": 0.05, "max_iter": 150, "momentum": 0.8, **settings}
    fits = [
        SigmoidNeuronClassifier(**params, solver=solver).fit(X, y)
        for solver in ("gram", "primal")
    ]
    assert fits[0].n_iter_ == fits[1].n_iter_
    assert fits[0].n_iter_ == (465 if "tol" in settings else 150)
    assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(fits[0].intercept_, fits[1].intercept_, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_momentum_with_early_stopping_keeps_the_best_step(solver, rng):
    X = rng.normal(size=(30, 50))
    y = (X[:, 0] + 0.7 * rng.normal(size=30) > 0).astype(int)
    X_val = rng.normal(size=(12, 50))
    y_val = (X_val[:, 0] > 0).astype(int)
    params = {"learning_rate": 0.02, "momentum": 0.9, "solver": solver}
    model = SigmoidNeuronClassifier(
        **params, max_iter=1000, early_stopping=True, n_iter_no_change=10
    ).fit(X, y, X_val=X_val, y_val=y_val)
    assert model.n_iter_ == model.best_iteration_ + 10 < 1000
    at_best = SigmoidNeuronClassifier(**params, max_iter=model.best_iteration_)
    at_best.fit(X, y)
    assert_allclose(model.coef_, at_best.coef_, rtol=1e-12, atol=1e-14)


def test_dask_momentum_matches_in_memory(rng):
    da = pytest.importorskip("dask.array")
    X = rng.normal(size=(40, 8))
    y = (X[:, 0] > 0).astype(int)
    params = {"learning_rate": 0.1, "max_iter": 25, "momentum": 0.9}
    in_memory = SigmoidNeuronClassifier(**params).fit(X, y)
    chunked = SigmoidNeuronClassifier(**params).fit(da.from_array(X, chunks=15), y)
    assert_allclose(chunked.coef_, in_memory.coef_, rtol=1e-10)


def test_momentum_rule_alone():
    """``v <- mu v - delta``; the param moves by ``v`` or ``mu v - delta``."""
    for nesterov, expected in ((False, [-1.0, -2.5]), (True, [-1.5, -3.25])):
        param = np.zeros(1)
        rule = Momentum(0.5, nesterov=nesterov)
        moves = []
        for _ in range(2):
            before = param.copy()
            rule.update([param], [np.ones(1)])
            moves.append(float((param - before)[0]))
        assert moves == [expected[0], expected[1] - expected[0]]
