"""The descent engine: exact iterates, bounded memory, failed fits, stop rules."""

import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_catneuron import (
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
    _engine,
)
from sklearn_catneuron._engine import (
    STOPPED,
    NoImprovement,
    Observer,
    descend,
    make_path,
)


def reference_loop(X, y, steps, learning_rate=0.005):
    """The reference notebook's loop, (features, samples) layout."""
    X, Y = X.T, y.reshape(1, -1)
    w, b, m = np.zeros((X.shape[0], 1)), 0.0, X.shape[1]
    for _ in range(steps):
        A = 1 / (1 + np.exp(-(w.T @ X + b)))
        w = w - learning_rate * (X @ (A - Y).T) / m
        b = b - learning_rate * np.sum(A - Y) / m
    return w.ravel(), b


@pytest.mark.parametrize("solver", ["gram", "primal"])
def test_iterates_match_the_reference_loop(cat, solver):
    """The tanh residual of the Gram path is an identity: iterates to 1e-12."""
    X, y, _, _ = cat
    w, b = reference_loop(X, y, 300)
    model = SigmoidNeuronClassifier(max_iter=300, solver=solver).fit(X, y)
    scale = np.abs(w).max()
    assert_allclose(model.coef_[0], w, rtol=1e-12, atol=1e-12 * scale)
    assert_allclose(model.intercept_[0], b, rtol=1e-12)


def test_memory_grows_with_steps_run_not_max_iter(cat):
    X, y, _, _ = cat
    SigmoidNeuronClassifier(max_iter=3).fit(X, y)  # one-off allocations
    tracemalloc.start()
    try:
        model = SigmoidNeuronClassifier(max_iter=10**12, tol=0.5).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model.n_iter_ < 2000
    assert model.loss_curve_.shape == (model.n_iter_,)
    assert peak < 50 * 2**20  # X is 20 MB; a (max_iter,) curve would be TBs


def test_cv_memory_grows_with_steps_run(rng):
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] > 0).astype(int)
    model = SigmoidNeuronClassifierCV(
        learning_rates=[0.5, 1.0], cv=3, max_iter=10**12, tol=1e-3, alpha=0.1
    ).fit(X, y)
    assert model.n_iter_ < 1000
    n_iter = np.array([model.cv_results_[f"split{k}_n_iter"] for k in range(3)])
    assert (n_iter < 1000).all()


def test_failed_fit_leaves_the_estimator_as_it_was(rng):
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    model = SigmoidNeuronClassifier(max_iter=20).fit(X, y)
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}
    X_bad = rng.normal(size=(30, 5)) * 1e6
    with pytest.raises(ValueError, match="diverged"):
        model.set_params(learning_rate=1e6, alpha=1e3).fit(X_bad, y)
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert after.keys() == before.keys()
    assert model.n_features_in_ == 3
    for name, value in before.items():
        assert_array_equal(after[name], value)
    assert model.predict(X).shape == (30,)


class Interrupt:
    """A callback whose end hook raises KeyboardInterrupt at step ``at``."""

    def __init__(self, at):
        self.at, self.seen = at, 0

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.task_name == "gradient step":
            self.seen += 1
            if self.seen == self.at:
                raise KeyboardInterrupt

    def teardown(self, estimator, context):
        pass


def test_interrupted_fit_leaves_the_estimator_unfitted_or_as_it_was(rng):
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    fresh = SigmoidNeuronClassifier(max_iter=20).set_callbacks(Interrupt(5))
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X, y)
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")]
    with pytest.raises(NotFittedError):
        fresh.predict(X)

    model = SigmoidNeuronClassifier(max_iter=20).fit(X, y)
    coef = model.coef_.copy()
    model.set_callbacks(Interrupt(5))
    with pytest.raises(KeyboardInterrupt):
        model.fit(rng.normal(size=(30, 7)), y)
    assert model.n_features_in_ == 3
    assert_array_equal(model.coef_, coef)


def test_warm_start_with_another_width_names_both(rng):
    X, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    model = SigmoidNeuronClassifier(max_iter=5, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, the previous coef_ has 3"):
        model.fit(rng.normal(size=(30, 4)), y)
    assert model.n_features_in_ == 3 and model.coef_.shape == (1, 3)


def test_tol_runs_past_the_early_oscillation_on_cat_data(cat):
    """At the default rate the cost rises at first; the gradient stays large."""
    X, y, _, _ = cat
    default = SigmoidNeuronClassifier().fit(X, y)
    with pytest.warns(ConvergenceWarning, match=r"tol=0.0001.*max_iter=2000"):
        model = SigmoidNeuronClassifier(tol=1e-4).fit(X, y)
    assert model.n_iter_ == 2000
    assert model.score(X, y) > 0.9
    # tol keeps G unfolded (it needs the gradient norm): rounding differs.
    scale = np.abs(default.coef_).max()
    assert_allclose(model.coef_, default.coef_, rtol=1e-9, atol=1e-12 * scale)


def test_converged_fit_stops_well_before_max_iter_on_cat_data(cat):
    X, y, X_test, y_test = cat
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = SigmoidNeuronClassifier(tol=0.2).fit(X, y)
    assert 600 < model.n_iter_ < 700  # 645 on the reference machine
    assert model.loss_curve_.shape == (model.n_iter_,)
    exact = SigmoidNeuronClassifier(max_iter=model.n_iter_).fit(X, y)
    assert_allclose(model.coef_, exact.coef_, rtol=1e-9, atol=1e-13)
    assert model.score(X, y) > 0.9


def test_n_iter_no_change_is_mlps_rule(rng):
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    params = {"learning_rate": 0.5, "max_iter": 400}
    full = SigmoidNeuronClassifier(**params).fit(X, y)
    model = SigmoidNeuronClassifier(n_iter_no_change=5, tol=1e-4, **params)
    model.fit(X, y)
    # MLPClassifier._update_no_improvement_count, by hand.
    best, count, expected = np.inf, 0, None
    for step, loss in enumerate(full.loss_curve_, start=1):
        count = count + 1 if loss > best - 1e-4 else 0
        best = min(best, loss)
        if count >= 5:
            expected = step
            break
    assert model.n_iter_ == expected < 400
    assert_allclose(model.loss_curve_, full.loss_curve_[:expected], rtol=1e-13)


def test_batched_models_stop_on_their_own(rng):
    X = rng.normal(size=(30, 4))
    Y = (X[:, :1] + rng.normal(size=(30, 1)) > 0).astype(float)  # not separable
    rates = [0.01, 0.5, 1.0]

    def run(rates):
        path = make_path(
            X, Y, np.ones(30), coef=np.zeros((len(rates), 1, 4)),
            intercept=np.zeros((len(rates), 1)), learning_rates=rates, alpha=0.0,
            fit_intercept=True, solver="primal",
        )  # fmt: skip
        rules = [NoImprovement(1e-4, 3, len(rates))]
        return descend(path, max_iter=300, rules=rules)

    together = run(rates)
    assert len(set(together.n_iter)) == 3
    for m, rate in enumerate(rates):
        alone = run([rate])
        assert together.n_iter[m] == alone.n_iter[0]
        assert together.status[m] == alone.status[0]
        assert_allclose(together.coef[m], alone.coef[0], rtol=1e-12)
        assert_allclose(together.loss_curves[m], alone.loss_curves[0], rtol=1e-12)


def test_an_observer_stops_the_descent_exactly(rng):
    X = rng.normal(size=(20, 50))
    Y = (X[:, :1] > 0).astype(float)

    class StopAt(Observer):
        def on_step(self, view):
            return view.n_iter == 7

    results = []
    for max_iter, observers in [(100, [StopAt()]), (7, [])]:
        path = make_path(
            X, Y, np.ones(20), coef=np.zeros((1, 1, 50)), intercept=np.zeros((1, 1)),
            learning_rates=[0.1], alpha=0.0, fit_intercept=True, solver="gram",
        )  # fmt: skip
        results.append(descend(path, max_iter=max_iter, observers=observers))
    stopped, exact = results
    assert stopped.status[0] == STOPPED and stopped.n_iter[0] == 7
    assert_array_equal(stopped.coef, exact.coef)
    assert_array_equal(stopped.loss_curves[0], exact.loss_curves[0])


def test_doc_links_point_to_our_api_pages():
    base = "https://sklearn-catneuron.readthedocs.io/en/latest/generated/"
    assert SigmoidNeuronClassifier()._get_doc_link() == (
        base + "sklearn_catneuron.SigmoidNeuronClassifier.html"
    )
    assert SigmoidNeuronClassifierCV()._get_doc_link() == (
        base + "sklearn_catneuron.SigmoidNeuronClassifierCV.html"
    )
    assert "sklearn_catneuron.SigmoidNeuronClassifier.html" in (
        SigmoidNeuronClassifier()._repr_html_()
    )


def test_cv_takes_groups_like_grid_search(rng):
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    groups = np.arange(60) // 10
    rates = [0.01, 0.1, 1.0]
    model = SigmoidNeuronClassifierCV(
        learning_rates=rates, cv=GroupKFold(3), max_iter=50
    ).fit(X, y, groups=groups)
    search = GridSearchCV(
        SigmoidNeuronClassifier(max_iter=50),
        {"learning_rate": rates},
        cv=GroupKFold(3),
    ).fit(X, y, groups=groups)
    assert_allclose(
        model.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"]
    )
    with pytest.raises(ValueError, match="groups"):
        SigmoidNeuronClassifierCV(cv=GroupKFold(3), max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="colour"):
        SigmoidNeuronClassifierCV(max_iter=5).fit(X, y, colour=1)


def test_cv_routes_groups_with_metadata_routing(rng):
    import sklearn

    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    groups = np.arange(60) // 10
    with sklearn.config_context(enable_metadata_routing=True):
        model = SigmoidNeuronClassifierCV(
            learning_rates=[0.1, 1.0], cv=GroupKFold(3), max_iter=30
        ).fit(X, y, groups=groups)
    plain = SigmoidNeuronClassifierCV(
        learning_rates=[0.1, 1.0], cv=GroupKFold(3), max_iter=30
    ).fit(X, y, groups=groups)
    assert_array_equal(model.scores_, plain.scores_)


def test_cv_fold_blocks_keep_each_folds_iterates(cat):
    """The per-fold sub-Gram products give each fold the reference iterates.

    Three folds of the cat data, two learning rates each: every column's
    descent, run with the per-support blocks of ``G``, matches the reference
    loop on that fold's training samples alone, and the one wide product.
    """
    X, y, _, _ = cat
    folds = [np.arange(len(y)) % 3 != k for k in range(3)]
    weight = np.repeat(np.column_stack(folds).astype(float), 2, axis=1)
    rates = np.tile([0.005, 0.001], 3)

    def run(groups):
        path = make_path(
            X, y[:, None].astype(float), weight, coef=np.zeros((6, 1, X.shape[1])),
            intercept=np.zeros((6, 1)), learning_rates=rates, alpha=0.0,
            fit_intercept=True, solver="gram",
        )  # fmt: skip
        assert isinstance(path, _engine._GroupedPath) == groups
        if groups:
            assert [len(p.rows) for _, p in path.groups] == [139, 139, 140]
        return descend(path, max_iter=200)

    with_blocks = run(True)
    for k, train in enumerate(folds):
        for j, rate in enumerate([0.005, 0.001]):
            w, b = reference_loop(X[train], y[train], 200, learning_rate=rate)
            coef = with_blocks.coef[2 * k + j, 0]
            assert_allclose(coef, w, rtol=1e-10, atol=1e-12 * np.abs(w).max())
            assert_allclose(with_blocks.intercept[2 * k + j, 0], b, rtol=1e-10)
    # The same descent through the one wide product of G.
    original = _engine._support_groups
    try:
        _engine._support_groups = lambda weight, gram: None
        wide = run(False)
    finally:
        _engine._support_groups = original
    assert_allclose(with_blocks.coef, wide.coef, rtol=1e-12, atol=1e-15)
    assert_allclose(with_blocks.loss_curves, wide.loss_curves, rtol=1e-12)


class _EveryStep(Observer):
    """Watches every step, so the loop takes them one at a time."""

    def on_step(self, view):
        return False


def _curves_close(left, right):
    for a, b in zip(left.loss_curves, right.loss_curves, strict=True):
        assert_allclose(a, b, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("cost_every", [1, 100])
def test_steps_run_in_blocks_equal_single_steps(cat, cost_every):
    """Without rules or watchers the path runs the steps up to each costs
    check at once (``advance``); with a watcher, one at a time."""
    X, y, _, _ = cat

    def run(observers):
        path = make_path(
            X, y[:, None].astype(float), np.ones(len(y)),
            coef=np.zeros((1, 1, X.shape[1])), intercept=np.zeros((1, 1)),
            learning_rates=[0.005], alpha=0.0, fit_intercept=True, solver="gram",
        )  # fmt: skip
        return descend(path, max_iter=250, observers=observers, cost_every=cost_every)

    blocks, single = run([]), run([_EveryStep()])
    assert_array_equal(blocks.coef, single.coef)
    assert_array_equal(blocks.intercept, single.intercept)
    assert_array_equal(blocks.loss_curves[0], single.loss_curves[0])
    assert np.isfinite(blocks.loss_curves[0]).sum() == (250 if cost_every == 1 else 4)


@pytest.mark.parametrize("cost_every", [1, 100])
def test_fold_groups_step_as_one_stack(cat, cost_every, monkeypatch):
    """Five folds of 167 or 168 training rows, three rates each: the groups
    stepped as one padded stack equal each group stepped alone, the plain
    one-step-at-a-time loop and the one wide product of ``G``."""
    X, y, _, _ = cat
    folds = [np.arange(len(y)) % 5 != k for k in range(5)]
    weight = np.repeat(np.column_stack(folds).astype(float), 3, axis=1)
    # Rates of 0.01 and more amplify rounding on some folds (the descent
    # overshoots); these do not.
    rates = np.tile([0.005, 0.001, 0.002], 5)

    def run(observers=()):
        path = make_path(
            X, y[:, None].astype(float), weight, coef=np.zeros((15, 1, X.shape[1])),
            intercept=np.zeros((15, 1)), learning_rates=rates, alpha=0.0,
            fit_intercept=True, solver="gram",
        )  # fmt: skip
        result = descend(path, max_iter=250, observers=observers, cost_every=cost_every)
        return path, result

    path, stacked = run()
    assert isinstance(path, _engine._GroupedPath)
    assert sorted(len(p.rows) for _, p in path.groups) == [167, 167, 167, 167, 168]
    assert path._stack is not None
    _, plain = run([_EveryStep()])
    monkeypatch.setattr(_engine._GroupedPath, "_stacked", lambda self: None)
    _, per_group = run()
    monkeypatch.setattr(_engine, "_support_groups", lambda weight, gram: None)
    wide_path, wide = run()
    assert isinstance(wide_path, _engine._GramPath)
    for other in (plain, per_group, wide):
        assert_allclose(stacked.coef, other.coef, rtol=1e-12, atol=1e-15)
        assert_allclose(stacked.intercept, other.intercept, rtol=1e-12)
        _curves_close(stacked, other)
    # Each column is the descent on its fold's rows alone.
    w, b = reference_loop(X[folds[3]], y[folds[3]], 250, learning_rate=0.002)
    assert_allclose(stacked.coef[11, 0], w, rtol=1e-10, atol=1e-12 * np.abs(w).max())
    assert_allclose(stacked.intercept[11, 0], b, rtol=1e-10)


def test_small_gram_steps_run_on_one_blas_thread(cat):
    """A 209 x 209 product per step runs on one BLAS thread (waking a second
    one costs more than it saves); the limit is given back afterwards."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    class Look(Observer):
        def __init__(self):
            self.seen = []

        def on_step(self, view):
            self.seen.append(blas_threads())
            return view.n_iter >= 2

    X, y, _, _ = cat
    before = blas_threads()
    look = Look()
    path = make_path(
        X, y[:, None].astype(float), np.ones(len(y)),
        coef=np.zeros((1, 1, X.shape[1])), intercept=np.zeros((1, 1)),
        learning_rates=[0.005], alpha=0.0, fit_intercept=True, solver="gram",
    )  # fmt: skip
    assert path.small_steps
    descend(path, max_iter=10, observers=[look])
    assert look.seen == [{1}, {1}]
    assert blas_threads() == before


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_fold_decisions_from_the_gram_matrix(cat, alpha):
    """A group's held-out scores from ``G[rows, R] u`` equal ``X[rows] coef^T +
    intercept`` of the formed ``coef``, with or without a penalty."""
    X, y, _, _ = cat
    folds = [np.arange(len(y)) % 3 != k for k in range(3)]
    weight = np.repeat(np.column_stack(folds).astype(float), 2, axis=1)
    gram = X @ X.T

    def run(final_params):
        path = make_path(
            X, y[:, None].astype(float), weight, coef=np.zeros((6, 1, X.shape[1])),
            intercept=np.zeros((6, 1)), learning_rates=np.tile([0.005, 0.001], 3),
            alpha=alpha, fit_intercept=True, solver="gram", gram=gram,
        )  # fmt: skip
        return descend(path, max_iter=150, final_params=final_params)

    formed, left = run(True), run(False)
    assert np.isnan(left.coef).all() and list(left.final_models) == list(range(6))
    # No NaN array the size of six models' weights: read-only views of one NaN.
    assert left.coef.shape == formed.coef.shape and not left.coef.flags.writeable
    assert np.isnan(left.intercept).all() and left.intercept.shape == (6, 1)
    assert left.coef.base.nbytes == left.coef.itemsize
    assert_array_equal(left.n_iter, formed.n_iter)
    for k, train in enumerate(folds):
        test = np.flatnonzero(~train)
        columns = np.zeros(6, dtype=bool)
        columns[2 * k : 2 * k + 2] = True
        decisions = left.path.decisions(columns, test, gram)
        expected = X[test] @ formed.coef[2 * k : 2 * k + 2, 0].T
        expected += formed.intercept[2 * k : 2 * k + 2, 0]
        assert_allclose(decisions, expected, rtol=1e-12, atol=1e-12)


def test_fold_decisions_need_a_start_from_zero(cat):
    X, y, _, _ = cat
    weight = np.column_stack([np.arange(len(y)) % 2 == k for k in range(2)])
    path = make_path(
        X, y[:, None].astype(float), weight.astype(float),
        coef=np.full((2, 1, X.shape[1]), 1e-3), intercept=np.zeros((2, 1)),
        learning_rates=[0.005, 0.005], alpha=0.0, fit_intercept=True,
        solver="gram",
    )  # fmt: skip
    with pytest.raises(ValueError, match="started from zero"):
        path.decisions(np.ones(2, dtype=bool), np.arange(3), X @ X.T)


def _stacked_equals_alone_and_wide(run, monkeypatch):
    """``run()`` as is, then with each group stepped alone, then as one wide
    product: the three results agree to rounding. Returns the first."""
    path, stacked = run()
    monkeypatch.setattr(_engine._GroupedPath, "_stacked", lambda self: None)
    _, alone = run()
    monkeypatch.setattr(_engine, "_support_groups", lambda weight, gram: None)
    _, wide = run()
    for other in (alone, wide):
        assert_allclose(stacked.coef, other.coef, rtol=1e-12, atol=1e-15)
        assert_allclose(stacked.intercept, other.intercept, rtol=1e-12)
        _curves_close(stacked, other)
    return path, stacked


def test_fold_groups_stack_from_random_weights(cat, monkeypatch):
    """Started from random weights (an offset ``X w_0 + b_0`` in each
    group), the stack equals each group stepped alone and the wide product."""
    X, y, _, _ = cat
    folds = [np.arange(len(y)) % 4 != k for k in range(4)]
    weight = np.repeat(np.column_stack(folds).astype(float), 2, axis=1)
    start = np.random.default_rng(0).normal(scale=1e-3, size=(1, X.shape[1]))

    def run():
        path = make_path(
            X, y[:, None].astype(float), weight,
            coef=np.broadcast_to(start, (8, 1, X.shape[1])),
            intercept=np.full((8, 1), 0.1), learning_rates=np.tile([0.005, 0.002], 4),
            alpha=0.0, fit_intercept=True, solver="gram",
        )  # fmt: skip
        return path, descend(path, max_iter=120)

    path, stacked = _stacked_equals_alone_and_wide(run, monkeypatch)
    assert path._stack is not None and path._stack.offset is not None
    w = stacked.coef[0, 0]
    assert not np.allclose(w, start[0])  # it moved


@pytest.mark.parametrize("case", ["one rate", "sample weights", "three classes"])
def test_fold_groups_stack_on_margins_as_the_tanh_steps(cat, case, monkeypatch):
    """The stack steps on margins (``exp`` form); each group alone and the wide
    product step with ``tanh``: equal to rounding, with one column a group
    (the step factor folded into ``G``), uneven sample weights (the factor per
    row), or three classes (signs that differ between columns: not stacked)."""
    X, y, _, _ = cat
    folds = [np.arange(len(y)) % 3 != k for k in range(3)]
    Y = y[:, None].astype(float)
    per_fold, rates = 1, [0.005] * 3
    weight = np.column_stack(folds).astype(float)
    if case != "one rate":
        per_fold, rates = 2, np.tile([0.005, 0.002], 3)
        weight = np.repeat(weight, 2, axis=1)
    if case == "sample weights":
        weight *= np.random.default_rng(1).uniform(0.2, 3, size=(len(y), 1))
    if case == "three classes":
        labels = np.arange(len(y)) % 3
        Y = (labels[:, None] == np.arange(3)).astype(float)
    n_models = 3 * per_fold

    def run():
        path = make_path(
            X, Y, weight, coef=np.zeros((n_models, Y.shape[1], X.shape[1])),
            intercept=np.zeros((n_models, Y.shape[1])), learning_rates=rates,
            alpha=0.0, fit_intercept=True, solver="gram",
        )  # fmt: skip
        return path, descend(path, max_iter=200)

    path, stacked = _stacked_equals_alone_and_wide(run, monkeypatch)
    assert isinstance(path, _engine._GroupedPath)
    assert (path._stack is None) == (case == "three classes")
    if case == "one rate":
        w, b = reference_loop(X[folds[1]], y[folds[1]], 200)
        assert_allclose(stacked.coef[1, 0], w, rtol=1e-10, atol=1e-12 * np.abs(w).max())
        assert_allclose(stacked.intercept[1, 0], b, rtol=1e-10)


def test_stacked_costs_are_those_of_the_last_advance_only():
    """The stack's costs come from the margins its last ``advance`` kept;
    asking twice, or for another number of steps, is an error, never costs
    from stale arrays."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 50))
    y = (X[:, 0] > 0).astype(float)[:, None]
    weight = np.repeat(
        np.column_stack([np.arange(30) % 3 != k for k in range(3)]), 2, axis=1
    ).astype(float)
    path = make_path(
        X, y, weight, coef=np.zeros((6, 1, 50)), intercept=np.zeros((6, 1)),
        learning_rates=np.tile([0.1, 0.01], 3), alpha=0.0, fit_intercept=True,
        solver="gram",
    )  # fmt: skip
    path.reserve(3)
    path.advance(range(3))
    assert path._stack is not None
    costs = path.costs(3)
    assert costs.shape == (3, 6) and np.isfinite(costs).all()
    assert_allclose(costs[0], np.log(2))  # zero weights: every margin 0
    with pytest.raises(RuntimeError, match="costs of 3 steps asked"):
        path.costs(3)
    path.advance(range(2))
    with pytest.raises(RuntimeError, match="the last advance kept 2"):
        path.costs(3)


def test_margin_steps_saturate_without_warnings(cat):
    """A margin past exp's range (about 709) is a step of 0, with no overflow
    warning: ``1 / (1 + inf) = 0``."""
    gram = np.array([[[1e3]]])
    v, buffer, margin = np.ones((1, 1, 1)), np.empty((1, 1, 1)), np.empty((1, 1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _engine._margin_steps([margin], gram, v, None, 2.0, buffer)
    assert margin[0, 0, 0] == 1e3 and v[0, 0, 0] == 1.0
    _engine._margin_steps([margin], -gram, v, None, 2.0, buffer)
    assert v[0, 0, 0] == 3.0  # exp(-1000) = 0: the whole step
