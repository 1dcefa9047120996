"""SigmoidNeuronClassifierCV: the same choice and scores as GridSearchCV, cheaper."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
)
from sklearn_catneuron._engine import descend, make_path

GRID_KEY = "sigmoidneuronclassifier__learning_rate"


def grid_search(rates, cv, scoring=None, **params):
    return GridSearchCV(
        make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(**params)),
        {GRID_KEY: list(rates)},
        cv=cv,
        scoring=scoring,
        n_jobs=1,
    )


def assert_same_search(cv_model, search, n_folds, rtol):
    """Same per-fold scores, means, ranks, chosen rate and refitted model."""
    results, expected = cv_model.cv_results_, search.cv_results_
    for k in range(n_folds):
        assert_allclose(
            results[f"split{k}_test_score"],
            expected[f"split{k}_test_score"],
            rtol=rtol,
            equal_nan=True,
        )
    assert_allclose(results["mean_test_score"], expected["mean_test_score"], rtol=rtol)
    assert_array_equal(results["rank_test_score"], expected["rank_test_score"])
    assert cv_model.learning_rate_ == next(iter(search.best_params_.values()))
    assert cv_model.best_index_ == search.best_index_
    assert cv_model.best_score_ == pytest.approx(search.best_score_, rel=rtol)
    best = search.best_estimator_
    best = best[-1] if hasattr(best, "steps") else best
    scale = np.abs(best.coef_).max()
    assert_allclose(cv_model.coef_, best.coef_, rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(cv_model.intercept_, best.intercept_, rtol=1e-9)
    assert_allclose(cv_model.loss_curve_, best.loss_curve_, rtol=1e-9)
    assert cv_model.n_iter_ == best.n_iter_


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_same_choice_and_scores_as_grid_search_on_cat_data(catvnoncat, scoring):
    X_train, y_train, X_test, y_test = catvnoncat
    # Rates where the descent is stable on this data. From about 0.01 on it
    # overshoots for a while (the cost rises), which amplifies rounding
    # differences between any two implementations far beyond 1e-9.
    rates = [0.001, 0.002, 0.005]
    cv = StratifiedKFold(3)
    model = make_pipeline(
        ImageFlattener(),
        SigmoidNeuronClassifierCV(learning_rates=rates, cv=cv, scoring=scoring),
    ).fit(X_train, y_train)
    search = grid_search(rates, cv, scoring).fit(X_train, y_train)
    # Accuracies are the same fractions; log losses agree to rounding.
    assert_same_search(model[-1], search, 3, rtol=0 if scoring is None else 1e-9)
    assert model[-1].scores_.shape == (3, 3)
    assert_array_equal(model.predict(X_test), search.predict(X_test))
    assert_allclose(model.predict_proba(X_test), search.predict_proba(X_test))
    assert model.score(X_test, y_test) == search.best_estimator_.score(X_test, y_test)


@pytest.mark.parametrize(
    "n_samples, n_features, solver",
    [(40, 120, "gram"), (90, 6, "primal")],
)
@pytest.mark.parametrize("tol", [None, 0.02])
def test_same_scores_as_grid_search_on_synthetic_data(
    n_samples, n_features, solver, tol, rng
):
    X = rng.normal(size=(n_samples, n_features))
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    # 100.0 diverges with alpha=0.1 (each step multiplies w by about 1 - 10);
    # with tol, the models that converge stop on their own.
    rates = [0.003, 0.03, 0.3, 100.0]
    params = {"alpha": 0.1, "tol": tol, "init": "random", "random_state": 0}
    cv = KFold(4, shuffle=True, random_state=0)
    model = SigmoidNeuronClassifierCV(
        learning_rates=rates, cv=cv, scoring="neg_log_loss", max_iter=300,
        solver=solver, **params,
    )  # fmt: skip
    search = GridSearchCV(
        SigmoidNeuronClassifier(max_iter=300, **params),
        {"learning_rate": rates},
        cv=cv,
        scoring="neg_log_loss",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
        search.fit(X, y)
    assert_same_search(model, search, 4, rtol=1e-9)
    n_iter = np.array([model.cv_results_[f"split{k}_n_iter"] for k in range(4)])
    diverged = [w for w in caught if "diverged for learning_rates [100.0]" in str(w)]
    if tol is None:
        assert np.isnan(model.scores_[:, -1]).all()
        assert model.cv_results_["rank_test_score"][-1] == 4
        assert len(diverged) == 1
        assert (n_iter[:, :3] == 300).all() and (n_iter[:, 3] < 300).all()
    else:
        # Each (fold, rate) model stops on its own.
        assert len(diverged) == 1 and np.isfinite(model.scores_[:, :3]).all()
        assert len(np.unique(n_iter)) > 2 and (n_iter[:, :3] < 300).any()


@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_weighted_validation_matches_grid_search_with_routed_weights(scoring, rng):
    X = rng.normal(size=(60, 80))
    y = (X[:, 0] > 0.3).astype(int)
    sample_weight = rng.integers(1, 4, size=60).astype(float)
    class_weight = {0: 1.0, 1: 3.0}
    rates = [0.001, 0.01, 0.1]
    cv = StratifiedKFold(3)
    model = SigmoidNeuronClassifierCV(
        learning_rates=rates, cv=cv, scoring=scoring, max_iter=200,
        class_weight=class_weight,
    ).fit(X, y, sample_weight=sample_weight)  # fmt: skip
    # GridSearchCV weights validation samples only through metadata routing;
    # ours are weighted like the training cost: sample_weight * class_weight.
    score_weight = sample_weight * np.where(y == 1, 3.0, 1.0)
    with config_context(enable_metadata_routing=True):
        scorer = get_scorer(scoring or "accuracy").set_score_request(
            sample_weight="score_weight"
        )
        neuron = SigmoidNeuronClassifier(max_iter=200, class_weight=class_weight)
        search = GridSearchCV(
            neuron.set_fit_request(sample_weight=True),
            {"learning_rate": rates},
            cv=cv,
            scoring=scorer,
        ).fit(X, y, sample_weight=sample_weight, score_weight=score_weight)
    assert_same_search(model, search, 3, rtol=1e-9)


def test_n_jobs_spreads_folds_without_changing_results(rng):
    X = rng.normal(size=(50, 30))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    params = {"learning_rates": [0.01, 0.1, 1.0], "cv": 5, "max_iter": 100}
    params["scoring"] = "neg_log_loss"
    serial = SigmoidNeuronClassifierCV(**params).fit(X, y)
    parallel = SigmoidNeuronClassifierCV(n_jobs=2, **params).fit(X, y)
    assert_allclose(parallel.scores_, serial.scores_, rtol=1e-12)
    assert parallel.learning_rate_ == serial.learning_rate_
    assert_allclose(parallel.coef_, serial.coef_, rtol=1e-12)


def test_refit_false_averages_the_fold_models(rng):
    X = rng.normal(size=(45, 4))
    y = np.arange(45) % 3
    X[:, 0] += 2 * y
    cv = StratifiedKFold(3)
    model = SigmoidNeuronClassifierCV(
        learning_rates=[0.01, 0.1], cv=cv, refit=False, max_iter=100
    ).fit(X, y)
    folds = [
        SigmoidNeuronClassifier(learning_rate=model.learning_rate_, max_iter=100).fit(
            X[train], y[train]
        )
        for train, _ in cv.split(X, y)
    ]
    assert_allclose(model.coef_, np.mean([f.coef_ for f in folds], axis=0), rtol=1e-9)
    assert_allclose(
        model.intercept_, np.mean([f.intercept_ for f in folds], axis=0), rtol=1e-9
    )
    assert_array_equal(model.n_iter_, [100, 100, 100])
    assert not hasattr(model, "loss_curve_")
    assert model.predict(X).shape == (45,)


def test_a_fold_is_the_model_trained_without_its_validation_samples(rng):
    X = rng.normal(size=(30, 50))
    X[3] = 1e6  # an outlier, left out: it must not reach the first model
    Y = (X[:, :1] > 0).astype(float)
    weights = np.ones((30, 2))
    weights[3, 0] = 0.0
    weights[:10, 1] = 0.0
    for solver in ("gram", "primal"):
        path = make_path(
            X, Y, weights, coef=np.zeros((2, 1, 50)), intercept=np.zeros((2, 1)),
            learning_rates=[0.01, 0.01], alpha=0.1, fit_intercept=True,
            solver=solver,
        )  # fmt: skip
        batched = descend(path, max_iter=50)
        coefs, intercepts = batched.coef, batched.intercept
        assert_array_equal(batched.status, [0, 0])
        for m, kept in enumerate([np.arange(30) != 3, np.arange(30) >= 10]):
            alone = descend(
                make_path(
                    X[kept], Y[kept], np.ones(kept.sum()), coef=np.zeros((1, 1, 50)),
                    intercept=np.zeros((1, 1)), learning_rates=[0.01], alpha=0.1,
                    fit_intercept=True, solver="primal",
                ),
                max_iter=50,
            )  # fmt: skip
            assert_allclose(coefs[m], alone.coef[0], rtol=1e-9, atol=1e-15)
            assert_allclose(intercepts[m], alone.intercept[0], rtol=1e-9)
            assert_allclose(batched.loss_curves[m], alone.loss_curves[0], rtol=1e-9)


def test_float32_stays_float32(rng):
    X = rng.random((40, 60), dtype=np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    model = SigmoidNeuronClassifierCV(learning_rates=[0.1, 1.0], cv=3, max_iter=50)
    model.fit(X, y)
    assert model.coef_.dtype == np.float32
    assert model.predict_proba(X).dtype == np.float32


def test_verbose_prints_scores_and_refit_costs(capsys, rng):
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    SigmoidNeuronClassifierCV(
        learning_rates=[0.1, 0.5], cv=3, max_iter=101, verbose=1
    ).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("learning_rate=0.1: mean validation score 0.")
    assert lines[1].startswith("learning_rate=0.5: mean validation score 0.")
    assert lines[2] == "Cost after iteration 0: 0.693147"
    assert lines[3].startswith("Cost after iteration 100: ")
    assert len(lines) == 4


@pytest.mark.parametrize(
    "learning_rates", [[], [0.1, -0.1], [[0.1, 0.2]], [0.1, np.inf]]
)
def test_invalid_learning_rates_raise(learning_rates):
    model = SigmoidNeuronClassifierCV(learning_rates=learning_rates, cv=2)
    with pytest.raises(ValueError, match="learning_rates must be a non-empty 1-D"):
        model.fit([[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"scoring": "accuracyy"}, "'scoring' parameter"),
        ({"cv": "five"}, "'cv' parameter"),
        ({"solver": "dual"}, "'solver' parameter"),
        ({"max_iter": 0}, "'max_iter' parameter"),
    ],
)
def test_invalid_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        SigmoidNeuronClassifierCV(**params).fit([[0.0], [1.0]] * 5, [0, 1] * 5)


def test_a_training_fold_with_one_class_raises(rng):
    X = rng.normal(size=(8, 2))
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    folds = [(np.arange(4), np.arange(4, 8)), (np.arange(8), np.arange(8))]
    with pytest.raises(ValueError, match="training fold contains only class 0;"):
        SigmoidNeuronClassifierCV(cv=folds).fit(X, y)


def test_all_rates_diverging_raises(rng):
    X = rng.normal(size=(20, 3))
    y = np.arange(20) % 2
    model = SigmoidNeuronClassifierCV(learning_rates=[50.0, 100.0], alpha=1.0, cv=2)
    with pytest.raises(ValueError, match="diverged.*for every learning rate"):
        model.fit(X, y)


def test_fold_scores_from_the_gram_matrix_equal_those_from_coef(cat):
    """With ``refit=True`` and accuracy, the folds are scored from ``G`` and
    ``u`` without forming their ``coef``; ``refit=False`` forms them (to
    average them): the fold scores are the same, at every rate."""
    X, y, _, _ = cat
    rates = [1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1, 5e-1]
    cv = StratifiedKFold(5)
    from_gram = SigmoidNeuronClassifierCV(learning_rates=rates, cv=cv).fit(X, y)
    from_coef = SigmoidNeuronClassifierCV(learning_rates=rates, cv=cv, refit=False).fit(
        X, y
    )
    assert_array_equal(from_gram.scores_, from_coef.scores_)
    assert from_gram.learning_rate_ == from_coef.learning_rate_


def test_fold_scores_from_the_gram_matrix_with_a_diverged_rate(rng):
    """A rate that diverges scores NaN and the others as from ``coef``."""
    X = rng.normal(size=(40, 120))
    y = (X[:, 0] > 0).astype(int)
    rates = [0.003, 0.03, 100.0]  # 100 diverges with alpha=0.1
    cv = KFold(4, shuffle=True, random_state=0)
    params = {"learning_rates": rates, "cv": cv, "alpha": 0.1, "max_iter": 300}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_gram = SigmoidNeuronClassifierCV(**params).fit(X, y)
        from_coef = SigmoidNeuronClassifierCV(**params, refit=False).fit(X, y)
    assert np.isnan(from_gram.scores_[:, 2]).all()
    assert_array_equal(from_gram.scores_, from_coef.scores_)
