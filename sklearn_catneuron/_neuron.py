"""The sigmoid neuron: a from-scratch gradient-descent solver and its estimator."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import expit, log_expit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

__all__ = ["SigmoidNeuronClassifier"]


def _cost(scores, Y, sample_weight, weight_sum, coef, alpha):
    """Mean (weighted) cross-entropy of each neuron, plus its L2 penalty.

    ``-log_expit(s * z)`` with ``s = 2y - 1`` is ``-y log a - (1 - y) log(1 - a)``
    written so that it never takes the log of 0.
    """
    signs = 2.0 * Y - 1.0
    losses = -log_expit(signs * scores)
    cost = sample_weight @ losses / weight_sum
    if alpha:
        cost = cost + 0.5 * alpha * np.einsum("kd,kd->k", coef, coef)
    return cost


def _gradient_descent(
    X,
    Y,
    sample_weight,
    *,
    coef,
    intercept,
    learning_rate,
    max_iter,
    tol,
    alpha,
    fit_intercept,
    verbose=0,
):
    """Full-batch gradient descent for ``K`` independent sigmoid neurons.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, K)
        Targets in {0, 1}, one column per neuron (one-vs-rest).
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights; the cost is their weighted mean.
    coef : ndarray of shape (K, n_features)
        Starting weights; not modified.
    intercept : ndarray of shape (K,)
        Starting biases; not modified.
    learning_rate, max_iter, tol, alpha, fit_intercept, verbose
        As in :class:`SigmoidNeuronClassifier`.

    Returns
    -------
    coef : ndarray of shape (K, n_features)
    intercept : ndarray of shape (K,)
    loss_curve : ndarray of shape (n_iter, K)
        The cost of each neuron before each step.
    n_iter : int
        Number of steps taken.
    converged : bool
        Whether ``tol`` was reached (always False when ``tol`` is None).
    """
    dtype = X.dtype
    coef = np.array(coef, dtype=dtype, order="C")
    intercept = np.array(intercept, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    sample_weight = np.asarray(sample_weight, dtype=dtype)
    weight_sum = sample_weight.sum()
    unit_weights = bool(np.all(sample_weight == 1))
    loss_curve = np.empty((max_iter, Y.shape[1]), dtype=np.float64)
    converged = False
    n_iter = 0
    with np.errstate(over="ignore", under="ignore"):
        for n_iter in range(1, max_iter + 1):
            scores = X @ coef.T
            scores += intercept
            cost = _cost(scores, Y, sample_weight, weight_sum, coef, alpha)
            if not np.all(np.isfinite(cost)):
                raise ValueError(
                    f"Gradient descent diverged at step {n_iter - 1} (cost "
                    f"{cost.mean()}); lower learning_rate={learning_rate} or "
                    f"alpha={alpha}, or scale X."
                )
            loss_curve[n_iter - 1] = cost
            if verbose and (verbose > 1 or (n_iter - 1) % 100 == 0):
                print(f"Cost after iteration {n_iter - 1}: {cost.mean():.6f}")
            residual = expit(scores)
            residual -= Y
            if not unit_weights:
                residual *= sample_weight[:, None]
            # Divide after the product, as the reference does, to keep its iterates.
            grad_coef = (residual.T @ X) / weight_sum
            if alpha:
                grad_coef += alpha * coef
            coef -= learning_rate * grad_coef
            if fit_intercept:
                intercept -= learning_rate * (residual.sum(axis=0) / weight_sum)
            if (
                tol is not None
                and n_iter > 1
                and loss_curve[n_iter - 2].mean() - cost.mean() < tol
            ):
                converged = True
                break
    return coef, intercept, loss_curve[:n_iter], n_iter, converged


class SigmoidNeuronClassifier(ClassifierMixin, BaseEstimator):
    """A single sigmoid neuron trained by full-batch gradient descent.

    The logistic unit of the classic "neural network from scratch" cat
    classifier: ``p(y=1 | x) = sigmoid(x @ w + b)``, fitted by plain gradient
    descent on the mean cross-entropy cost, written here from scratch. With more
    than two classes one neuron per class is trained (one-vs-rest).

    Parameters
    ----------
    learning_rate : float, default=0.005
        Step size of gradient descent.

    max_iter : int, default=2000
        Number of gradient-descent steps (an upper bound when ``tol`` is set).

    tol : float or None, default=None
        If None, run all ``max_iter`` steps. Otherwise stop after the first step
        whose cost is less than ``tol`` below the previous step's cost;
        ``n_iter_`` tells where.

    alpha : float, default=0.0
        Strength of the L2 penalty ``alpha / 2 * ||w||^2`` (not applied to the
        intercept).

    fit_intercept : bool, default=True
        Whether to learn a bias ``b``; if False it stays at its initial value 0.

    init : {"zeros", "random"}, default="zeros"
        Starting weights: all zeros (the reference), or small normal values
        (standard deviation 0.01) drawn from ``random_state``.

    random_state : int, RandomState instance or None, default=None
        Seed for ``init="random"``; unused otherwise.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``. "balanced"
        uses ``n_samples / (n_classes * np.bincount(y))``.

    warm_start : bool, default=False
        If True, ``fit`` starts from the previous ``coef_`` and ``intercept_``
        instead of ``init``; ``loss_curve_`` and ``n_iter_`` describe the new
        call only.

    verbose : int, default=0
        If 1, print the cost every 100 steps (as "Cost after iteration i");
        if 2 or more, at every step.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes, one row per class otherwise.

    intercept_ : ndarray of shape (1,) or (n_classes,)
        Biases.

    n_iter_ : int
        Number of gradient-descent steps taken by the last ``fit``.

    loss_curve_ : ndarray of shape (`n_iter_`,)
        The cost before each step. With more than two classes, the mean of the
        one-vs-rest neurons' costs.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``; only when ``X`` has string
        feature names.

    See Also
    --------
    ImageFlattener : Flatten and scale images before this classifier.
    sklearn.linear_model.LogisticRegression : The same model fitted by
        second-order solvers.

    Notes
    -----
    For sample weights ``s_i`` (default 1) the cost of a neuron is
    ``J = sum_i s_i * (-y_i log a_i - (1 - y_i) log(1 - a_i)) / sum_i s_i
    + alpha / 2 * ||w||^2`` with ``a_i = sigmoid(x_i @ w + b)``. Its gradients
    are ``dJ/dw = X.T @ (s * (a - y)) / sum(s) + alpha * w`` and
    ``dJ/db = sum(s * (a - y)) / sum(s)``; each step subtracts
    ``learning_rate`` times them. One neuron's cost is convex, so starting
    from zeros is fine.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_catneuron import SigmoidNeuronClassifier
    >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
    >>> y = np.array([0, 0, 1, 1])
    >>> clf = SigmoidNeuronClassifier(learning_rate=0.5).fit(X, y)
    >>> clf.predict([[0.1, 0.0], [0.9, 0.9]])
    array([0, 1])
    >>> round(float(clf.loss_curve_[0]), 6)  # ln 2 from zero weights
    0.693147
    """

    _parameter_constraints: dict = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "init": [StrOptions({"zeros", "random"})],
        "random_state": ["random_state"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        learning_rate=0.005,
        max_iter=2000,
        tol=None,
        alpha=0.0,
        fit_intercept=True,
        init="zeros",
        random_state=None,
        class_weight=None,
        warm_start=False,
        verbose=0,
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.init = init
        self.random_state = random_state
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the neuron(s) by full-batch gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, e.g. flattened and scaled images.

        y : array-like of shape (n_samples,)
            Class labels (any sortable values, at least two distinct).

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the cost is their weighted mean.

        Returns
        -------
        self : SigmoidNeuronClassifier
            The fitted estimator.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}); "
                f"{type(self).__name__} needs samples of at least 2 classes."
            )
        sample_weight = self._effective_sample_weight(X, y, sample_weight)
        Y = self._one_vs_rest_targets(y_index, classes.size, X.dtype)
        coef, intercept = self._initial_params(classes, X.shape[1], X.dtype)

        coef, intercept, loss_curve, n_iter, converged = _gradient_descent(
            X,
            Y,
            sample_weight,
            coef=coef,
            intercept=intercept,
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            tol=self.tol,
            alpha=self.alpha,
            fit_intercept=self.fit_intercept,
            verbose=self.verbose,
        )
        if self.tol is not None and not converged:
            warnings.warn(
                f"Gradient descent did not reach tol={self.tol} in "
                f"max_iter={self.max_iter} steps; increase max_iter, raise "
                "learning_rate or scale the features.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.classes_ = classes
        self.coef_ = coef
        self.intercept_ = intercept
        self.loss_curve_ = loss_curve.mean(axis=1)
        self.n_iter_ = n_iter
        return self

    def _effective_sample_weight(self, X, y, sample_weight):
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
        if self.class_weight is not None:
            sample_weight = sample_weight * compute_sample_weight(
                self.class_weight, y
            ).astype(X.dtype)
        if not sample_weight.sum() > 0:
            raise ValueError(
                "The sample weights (times class_weight) sum to 0; give some "
                "samples a positive weight."
            )
        return sample_weight

    @staticmethod
    def _one_vs_rest_targets(y_index, n_classes, dtype):
        if n_classes == 2:
            return (y_index == 1).astype(dtype)[:, None]
        return (y_index[:, None] == np.arange(n_classes)).astype(dtype)

    def _initial_params(self, classes, n_features, dtype):
        n_neurons = 1 if classes.size == 2 else classes.size
        if self.warm_start and hasattr(self, "coef_"):
            if not np.array_equal(self.classes_, classes):
                raise ValueError(
                    f"warm_start=True needs the same classes as the previous fit: "
                    f"got {classes.tolist()}, previously {self.classes_.tolist()}. "
                    "Set warm_start=False to start afresh."
                )
            return self.coef_, self.intercept_
        if self.init == "random":
            rng = check_random_state(self.random_state)
            coef = rng.normal(scale=0.01, size=(n_neurons, n_features))
            intercept = rng.normal(scale=0.01, size=n_neurons)
            if not self.fit_intercept:
                intercept[:] = 0.0
            return coef.astype(dtype), intercept.astype(dtype)
        return np.zeros((n_neurons, n_features), dtype), np.zeros(n_neurons, dtype)

    def decision_function(self, X):
        """Scores ``X @ coef_.T + intercept_``, before the sigmoid.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, positive scores favour ``classes_[1]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        scores = X @ self.coef_.T
        scores += self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict the class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            For two classes, ``classes_[1]`` where the probability exceeds 0.5.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.intp)]
        return self.classes_[scores.argmax(axis=1)]

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``. With more than two classes the
            one-vs-rest sigmoids are normalised to sum to one.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        log_sigmoids = log_expit(scores)
        return log_sigmoids - logsumexp(log_sigmoids, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; each row sums to one.
        """
        return np.exp(self.predict_log_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags
