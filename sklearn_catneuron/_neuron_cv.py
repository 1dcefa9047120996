"""SigmoidNeuronClassifierCV: the learning rate chosen by cross-validation."""

import copy
import warnings
from numbers import Integral

import numpy as np
from joblib import effective_n_jobs
from scipy.stats import rankdata
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import check_scoring, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, validate_data

from sklearn_catneuron._array_api import device_namespace, host_dtype, like, to_host
from sklearn_catneuron._engine import (
    DIVERGED,
    RAN_OUT,
    choose_solver,
    descend,
    divergence_error,
    make_path,
)
from sklearn_catneuron._gram import gram_matrix, known_finite
from sklearn_catneuron._neuron import (
    _DOC_LINK,
    SigmoidNeuronClassifier,
    _combined_weight,
    _effective_sample_weight,
    _encode_targets,
    _host_like,
    _initial_params,
    _one_vs_rest,
    _restored_on_failure,
    _run_descent,
    _SigmoidNeuronPredictMixin,
    _stop_rules,
    _validated_on_device,
)

__all__ = ["SigmoidNeuronClassifierCV"]

_NEURON_PARAMS = (
    "max_iter",
    "tol",
    "n_iter_no_change",
    "alpha",
    "fit_intercept",
    "init",
    "random_state",
    "class_weight",
    "solver",
)


_NEURON_CONSTRAINTS = SigmoidNeuronClassifier._parameter_constraints


class SigmoidNeuronClassifierCV(
    CallbackSupportMixin, _SigmoidNeuronPredictMixin, ClassifierMixin, BaseEstimator
):
    """Sigmoid neuron(s) whose learning rate is chosen by cross-validation.

    In the manner of :class:`sklearn.linear_model.LogisticRegressionCV`: for
    every fold, the models of all the learning rates are trained together, as
    the columns of one weight matrix (one product with the data, or with its
    Gram matrix, per step for all of them; the folds share it too, as models
    that give zero weight to their validation samples). The learning rate with
    the best mean validation score is then refitted on all the data. The
    result is what :class:`~sklearn.model_selection.GridSearchCV` over
    ``learning_rate`` with the same folds gives, at a fraction of the work.

    Parameters
    ----------
    learning_rates : array-like of float, \
default=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5)
        The learning rates to try, all positive.

    cv : int, cross-validation generator or iterable, default=5
        As in :class:`~sklearn.model_selection.GridSearchCV`: an int is the
        number of stratified folds.

    scoring : str, callable or None, default=None
        Validation score, as in :func:`~sklearn.metrics.check_scoring`; None
        is the accuracy (``score``).

    n_jobs : int or None, default=None
        Number of joblib workers the folds are spread over; the folds given to
        one worker still share one descent. None means 1 unless in a
        :obj:`joblib.parallel_backend` context; -1 means all processors.

    refit : bool, default=True
        If True, refit on all the data with the best learning rate. If False,
        ``coef_`` and ``intercept_`` are the means of the fold models at the
        best learning rate (as in ``LogisticRegressionCV``).

    max_iter : int, default=2000
        Number of gradient-descent steps (an upper bound when ``tol`` is set).

    tol : float or None, default=None
        If None, run all ``max_iter`` steps; otherwise stop each model once
        its gradient norm is at most ``tol``, as in
        :class:`SigmoidNeuronClassifier`.

    n_iter_no_change : int or None, default=None
        As in :class:`SigmoidNeuronClassifier`, for each model.

    alpha : float, default=0.0
        Strength of the L2 penalty ``alpha / 2 * ||w||^2``.

    fit_intercept : bool, default=True
        Whether to learn a bias.

    init : {"zeros", "random"}, default="zeros"
        Starting weights. With "random" every fold, learning rate and the
        refit start from the same draw (as the clones of ``GridSearchCV`` do
        for an int or RandomState ``random_state``).

    random_state : int, RandomState instance or None, default=None
        Seed for ``init="random"``; unused otherwise.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the cost, computed on each training fold
        (and on all samples for the validation scores).

    verbose : int, default=0
        If 1 or more, print the mean validation score of each learning rate,
        and the refit's costs as :class:`SigmoidNeuronClassifier` does.

    solver : {"auto", "primal", "gram"}, default="auto"
        As in :class:`SigmoidNeuronClassifier`; "auto" looks at all the
        columns one worker descends together.

    Attributes
    ----------
    learning_rate_ : float
        The learning rate with the best mean validation score (the first one
        in ``learning_rates`` on ties, as ``GridSearchCV``).

    best_index_ : int
        Its index in ``learning_rates``.

    best_score_ : float
        Its mean validation score.

    scores_ : ndarray of shape (n_folds, n_learning_rates)
        Validation score of every fold and learning rate; NaN where the
        descent diverged.

    cv_results_ : dict of ndarrays
        As ``GridSearchCV.cv_results_``: ``params``, ``param_learning_rate``,
        ``split{k}_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``, and ``split{k}_n_iter``, the steps taken (for a
        diverged model, the step where that was caught: without ``tol``, fold
        costs are only checked every 100 steps and before the last one).

    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the refitted model (or the fold mean if ``refit=False``).

    intercept_ : ndarray of shape (1,) or (n_classes,)
        Biases.

    n_iter_ : int or ndarray of shape (n_folds,)
        Steps of the refit; with ``refit=False``, of each fold's model at the
        best learning rate.

    loss_curve_ : ndarray of shape (`n_iter_`,)
        The refit's cost before each step (only with ``refit=True``).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``; only when ``X`` has string
        feature names.

    See Also
    --------
    SigmoidNeuronClassifier : The neuron with a fixed learning rate.
    sklearn.model_selection.GridSearchCV : The general search this one matches.
    sklearn.linear_model.LogisticRegressionCV : The same idea for
        scikit-learn's logistic regression.

    Notes
    -----
    A model that gives zero weight to some samples follows exactly the
    iterates of the model trained without them, so a fold is the full data
    with its validation samples weighted 0. Each model stops on its own (its
    ``tol``, or divergence, which gives it a NaN score and a warning).
    Validation scores are weighted as the training cost is, by
    ``sample_weight`` times ``class_weight``: the learning rate is chosen for
    the objective being fitted. Without either, the scores are exactly those
    of ``GridSearchCV``, which weights validation samples only through
    metadata routing.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_catneuron import SigmoidNeuronClassifierCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    >>> clf = SigmoidNeuronClassifierCV(
    ...     learning_rates=[0.001, 0.01, 0.1], cv=3, scoring="neg_log_loss",
    ...     max_iter=200,
    ... ).fit(X, y)
    >>> clf.learning_rate_
    0.1
    >>> clf.scores_.shape  # (folds, learning rates)
    (3, 3)
    >>> clf.cv_results_["rank_test_score"]
    array([3, 2, 1], dtype=int32)
    >>> clf.score(X, y)
    1.0
    """

    _doc_link_module = "sklearn_catneuron"
    _doc_link_template = _DOC_LINK

    _parameter_constraints: dict = {
        **{
            name: constraint
            for name, constraint in _NEURON_CONSTRAINTS.items()
            if name in _NEURON_PARAMS or name == "verbose"
        },
        "learning_rates": ["array-like"],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "n_jobs": [Integral, None],
        "refit": ["boolean"],
    }

    def __init__(
        self,
        *,
        learning_rates=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
        cv=5,
        scoring=None,
        n_jobs=None,
        refit=True,
        max_iter=2000,
        tol=None,
        n_iter_no_change=None,
        alpha=0.0,
        fit_intercept=True,
        init="zeros",
        random_state=None,
        class_weight=None,
        verbose=0,
        solver="auto",
    ):
        self.learning_rates = learning_rates
        self.cv = cv
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.refit = refit
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.init = init
        self.random_state = random_state
        self.class_weight = class_weight
        self.verbose = verbose
        self.solver = solver

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate every learning rate, then refit the best one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, e.g. flattened and scaled images.

        y : array-like of shape (n_samples,)
            Class labels (any sortable values, at least two distinct).

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, for the fits and the validation scores.

        **params : dict
            ``groups`` for a group-aware ``cv`` (e.g.
            :class:`~sklearn.model_selection.GroupKFold`), as
            ``GridSearchCV.fit`` takes it. With metadata routing enabled
            (``sklearn.set_config(enable_metadata_routing=True)``), any
            metadata the ``cv`` splitter requests, as in
            ``LogisticRegressionCV``.

        Returns
        -------
        self : SigmoidNeuronClassifierCV
            The fitted estimator.

        Raises
        ------
        ValueError
            For the bad parameters and inputs that
            :meth:`SigmoidNeuronClassifier.fit` refuses; if ``learning_rates``
            is empty or holds a value that is not a positive finite number; if
            a training fold holds a single class, or its sample weights sum to
            0; if the descent diverges for every learning rate; or, with
            ``refit=False``, if some training folds lack a class.
        TypeError
            If ``X`` is a sparse matrix.

        Warns
        -----
        UserWarning
            If the descent diverges for some learning rates in some folds
            (their mean scores are NaN and rank last).
        ConvergenceWarning
            If ``tol`` is set and the refit does not reach it.

        See Also
        --------
        SigmoidNeuronClassifier.fit : Fit with one given learning rate.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifierCV
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 3))
        >>> y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
        >>> clf = SigmoidNeuronClassifierCV(
        ...     learning_rates=[0.01, 0.1, 1.0], cv=3, max_iter=100
        ... ).fit(X, y)
        >>> clf.cv_results_["mean_test_score"].round(3)
        array([0.983, 0.967, 0.983])
        >>> clf.learning_rate_  # ties go to the first, as in GridSearchCV
        0.01
        >>> clf.n_iter_, clf.loss_curve_.shape  # the refit on all 60 samples
        (100, (100,))
        """
        with _restored_on_failure(self):
            return self._fit(X, y, sample_weight, params)

    def _fit(self, X, y, sample_weight, params):
        split_params = self._split_params(sample_weight, params)
        y_device = None  # y in its own namespace, for a non-NumPy X
        if device_namespace(X)[0] is not None:
            X, y_device, y, sample_weight = _validated_on_device(
                self, X, y, sample_weight
            )
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32],
                ensure_all_finite=not known_finite(X),  # checked by the flattener
            )  # fmt: skip
        check_classification_targets(y)
        learning_rates = self._check_learning_rates()
        dtype = host_dtype(X)
        classes, Y = _encode_targets(y, type(self).__name__, dtype)
        user_weight = None
        if sample_weight is not None:
            user_weight = _check_sample_weight(
                sample_weight, _host_like(X), dtype=dtype, ensure_non_negative=True
            )
        score_weight = None  # validation weights: those of the training cost
        if user_weight is not None or self.class_weight is not None:
            score_weight = _combined_weight(y, user_weight, self.class_weight, dtype)
        cv = check_cv(self.cv, y, classifier=True)
        folds = list(cv.split(_host_like(X), y, **split_params))
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        ctx = self._init_callback_context(max_subtasks=2 if self.refit else 1)
        ctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        cv_task = ctx.subcontext(task_name="cross-validation")
        cv_task.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        n_folds, n_rates = len(folds), len(learning_rates)

        n_workers = min(n_folds, effective_n_jobs(self.n_jobs))
        chunks = np.array_split(np.arange(n_folds), n_workers)
        n_columns = max(map(len, chunks)) * n_rates * Y.shape[1]
        solver = choose_solver(
            self.solver, X.shape[0], X.shape[1], n_columns, self.max_iter
        )
        gram = gram_matrix(X) if solver == "gram" else None

        scorer = None  # accuracy, computed for all rates of a fold at once
        if self.scoring is not None:
            scorer = check_scoring(SigmoidNeuronClassifier(), scoring=self.scoring)
        fold_params = {name: getattr(self, name) for name in _NEURON_PARAMS}
        fold_params["solver"] = solver
        # Only refit=False (averaging) and other scorers use the fold models.
        keep_models = not self.refit or scorer is not None
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_and_score_folds)(
                X, y, user_weight, score_weight, [folds[k] for k in chunk],
                learning_rates, gram, scorer, fold_params, keep_models,
            )
            for chunk in chunks
        )  # fmt: skip
        scores = np.vstack([chunk_scores for chunk_scores, _, _ in results])
        n_iter = np.vstack([chunk_n_iter for _, chunk_n_iter, _ in results])
        fold_models = [model for _, _, models in results for model in models]
        self._store_cv_results(learning_rates, scores, n_iter)
        self._warn_about_failed_rates(learning_rates, scores)
        cv_task.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)

        if self.refit:
            self._refit(X, Y, classes, y, user_weight, gram, metadata)
        else:
            self._average_fold_models(classes, fold_models, n_iter)
        if y_device is not None:
            self._move_attributes(X, y_device)
        ctx.call_on_fit_task_end(
            estimator=self, X=X, y=y, metadata=metadata, reconstruction_attributes={}
        )
        return self

    def _move_attributes(self, X, y):
        """Fitted arrays to the namespace and device of ``X`` (``classes_``: of ``y``).

        ``cv_results_`` stays a dict of NumPy arrays, as in ``GridSearchCV``.
        """
        self.classes_ = like(self.classes_, y)
        for name in ("coef_", "intercept_", "loss_curve_", "scores_", "n_iter_"):
            value = getattr(self, name, None)
            if isinstance(value, np.ndarray):
                setattr(self, name, like(value, X))

    def _split_params(self, sample_weight, params):
        """The metadata for ``cv.split``: ``groups``, or what routing sends."""
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
            return routed.splitter.split
        params = dict(params)
        groups = params.pop("groups", None)
        _raise_for_params(params, self, "fit")
        return {} if groups is None else {"groups": groups}

    def get_metadata_routing(self):
        """Get the metadata routing of this object.

        ``fit`` routes metadata (e.g. ``groups``) to the ``cv`` splitter's
        ``split``.

        Returns
        -------
        routing : MetadataRouter
            The routing information.
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                splitter=check_cv(self.cv),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        )

    def _check_learning_rates(self):
        learning_rates = np.asarray(self.learning_rates, dtype=np.float64)
        if (
            learning_rates.ndim != 1
            or not learning_rates.size
            or not np.all(np.isfinite(learning_rates) & (learning_rates > 0))
        ):
            raise ValueError(
                "learning_rates must be a non-empty 1-D sequence of positive "
                f"finite floats; got {self.learning_rates!r}."
            )
        return learning_rates

    def _store_cv_results(self, learning_rates, scores, n_iter):
        n_folds, n_rates = scores.shape
        # The same arithmetic as GridSearchCV, so that ties break the same way.
        by_rate = np.array(scores.T, dtype=np.float64, order="C")
        means = np.average(by_rate, axis=1)
        stds = np.sqrt(np.average((by_rate - means[:, np.newaxis]) ** 2, axis=1))
        if np.isnan(means).all():
            ranks = np.ones(n_rates, dtype=np.int32)
        else:
            filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
            ranks = rankdata(-filled, method="min").astype(np.int32)
        results = {
            "params": [{"learning_rate": float(rate)} for rate in learning_rates],
            "param_learning_rate": learning_rates.copy(),
        }
        for k in range(n_folds):
            results[f"split{k}_test_score"] = by_rate[:, k]
        results["mean_test_score"] = means
        results["std_test_score"] = stds
        results["rank_test_score"] = ranks
        for k in range(n_folds):
            results[f"split{k}_n_iter"] = n_iter[k]
        self.cv_results_ = results
        self.scores_ = scores
        self.best_index_ = int(ranks.argmin())
        self.best_score_ = float(means[self.best_index_])
        self.learning_rate_ = float(learning_rates[self.best_index_])
        if self.verbose:
            for rate, mean in zip(learning_rates, means, strict=True):
                print(f"learning_rate={rate:g}: mean validation score {mean:.6f}")

    def _warn_about_failed_rates(self, learning_rates, scores):
        failed = np.isnan(scores).any(axis=0)
        if failed.all():
            raise ValueError(
                "Gradient descent diverged (or scoring failed) for every "
                f"learning rate in {learning_rates.tolist()}; try smaller "
                "learning rates, a smaller alpha, or scale X."
            )
        if failed.any():
            warnings.warn(
                f"Gradient descent diverged for learning_rates "
                f"{learning_rates[failed].tolist()} in some folds; their mean "
                "scores are NaN and rank last.",
                UserWarning,
                stacklevel=5,
            )

    def _refit(self, X, Y, classes, y, user_weight, gram, metadata):
        weight = _effective_sample_weight(
            _host_like(X), y, user_weight, self.class_weight
        )
        coef, intercept = _initial_params(
            self.init,
            _fresh(self.random_state),
            self.fit_intercept,
            Y.shape[1],
            X.shape[1],
            host_dtype(X),
        )
        need_grad = self.tol is not None
        if self.solver != "auto":
            solver = self.solver
        elif gram is not None:
            solver = "gram"  # X X^T is already paid for
        else:
            solver = choose_solver(
                "auto", X.shape[0], X.shape[1], Y.shape[1], self.max_iter
            )
        path = make_path(
            X, Y, weight, coef=coef[None], intercept=intercept[None],
            learning_rates=[self.learning_rate_], alpha=self.alpha,
            fit_intercept=self.fit_intercept, solver=solver,
            gram=gram if solver == "gram" else None, need_grad=need_grad,
        )  # fmt: skip
        refit = self._callback_fit_ctx.subcontext(
            task_name="refit", max_subtasks=self.max_iter
        )
        refit.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        rules = _stop_rules(self.tol, self.n_iter_no_change, 1)
        self._callback_fit_ctx, root = refit, self._callback_fit_ctx
        try:
            result = _run_descent(
                self, X, y, path, rules=rules, max_iter=self.max_iter,
                verbose=self.verbose, metadata=metadata, classes=classes,
            )  # fmt: skip
        finally:
            self._callback_fit_ctx = root
        n_iter, loss_curve = int(result.n_iter[0]), result.loss_curves[0]
        if result.status[0] == DIVERGED:
            raise divergence_error(
                n_iter - 1, loss_curve[-1], self.learning_rate_, self.alpha
            )
        if rules and result.status[0] == RAN_OUT:
            warnings.warn(
                f"Gradient descent did not converge (tol={self.tol}, "
                f"n_iter_no_change={self.n_iter_no_change}) in "
                f"max_iter={self.max_iter} steps with learning_rate="
                f"{self.learning_rate_}; increase max_iter or scale the features.",
                ConvergenceWarning,
                stacklevel=5,  # _refit, _fit, fit, _fit_context's wrapper
            )
        self.classes_ = classes
        self.coef_ = result.coef[0]
        self.intercept_ = result.intercept[0]
        self.loss_curve_ = loss_curve.mean(axis=1)
        self.n_iter_ = n_iter
        refit.call_on_fit_task_end(
            estimator=self, X=X, y=y, metadata=metadata, reconstruction_attributes={}
        )

    def _average_fold_models(self, classes, fold_models, n_iter):
        best = [models[self.best_index_] for models in fold_models]
        if any(not np.array_equal(model.classes_, classes) for model in best):
            raise ValueError(
                "refit=False averages the fold models, but some training folds "
                "lack a class; use refit=True or stratified folds."
            )
        self.classes_ = classes
        self.coef_ = np.mean([model.coef_ for model in best], axis=0)
        self.intercept_ = np.mean([model.intercept_ for model in best], axis=0)
        self.n_iter_ = n_iter[:, self.best_index_].copy()


def _fresh(random_state):
    """A copy of a RandomState, so that every fit starts from the same draw."""
    if isinstance(random_state, np.random.RandomState):
        return copy.deepcopy(random_state)
    return random_state


def _fold_weight(user_weight, y, train, class_weight, X):
    """Sample weights of one training fold over all samples, 0 outside it."""
    weight = np.zeros(len(y), dtype=host_dtype(X))
    weight[train] = _combined_weight(
        y[train],
        None if user_weight is None else user_weight[train],
        class_weight,
        weight.dtype,
    )
    if not weight.sum() > 0:
        raise ValueError(
            "The sample weights (times class_weight) of a training fold sum to "
            "0; give some samples of every fold a positive weight."
        )
    return weight


def _fit_and_score_folds(
    X, y, user_weight, score_weight, folds, learning_rates, gram, scorer, p,
    keep_models=True,
):  # fmt: skip
    """Descend all (fold, learning rate) models of ``folds`` together, score them.

    Folds whose training part holds the same classes share one descent (one
    product per step); a fold missing a class gets its own one-vs-rest targets.
    Without ``keep_models``, where the folds descended on their own rows from
    zero weights to ``max_iter``, the default accuracy comes from the
    held-out rows of ``G`` and ``u`` (``_GroupedPath.decisions``), and the
    fold models are neither formed nor returned (None).

    Returns
    -------
    scores : ndarray of shape (len(folds), n_rates)
    n_iter : ndarray of shape (len(folds), n_rates)
    models : list (one per fold) of lists (one per rate) of fitted neurons
    """
    n_rates = len(learning_rates)
    scores = np.full((len(folds), n_rates), np.nan)
    n_iter = np.zeros((len(folds), n_rates), dtype=int)
    models = [[None] * n_rates for _ in folds]
    groups = {}  # the classes of a training fold -> (classes, fold numbers)
    for k, (train, _) in enumerate(folds):
        fold_classes = np.unique(y[train])
        if fold_classes.size < 2:
            raise ValueError(
                f"A training fold contains only class {fold_classes[0]}; "
                "use fewer folds or stratified folds."
            )
        key = tuple(fold_classes.tolist())
        groups.setdefault(key, (fold_classes, []))[1].append(k)

    for fold_classes, members in groups.values():
        Y = _one_vs_rest(y, fold_classes, host_dtype(X))
        n_neurons = Y.shape[1]
        weights = np.column_stack(
            [
                _fold_weight(user_weight, y, folds[k][0], p["class_weight"], X)
                for k in members
            ]
        )
        coef, intercept = _initial_params(
            p["init"],
            _fresh(p["random_state"]),
            p["fit_intercept"],
            n_neurons,
            X.shape[1],
            host_dtype(X),
        )
        n_models = len(members) * n_rates  # model m is fold m // n_rates
        path = make_path(
            X, Y, np.repeat(weights, n_rates, axis=1),
            coef=np.broadcast_to(coef, (n_models, *coef.shape)),
            intercept=np.broadcast_to(intercept, (n_models, *intercept.shape)),
            learning_rates=np.tile(learning_rates, len(members)),
            alpha=p["alpha"], fit_intercept=p["fit_intercept"], solver=p["solver"],
            gram=gram if p["solver"] == "gram" else None,
            need_grad=p["tol"] is not None,
        )  # fmt: skip
        rules = _stop_rules(p["tol"], p["n_iter_no_change"], n_models)
        from_gram = (
            not keep_models
            and hasattr(path, "decisions")
            and not rules
            and not np.any(coef)
        )
        result = descend(
            path,
            max_iter=p["max_iter"],
            rules=rules,
            # Costs only matter for the stop rules, and to catch divergence.
            cost_every=100,
            final_params=not from_gram,
        )
        coefs, intercepts = result.coef, result.intercept
        steps, status = result.n_iter, result.status
        for i, k in enumerate(members):
            test = folds[k][1]
            test_weight = None if score_weight is None else score_weight[test]
            fold = slice(i * n_rates, (i + 1) * n_rates)
            n_iter[k] = steps[fold]
            if from_gram:
                scores[k] = _score_fold_from_gram(
                    result, np.arange(n_models)[fold], n_neurons, test, gram,
                    y[test], test_weight, fold_classes,
                )  # fmt: skip
                continue
            X_test, y_test = _rows(X, test, on_host=scorer is not None), y[test]
            for j, rate in enumerate(learning_rates):
                if status[fold][j] != DIVERGED:
                    models[k][j] = _fitted_neuron(
                        p, rate, fold_classes, coefs[fold][j], intercepts[fold][j],
                        steps[fold][j],
                    )  # fmt: skip
            scores[k] = _score_fold(
                models[k], X_test, y_test, test_weight, scorer, fold_classes
            )
    return scores, n_iter, models


def _rows(X, rows, *, on_host):
    """``X[rows]``, taken on the device for a non-NumPy ``X``.

    With ``on_host`` the rows are then copied to the host: a ``scoring`` other
    than the default scores NumPy arrays.
    """
    xp, device = device_namespace(X)
    if xp is None:
        return X[rows]
    taken = xp.take(X, xp.asarray(rows, device=device), axis=0)
    return to_host(taken) if on_host else taken


def _score_fold(models, X_test, y_test, sample_weight, scorer, classes):
    """Validation scores of one fold's models (None: a diverged model, NaN).

    The default score, accuracy, comes from one product for all the models
    and is averaged as ``accuracy_score`` averages; other scorers get each
    model. ``X`` was validated by ``fit``, so it is not scanned again.
    """
    scores = np.full(len(models), np.nan)
    fitted = [j for j, model in enumerate(models) if model is not None]
    if not fitted:
        return scores
    if scorer is not None:
        with config_context(assume_finite=True):
            for j in fitted:
                params = (
                    {} if sample_weight is None else {"sample_weight": sample_weight}
                )
                scores[j] = scorer(models[j], X_test, y_test, **params)
        return scores
    coef = np.stack([models[j].coef_ for j in fitted])  # (models, K, d)
    intercept = np.stack([models[j].intercept_ for j in fitted])
    decision = to_host(X_test @ like(coef.reshape(-1, coef.shape[-1]).T, X_test))
    decision = decision.reshape(X_test.shape[0], *intercept.shape) + intercept
    scores[fitted] = _accuracies(decision, classes, y_test, sample_weight)
    return scores


def _score_fold_from_gram(result, models, n_neurons, test, gram, y_test,
                          sample_weight, classes):  # fmt: skip
    """Accuracy of one fold's ``models`` left in ``result.path`` (NaN: diverged).

    Their scores on the held-out rows come from ``G`` (see
    ``_GroupedPath.decisions``): the same values as from ``coef``, to
    rounding.
    """
    scores = np.full(len(models), np.nan)
    final = list(result.final_models)
    fitted = [j for j, m in enumerate(models) if m in final]
    if not fitted:
        return scores
    columns = np.zeros(len(final) * n_neurons, dtype=bool)
    for j in fitted:
        start = final.index(models[j]) * n_neurons
        columns[start : start + n_neurons] = True
    decision = result.path.decisions(columns, test, gram)
    decision = decision.reshape(len(test), len(fitted), n_neurons)
    scores[fitted] = _accuracies(decision, classes, y_test, sample_weight)
    return scores


def _accuracies(decision, classes, y_test, sample_weight):
    """``accuracy_score`` of each model from its scores (n_test, models, K)."""
    if decision.shape[-1] == 1:
        predicted = classes[(decision[..., 0] > 0).astype(np.intp)]
    else:
        predicted = classes[decision.argmax(axis=-1)]
    correct = y_test[:, None] == predicted
    return np.array(
        [float(np.average(column, weights=sample_weight)) for column in correct.T]
    )


def _fitted_neuron(p, rate, classes, coef, intercept, n_iter):
    """A SigmoidNeuronClassifier holding one fold model, ready for scoring."""
    params = {name: p[name] for name in _NEURON_PARAMS}
    model = SigmoidNeuronClassifier(learning_rate=float(rate), **params)
    model.classes_ = classes
    model.coef_ = coef
    model.intercept_ = intercept
    model.n_iter_ = int(n_iter)
    model.n_features_in_ = coef.shape[1]
    return model
