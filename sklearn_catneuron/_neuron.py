"""The sigmoid neuron: a from-scratch gradient-descent solver and its estimator."""

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scipy.special import log_expit, logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    indexing_dtype,
    move_to,
)
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from sklearn_catneuron._array_api import (
    device_namespace,
    float_dtypes,
    host_dtype,
    like,
    log_softmax_rows,
    to_host,
    xp_log_expit,
)
from sklearn_catneuron._dask import (
    ChunkedPath,
    is_dask_array,
    map_rows,
    validate_dask_data,
)
from sklearn_catneuron._engine import (
    DIVERGED,
    RAN_OUT,
    CallbackBridge,
    GradientTol,
    Momentum,
    NoImprovement,
    ValidationCurve,
    VerbosePrinter,
    choose_solver,
    descend,
    divergence_error,
    make_path,
)
from sklearn_catneuron._gram import known_finite
from sklearn_catneuron._threads import for_each_block

__all__ = ["SigmoidNeuronClassifier"]


_DOC_LINK = (
    "https://sklearn-catneuron.readthedocs.io/en/latest/generated/"
    "sklearn_catneuron.{estimator_name}.html"
)


def _cost(scores, Y, sample_weight, weight_sum, coef, alpha):
    """Mean (weighted) cross-entropy of each neuron, plus its L2 penalty.

    ``-log_expit(s * z)`` with ``s = 2y - 1`` is ``-y log a - (1 - y) log(1 - a)``
    written so that it never takes the log of 0.
    """
    losses = -log_expit((2.0 * Y - 1.0) * scores)
    cost = sample_weight @ losses / weight_sum
    if alpha:
        cost = cost + 0.5 * alpha * np.einsum("kd,kd->k", coef, coef)
    return cost


# Scores are computed in blocks of rows of about this many bytes of X. The
# blocks depend only on the shape and dtype of X, so the fused prediction path of
# NeuronPipeline (which scales each block into a reused buffer before its
# product) makes the same BLAS calls on the same shapes as decision_function
# on the whole X: a BLAS may sum a row's products in another order for another
# number of rows (OpenBLAS does, in the last rows of a product), never for
# the same shape. 768 KiB (8 rows of 64x64x3 float64 pixels): a block scaled
# into a buffer and multiplied at once stays in one core's L2 cache (2 MiB
# blocks did not, and took a third longer on one core).
_SCORE_BLOCK_BYTES = 3 << 18


def _score_row_blocks(n_samples, n_features, dtype):
    """Slices of rows in which the scores of ``X`` are computed.

    Blocks of about ``_SCORE_BLOCK_BYTES`` of ``X`` and at least 2 rows; a last
    block of 1 row joins the one before it (a one-row product is a BLAS dot,
    which may split its sum between threads, so its rounding would depend on
    the number of BLAS threads).
    """
    row_bytes = max(n_features * np.dtype(dtype).itemsize, 1)
    step = max(_SCORE_BLOCK_BYTES // row_bytes, 2)
    starts = list(range(0, n_samples, step))
    if len(starts) > 1 and n_samples - starts[-1] == 1:
        starts.pop()
    ends = [*starts[1:], n_samples] if starts else []
    return [slice(start, end) for start, end in zip(starts, ends, strict=True)]


class _BlockScores:
    """``X @ coef.T + intercept`` for a NumPy ``X``, filled block of rows by block.

    ``coef`` is cast to ``X``'s dtype for the product (``float32 @ float64``
    would leave BLAS and copy ``X``); the scores then take the dtype NumPy's
    promotion gives ``X`` and ``coef``, so float64 coefficients still give
    float64 scores. Each block of :func:`_score_row_blocks` is one product;
    blocks may be filled from several threads.
    """

    def __init__(self, coef, intercept, n_samples, n_features, dtype):
        self.blocks = _score_row_blocks(n_samples, n_features, dtype)
        self._weights = coef.astype(dtype, copy=False).T
        self._intercept = intercept
        self._scores = np.empty(
            (n_samples, coef.shape[0]), np.result_type(dtype, coef.dtype)
        )

    def fill(self, rows, X_rows):
        """Score ``X_rows``, the rows ``rows`` (one of ``blocks``) of ``X``."""
        scores = self._scores[rows]
        scores[...] = X_rows @ self._weights
        scores += self._intercept

    def result(self):
        """The scores: shape (n_samples,) for one neuron, else (n_samples, k)."""
        scores = self._scores
        return scores.ravel() if scores.shape[1] == 1 else scores


def _numpy_scores(X, coef, intercept):
    """``X @ coef.T + intercept`` for a NumPy ``X``, the products in BLAS.

    The blocks' products run in two threads (one with ``OMP_NUM_THREADS=1``,
    see ``_threads.thread_budget``): one product of a few rows does not keep
    the BLAS threads busy.
    """
    scores = _BlockScores(coef, intercept, *X.shape, X.dtype)
    for_each_block(scores.blocks, lambda share: lambda rows: scores.fill(rows, X[rows]))
    return scores.result()


def _labels_from_scores(scores, classes):
    """Predicted labels from NumPy scores: the sign, or the best neuron."""
    if scores.ndim == 1:
        return classes[(scores > 0).astype(np.intp)]
    return classes[scores.argmax(axis=1)]


def _log_proba_from_scores(scores):
    """Log-probabilities from NumPy scores (one-vs-rest sigmoids, normalised)."""
    if scores.ndim == 1:
        return np.column_stack([log_expit(-scores), log_expit(scores)])
    log_sigmoids = log_expit(scores)
    return log_sigmoids - logsumexp(log_sigmoids, axis=1, keepdims=True)


def _proba_from_log_proba(log_proba):
    """Probabilities from the NumPy log-probabilities."""
    return np.exp(log_proba)


def _check_class_weight(class_weight):
    """Refuse class weights that are negative, NaN or infinite."""
    if isinstance(class_weight, dict):
        for label, weight in class_weight.items():
            try:
                ok = bool(np.isfinite(weight) and weight >= 0)
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(
                    f"class_weight[{label!r}]={weight!r} is not a finite "
                    "non-negative number; give every class a weight >= 0."
                )


def _combined_weight(y, sample_weight, class_weight, dtype):
    """``sample_weight`` (None: ones) times the weights of ``class_weight``.

    The one place sample and class weights are combined: ``fit``,
    ``partial_fit``, the cross-validation folds and their scores use it.
    """
    _check_class_weight(class_weight)
    weight = np.ones(len(y), dtype) if sample_weight is None else sample_weight
    if class_weight is not None:
        weight = weight * compute_sample_weight(class_weight, y).astype(dtype)
    return weight


def _effective_sample_weight(X, y, sample_weight, class_weight):
    """Validated ``sample_weight`` times ``class_weight``, with a positive sum."""
    if sample_weight is not None:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=X.dtype, ensure_non_negative=True
        )
    sample_weight = _combined_weight(y, sample_weight, class_weight, X.dtype)
    if not sample_weight.sum() > 0:
        raise ValueError(
            "The sample weights (times class_weight) sum to 0; give some "
            "samples a positive weight."
        )
    return sample_weight


def _one_vs_rest(y, classes, dtype):
    """0/1 targets, one column per neuron: one for two classes, else one per class.

    Labels of ``y`` outside ``classes`` get all zeros.
    """
    if classes.size == 2:
        return (y == classes[1]).astype(dtype)[:, None]
    return (y[:, None] == classes).astype(dtype)


def _encode_targets(y, estimator_name, dtype):
    """Sorted classes and the one-vs-rest 0/1 targets, one column per neuron."""
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError(
            f"y contains only one class ({classes[0]!r}); "
            f"{estimator_name} needs samples of at least 2 classes."
        )
    return classes, _one_vs_rest(y, classes, dtype)


def _initial_params(init, random_state, fit_intercept, n_neurons, n_features, dtype):
    """Starting ``(coef, intercept)``: zeros, or small normal values."""
    if init == "random":
        rng = check_random_state(random_state)
        coef = rng.normal(scale=0.01, size=(n_neurons, n_features))
        intercept = rng.normal(scale=0.01, size=n_neurons)
        if not fit_intercept:
            intercept[:] = 0.0
        return coef.astype(dtype), intercept.astype(dtype)
    return np.zeros((n_neurons, n_features), dtype), np.zeros(n_neurons, dtype)


def _stop_rules(tol, n_iter_no_change, n_models):
    """The stop rules of ``tol`` and ``n_iter_no_change``."""
    rules = []
    if tol is not None:
        rules.append(GradientTol(tol))
    if n_iter_no_change is not None:
        rules.append(NoImprovement(tol or 0.0, n_iter_no_change, n_models))
    return rules


def _device_scores(X, coef, intercept, xp):
    """``X @ coef.T + intercept`` for a non-NumPy ``X`` (array API dispatch)."""
    dtype = xp.result_type(X.dtype, coef.dtype)
    scores = xp.astype(X, dtype) @ xp.astype(coef, dtype).T + intercept
    return xp.reshape(scores, (-1,)) if scores.shape[1] == 1 else scores


def _device_predict(scores, classes):
    """Labels from non-NumPy scores, as scikit-learn's linear classifiers do.

    ``classes`` stays in the namespace of the ``y`` given to ``fit``; the
    labels are returned in the namespace of the scores unless they are
    strings (NumPy only).
    """
    xp, _, device = get_namespace_and_device(scores)
    if scores.ndim == 1:
        indices = xp.astype(scores > 0, indexing_dtype(xp))
    else:
        indices = xp.argmax(scores, axis=1)
    xp_classes, _, device_classes = get_namespace_and_device(classes)
    indices = move_to(indices, xp=xp_classes, device=device_classes)
    y_pred = xp_classes.take(classes, indices, axis=0)
    if isinstance(y_pred, np.ndarray) and y_pred.dtype.kind in "OUS":
        return y_pred
    return move_to(y_pred, xp=xp, device=device)


def _validated_on_device(estimator, X, y, sample_weight, *, reset=True):
    """Validate a non-NumPy ``X`` (and ``y``) under array API dispatch.

    Returns ``X`` (still on its device), ``y`` as given to ``validate_data``
    (in its own namespace, for ``classes_``), and ``y`` and ``sample_weight``
    on the host: labels and weights are ``n`` numbers, prepared with NumPy.
    """
    xp, _ = device_namespace(X)
    X, y_device = validate_data(estimator, X, y, reset=reset, dtype=float_dtypes(xp))
    check_classification_targets(y_device)
    return X, y_device, to_host(y_device), to_host(sample_weight)


def _host_like(X):
    """A NumPy stand-in for ``X`` of the same length and float dtype.

    What the host-side helpers (``_check_sample_weight``, ``cv.split``) read
    of ``X`` is its length and dtype; NumPy ``X`` is returned as it is.
    """
    if device_namespace(X)[0] is None:
        return X
    return np.empty((X.shape[0], 0), dtype=host_dtype(X))


# The patience of early stopping when n_iter_no_change is None. On the cat
# images the validation cost jumps during the first steps, and on 20 %
# stratified splits of the training set it stays above its starting value ln 2
# for up to 178 steps before falling to its lowest value: a patience of 10,
# MLP's default, would stop at step 10 and keep the starting point.
_EARLY_STOPPING_PATIENCE = 200


def _check_validation_labels(X_val, y_val, classes):
    """``y_val`` as a 1-D array of labels among ``classes``, one per row."""
    y_val = column_or_1d(y_val)
    if len(y_val) != X_val.shape[0]:
        raise ValueError(
            f"X_val has {X_val.shape[0]} samples but y_val has {len(y_val)} "
            "labels; give one label per validation sample."
        )
    known = set(classes.tolist())
    unknown = [label for label in np.unique(y_val).tolist() if label not in known]
    if unknown:
        raise ValueError(
            f"y_val has labels {unknown} that are not among the classes of y "
            f"({classes.tolist()}); the validation labels must be training "
            "classes."
        )
    return y_val


def _validation_weight(X_val, y_val, sample_weight_val, class_weight, classes, y):
    """Validation sample weights times the training class weights, sum > 0.

    ``class_weight`` weighs the validation samples as it weighs the training
    ones ("balanced": the training set's class frequencies), so that the
    validation cost is the training cost's formula on other samples.
    """
    dtype = X_val.dtype
    if sample_weight_val is None:
        weight = np.ones(X_val.shape[0], dtype)
    else:
        try:
            weight = _check_sample_weight(
                sample_weight_val, X_val, dtype=dtype, ensure_non_negative=True
            )
        except ValueError as exc:  # its messages say "sample_weight"
            raise ValueError(f"sample_weight_val is not valid: {exc}") from exc
    if class_weight is not None:
        per_class = compute_class_weight(class_weight, classes=classes, y=y)
        weight = weight * per_class[np.searchsorted(classes, y_val)].astype(dtype)
    if not weight.sum() > 0:
        raise ValueError(
            "sample_weight_val (times class_weight) sums to 0; give some "
            "validation samples a positive weight."
        )
    return weight


@contextmanager
def _restored_on_failure(estimator):
    """Put the fitted attributes back as they were if the body raises.

    ``validate_data(reset=True)`` sets ``n_features_in_`` before the descent
    runs; a fit that fails or is interrupted (divergence, a KeyboardInterrupt
    from a callback) must not leave it beside the previous ``coef_``.
    """
    saved = {k: v for k, v in vars(estimator).items() if _is_fitted_name(k)}
    try:
        yield
    except BaseException:
        for name in [k for k in vars(estimator) if _is_fitted_name(k)]:
            delattr(estimator, name)
        for name, value in saved.items():
            setattr(estimator, name, value)
        raise


def _is_fitted_name(name):
    return name.endswith("_") and not name.startswith("_")


def _run_descent(estimator, X, y, path, *, rules, max_iter, verbose, metadata,
                 classes, cost_every=1, observers=()):  # fmt: skip
    """One descent of ``path`` under the estimator's callbacks and verbosity.

    The fit task's root context must be open (``_init_callback_context``);
    each step becomes one of its subtasks when callbacks are set. ``observers``
    are run first (e.g. a :class:`ValidationCurve` that may stop the descent).
    """
    observers = list(observers)
    if verbose:
        observers.append(VerbosePrinter(verbose))
    if getattr(estimator, "_skl_callbacks", None):

        def attributes(view):
            coef, intercept = view.params()
            curve = view.loss_curve()
            return {
                "classes_": classes,
                "coef_": coef,
                "intercept_": intercept,
                "n_iter_": view.n_iter,
                "loss_curve_": curve.mean(axis=1),
            }

        observers.append(
            CallbackBridge(
                estimator._callback_fit_ctx, estimator, X, y, metadata, attributes
            )
        )
    return descend(
        path, max_iter=max_iter, rules=rules, observers=observers,
        cost_every=cost_every,
    )  # fmt: skip


class _SigmoidNeuronPredictMixin:
    """Prediction from fitted ``coef_``, ``intercept_`` and ``classes_``.

    Shared by :class:`SigmoidNeuronClassifier` and
    :class:`SigmoidNeuronClassifierCV`, which differ only in how they fit.
    """

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

        Raises
        ------
        NotFittedError
            If the estimator is not fitted yet.
        ValueError
            If ``X`` is not valid input (NaN or inf, not 2-D, ...) or has
            another number of features than in ``fit``.

        See Also
        --------
        predict_proba : The scores through the sigmoid, as probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5).fit(X, [0, 0, 1, 1])
        >>> clf.decision_function([[0.1, 0.0], [0.9, 0.9]]).round(2)
        array([-5.83,  5.98])
        """
        check_is_fitted(self)
        if is_dask_array(X):
            n_outputs = None if len(self.intercept_) == 1 else len(self.intercept_)
            return self._map_dask_rows(self.decision_function, X, n_outputs)
        check_same_namespace(X, self, attribute="coef_", method="decision_function")
        xp, _ = device_namespace(X)
        X = validate_data(self, X, reset=False, dtype=float_dtypes(xp))
        if xp is not None:
            return _device_scores(X, self.coef_, self.intercept_, xp)
        return _numpy_scores(X, self.coef_, self.intercept_)

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

        Raises
        ------
        NotFittedError
            If the estimator is not fitted yet.
        ValueError
            If ``X`` is not valid input (NaN or inf, not 2-D, ...) or has
            another number of features than in ``fit``.

        See Also
        --------
        predict_proba : The probability of each class.
        decision_function : The scores the prediction is based on.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 0.9]])
        >>> y = ["ant", "bee", "cat", "cat"]  # three classes: one-vs-rest
        >>> clf = SigmoidNeuronClassifier(learning_rate=1.0, max_iter=500).fit(X, y)
        >>> clf.predict([[0.9, 0.1], [0.2, 0.8]])
        array(['bee', 'cat'], dtype='<U3')
        >>> clf.coef_.shape
        (3, 2)
        """
        if is_dask_array(X):
            return self._map_dask_rows(self.predict, X, None, self.classes_.dtype)
        check_same_namespace(X, self, attribute="coef_", method="predict")
        scores = self.decision_function(X)
        if not isinstance(scores, np.ndarray):
            return _device_predict(scores, self.classes_)
        return _labels_from_scores(scores, self.classes_)

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

        Raises
        ------
        NotFittedError
            If the estimator is not fitted yet.
        ValueError
            If ``X`` is not valid input (NaN or inf, not 2-D, ...) or has
            another number of features than in ``fit``.

        See Also
        --------
        predict_proba : The same, without the logarithm.

        Notes
        -----
        Computed with :func:`scipy.special.log_expit`, so it is finite even
        where a probability rounds to 0.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5).fit(X, [0, 0, 1, 1])
        >>> log_proba = clf.predict_log_proba([[0.1, 0.0], [-100.0, -100.0]])
        >>> np.exp(log_proba).sum(axis=1)
        array([1., 1.])
        >>> float(log_proba[1, 1].round())  # exp() of it rounds to 0; it is finite
        -1406.0
        """
        if is_dask_array(X):
            return self._map_dask_rows(self.predict_log_proba, X, len(self.classes_))
        check_same_namespace(X, self, attribute="coef_", method="predict_log_proba")
        scores = self.decision_function(X)
        if not isinstance(scores, np.ndarray):
            xp, _ = get_namespace(scores)
            if scores.ndim == 1:
                return xp.stack(
                    [xp_log_expit(-scores, xp), xp_log_expit(scores, xp)], axis=1
                )
            return log_softmax_rows(xp_log_expit(scores, xp), xp)
        return _log_proba_from_scores(scores)

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

        Raises
        ------
        NotFittedError
            If the estimator is not fitted yet.
        ValueError
            If ``X`` is not valid input (NaN or inf, not 2-D, ...) or has
            another number of features than in ``fit``.

        See Also
        --------
        predict : The most probable class.
        predict_log_proba : The logarithm of these probabilities.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5).fit(X, [0, 0, 1, 1])
        >>> clf.predict_proba([[0.1, 0.0], [0.9, 0.9]]).round(3)
        array([[0.997, 0.003],
               [0.003, 0.997]])
        """
        if is_dask_array(X):
            return self._map_dask_rows(self.predict_proba, X, len(self.classes_))
        check_same_namespace(X, self, attribute="coef_", method="predict_proba")
        log_proba = self.predict_log_proba(X)
        if not isinstance(log_proba, np.ndarray):
            return get_namespace(log_proba)[0].exp(log_proba)
        return _proba_from_log_proba(log_proba)

    def _map_dask_rows(self, method, X, n_outputs, dtype=None):
        """``method`` on each row chunk of a Dask ``X``, lazily (a Dask array)."""
        check_is_fitted(self)
        X = validate_dask_data(self, X, reset=False)
        return map_rows(method, X, n_outputs, X.dtype if dtype is None else dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.array_api_support = True
        return tags


class SigmoidNeuronClassifier(
    CallbackSupportMixin, _SigmoidNeuronPredictMixin, ClassifierMixin, BaseEstimator
):
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
        Number of gradient-descent steps (an upper bound when ``tol`` or
        ``n_iter_no_change`` is set). Memory does not grow with it, only with
        the steps actually taken.

    tol : float or None, default=None
        If None, run all ``max_iter`` steps (the reference). Otherwise stop
        after the step taken from an iterate whose gradient (weights and bias
        together, Euclidean norm) is at most ``tol``, for every neuron;
        ``n_iter_`` tells where. The gradient norm is zero exactly at the
        optimum of the convex cost, so it measures convergence, as
        ``LogisticRegression``'s ``tol`` does. A test on the decrease of the
        cost would not: at the default learning rate the cost on the cat
        images first oscillates and rises, and such a test stops there.

    n_iter_no_change : int or None, default=None
        If set, also stop once the training cost (mean over the neurons) has
        not improved on its best value by at least ``tol`` (0 if ``tol`` is
        None) for ``n_iter_no_change`` steps in a row, as in
        :class:`~sklearn.neural_network.MLPClassifier`. Beware that the early
        oscillation of the cost can outlast a small patience. With
        ``early_stopping`` it is the patience on the validation cost instead
        (200 if None).

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

    solver : {"auto", "primal", "gram"}, default="auto"
        How the steps are computed; all give the same iterates (to rounding).
        "primal" updates the weights, reading ``X`` twice per step. "gram"
        iterates in sample space: it computes ``X @ X.T`` once and then costs
        ``O(n_samples^2)`` per step and neuron, which is much cheaper when
        there are fewer samples than features (the cat images: 209 samples,
        12,288 features). "auto" picks "gram" when ``2 * n_samples <=
        n_features`` (``X @ X.T`` at most half the size of ``X``) and a rough
        flop count favours it, "primal" otherwise. An expert setting; the
        default is right almost always. Where the learning rate is so large
        that the descent overshoots (the cost rises for a while; on the cat
        images from about 0.01), any difference in rounding, between paths or
        BLAS builds, grows along the way, and fits agree only to a few
        percent.

    early_stopping : bool, default=False
        If True, hold out a validation set: ``X_val`` and ``y_val`` given to
        :meth:`fit`, else a stratified ``validation_fraction`` of the
        training data, split with ``random_state``. The descent stops once the
        validation cost has not improved on its best by more than ``tol`` (0
        if None) for ``n_iter_no_change`` steps in a row (200 if None), and
        keeps the weights of the step with the lowest validation cost
        (``best_iteration_``). The patience outlasts the early phase where
        the cost on the cat images jumps (0.693, 1.298, 0.626, 1.648, ... on
        the test set) or stays above its starting value (up to 178 steps on
        a 20 % split). What it buys there, measured: with the 50 test images
        as validation set it stops at step 350 and keeps step 150 (test
        accuracy 0.82 instead of 0.70 after 2,000 steps), but that chooses
        the step on the test set itself. On a 20 % split of the 209 training
        images (42 images), in 5 of 10 splits the validation cost never
        falls below its starting value ln 2, and the zero weights are kept
        (every image called non-cat: test accuracy 0.34); on the others the
        step kept lies between 213 and 453 and the test accuracy between
        0.48 and 0.68. The data set is too small to spare a validation set.
        Used by :meth:`fit`; :meth:`partial_fit` ignores it.

    validation_fraction : float, default=0.1
        The share of the training data held out, stratified by class, when
        ``early_stopping`` is True and :meth:`fit` gets no ``X_val``; unused
        otherwise. Strictly between 0 and 1.

    momentum : float, default=0.0
        Momentum of the descent, in [0, 1], with
        :class:`~sklearn.neural_network.MLPClassifier`'s meaning: each step
        adds ``momentum`` times the previous move to the gradient step. 0 is
        plain gradient descent (the reference). Iterates are the same on both
        solvers (the Gram path keeps the velocities in sample space). Used by
        :meth:`fit` (velocities start at zero, also with ``warm_start``);
        :meth:`partial_fit` takes plain steps.

    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (the gradient step is taken from
        the point the momentum leads to), as in ``MLPClassifier``; only
        when ``momentum > 0``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.

    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights; one row for two classes, one row per class otherwise.

    intercept_ : ndarray of shape (1,) or (n_classes,)
        Biases.

    n_iter_ : int
        Number of gradient-descent steps taken by the last ``fit`` (fewer than
        ``max_iter`` when a stop rule or a callback stopped it).

    loss_curve_ : ndarray of shape (`n_iter_`,)
        The cost before each step. With more than two classes, the mean of the
        one-vs-rest neurons' costs.

    validation_loss_curve_ : ndarray of shape (`n_iter_`,)
        The validation cost before each step, aligned with ``loss_curve_``:
        the (weighted) mean cross-entropy on the validation set, without the
        ``alpha`` penalty. Only when a validation set was used (``X_val`` or
        ``early_stopping``).

    best_iteration_ : int
        The number of steps after which the validation cost was lowest: 0 is
        the starting point, ``n_iter_`` the last iterate (whose cost is not in
        ``validation_loss_curve_``, the costs *before* each step). With
        ``early_stopping``, ``coef_`` and ``intercept_`` are those of that
        step. Only when a validation set was used.

    best_validation_loss_ : float
        The lowest validation cost, that of step ``best_iteration_``. Only
        when a validation set was used.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``; only when ``X`` has string
        feature names.

    See Also
    --------
    ImageFlattener : Flatten and scale images before this classifier.
    SigmoidNeuronClassifierCV : The learning rate chosen by cross-validation.
    CostCurveDisplay : Plot ``loss_curve_``.
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
    from zeros is fine. Every iterate is ``w_0`` times a decay factor plus a
    combination ``X.T @ u`` of the samples, which is what ``solver="gram"``
    iterates on.

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

    Progress and scores through scikit-learn's callbacks, one task per step:

    >>> from sklearn.callback import ScoringMonitor
    >>> monitor = ScoringMonitor(scoring="accuracy")
    >>> clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=3)
    >>> clf = clf.set_callbacks(monitor).fit(X, y)
    >>> [row["task_name"] for row in monitor.get_logs().data]
    ['fit', 'gradient step', 'gradient step', 'gradient step']
    """

    _doc_link_module = "sklearn_catneuron"
    _doc_link_template = _DOC_LINK

    _parameter_constraints: dict = {
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "init": [StrOptions({"zeros", "random"})],
        "random_state": ["random_state"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "solver": [StrOptions({"auto", "primal", "gram"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
    }

    def __init__(
        self,
        *,
        learning_rate=0.005,
        max_iter=2000,
        tol=None,
        n_iter_no_change=None,
        alpha=0.0,
        fit_intercept=True,
        init="zeros",
        random_state=None,
        class_weight=None,
        warm_start=False,
        verbose=0,
        solver="auto",
        early_stopping=False,
        validation_fraction=0.1,
        momentum=0.0,
        nesterovs_momentum=True,
    ):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.init = init
        self.random_state = random_state
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose
        self.solver = solver
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X, y, sample_weight=None, *, X_val=None, y_val=None,
        sample_weight_val=None,
    ):  # fmt: skip
        """Fit the neuron(s) by full-batch gradient descent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, e.g. flattened and scaled images.

        y : array-like of shape (n_samples,)
            Class labels (any sortable values, at least two distinct).

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; the cost is their weighted mean.

        X_val : array-like of shape (n_val, n_features), default=None
            Validation samples: their cost is recorded before each step
            (``validation_loss_curve_``) and, with ``early_stopping``, decides
            when to stop and which step to keep (instead of a split of ``X``).
            On the Gram path the cost comes from ``X_val @ X.T``, computed
            once: ``O(n_val n_samples)`` per step.

        y_val : array-like of shape (n_val,), default=None
            Labels of ``X_val``, among the classes of ``y``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Non-negative weights of the validation samples; ``class_weight``
            applies to them as in training.

        Returns
        -------
        self : SigmoidNeuronClassifier
            The fitted estimator.

        Raises
        ------
        ValueError
            If a parameter is out of its range (scikit-learn's
            ``InvalidParameterError``, which is also a ``TypeError``); if ``X``
            or ``y`` is not valid input (NaN or inf, strings, complex, not 2-D,
            no samples or no features, lengths that differ); if ``y`` holds a
            single class or continuous values; if ``sample_weight`` is
            negative, NaN, of the wrong length or sums to 0 (times
            ``class_weight``); if ``class_weight`` names a class not in ``y``;
            if ``X_val`` and ``y_val`` are not given together, differ in
            length, have other features than ``X`` or other labels than
            ``y``, or ``sample_weight_val`` is invalid;
            if ``warm_start`` meets other classes than the previous fit; or if
            the descent diverges (the cost stops being finite: lower
            ``learning_rate`` or scale ``X``).
        TypeError
            If ``X`` is a sparse matrix.

        Warns
        -----
        ConvergenceWarning
            If ``tol``, ``n_iter_no_change`` or ``early_stopping`` is set and
            did not stop the descent within ``max_iter`` steps.

        See Also
        --------
        predict : Predict classes with the fitted neuron(s).
        SigmoidNeuronClassifierCV.fit : Fit with the learning rate chosen by
            cross-validation.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
        >>> y = np.array([0, 0, 1, 1])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100)
        >>> clf.fit(X, y).n_iter_, clf.loss_curve_.shape
        (100, (100,))
        >>> print(f"{clf.loss_curve_[0]:.4f} -> {clf.loss_curve_[-1]:.4f}")
        0.6931 -> 0.1135

        With ``tol`` the descent stops once the gradient norm is at most
        ``tol``; separable data (as here) only gets there slowly without a
        penalty, since the weights grow without bound:

        >>> clf.set_params(max_iter=5000, tol=1e-2).fit(X, y).n_iter_
        482
        >>> clf.set_params(tol=1e-4, alpha=0.01).fit(X, y).n_iter_
        660

        A validation set gives ``validation_loss_curve_``; with
        ``early_stopping`` the descent keeps its best step:

        >>> X_val, y_val = np.array([[0.1, 0.3], [0.8, 0.9]]), np.array([0, 1])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5, max_iter=100)
        >>> clf.fit(X, y, X_val=X_val, y_val=y_val).validation_loss_curve_.shape
        (100,)
        >>> print(f"{clf.validation_loss_curve_[-1]:.4f}")
        0.1550
        """
        with _restored_on_failure(self):
            return self._fit(X, y, sample_weight, X_val, y_val, sample_weight_val)

    def _fit(self, X, y, sample_weight, X_val, y_val, sample_weight_val):
        dask = is_dask_array(X)
        y_device = None  # y in its own namespace, for a non-NumPy X
        if dask:
            X, y = validate_dask_data(self, X, y, reset=True)
        elif device_namespace(X)[0] is not None:
            if X_val is not None or y_val is not None or self.early_stopping:
                raise ValueError(
                    "X_val, y_val and early_stopping=True need NumPy input: the "
                    "validation curves are not computed on an array API device "
                    "yet. Pass NumPy arrays, or fit without a validation set."
                )
            X, y_device, y, sample_weight = _validated_on_device(
                self, X, y, sample_weight
            )
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32],
                ensure_all_finite=not known_finite(X),  # checked by the flattener
            )  # fmt: skip
        check_classification_targets(y)
        X, y, sample_weight, X_val, y_val = self._split_validation(
            X, y, sample_weight, X_val, y_val, sample_weight_val, dask
        )
        dtype = host_dtype(X)
        classes, Y = _encode_targets(y, type(self).__name__, dtype)
        weight = _effective_sample_weight(
            _host_like(X), y, sample_weight, self.class_weight
        )
        coef, intercept = self._initial_params(classes, Y.shape[1], X.shape[1], dtype)
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        ctx = self._init_callback_context(max_subtasks=self.max_iter)
        ctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)

        validation = None
        if X_val is not None:
            y_val = _check_validation_labels(X_val, y_val, classes)
            weight_val = _validation_weight(
                X_val, y_val, sample_weight_val, self.class_weight, classes, y
            )
            patience = self.n_iter_no_change or _EARLY_STOPPING_PATIENCE
            validation = ValidationCurve(
                X_val, _one_vs_rest(y_val, classes, X.dtype), weight_val,
                patience=patience if self.early_stopping else None,
                tol=self.tol or 0.0, keep_best=self.early_stopping,
            )  # fmt: skip
        rules = _stop_rules(
            self.tol, None if self.early_stopping else self.n_iter_no_change, 1
        )
        rule = None
        if self.momentum:
            rule = Momentum(self.momentum, self.nesterovs_momentum)
        start = {"coef": coef[None], "intercept": intercept[None]}
        if dask:
            path = ChunkedPath(
                X, Y, weight, **start, learning_rate=self.learning_rate,
                alpha=self.alpha, fit_intercept=self.fit_intercept,
            )  # fmt: skip
            if rule is not None:
                path.rule = rule
        else:
            solver = choose_solver(self.solver, *X.shape, Y.shape[1], self.max_iter)
            path = make_path(
                X, Y, weight, **start, learning_rates=[self.learning_rate],
                alpha=self.alpha, fit_intercept=self.fit_intercept, solver=solver,
                need_grad=self.tol is not None, rule=rule,
            )  # fmt: skip
        result = _run_descent(
            self, X, y, path, rules=rules, max_iter=self.max_iter,
            verbose=self.verbose, metadata=metadata, classes=classes,
            observers=[] if validation is None else [validation],
        )  # fmt: skip
        n_iter, loss_curve = int(result.n_iter[0]), result.loss_curves[0]
        if result.status[0] == DIVERGED:
            raise divergence_error(
                n_iter - 1, loss_curve[-1], self.learning_rate, self.alpha
            )
        if (rules or self.early_stopping) and result.status[0] == RAN_OUT:
            warnings.warn(
                f"Gradient descent did not converge (tol={self.tol}, "
                f"n_iter_no_change={self.n_iter_no_change}"
                f"{', early_stopping=True' if self.early_stopping else ''}) in "
                f"max_iter={self.max_iter} steps; increase max_iter, raise "
                "learning_rate or scale the features.",
                ConvergenceWarning,
                stacklevel=4,  # _fit, fit, _fit_context's wrapper, the caller
            )
        self.classes_ = classes if y_device is None else like(classes, y_device)
        self.coef_ = like(result.coef[0], X)
        self.intercept_ = like(result.intercept[0], X)
        self.loss_curve_ = like(loss_curve.mean(axis=1), X)
        self.n_iter_ = n_iter
        self._set_validation_attributes(validation, n_iter)
        ctx.call_on_fit_task_end(
            estimator=self, X=X, y=y, metadata=metadata, reconstruction_attributes={}
        )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Take one gradient-descent step on a batch (mini-batch descent).

        The first call fixes ``classes_`` (from ``classes``, required then) and
        ``n_features_in_``, and starts from ``init``; each call then takes one
        step of ``learning_rate`` on the batch's mean cost (with ``alpha``,
        ``fit_intercept`` and a dict ``class_weight`` as in ``fit``), appends
        the batch cost before the step to ``loss_curve_`` and adds 1 to
        ``n_iter_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch.

        y : array-like of shape (n_samples,)
            Its labels, all among ``classes``.

        classes : array-like of shape (n_classes,), default=None
            Every class of the whole data set; required on the first call,
            ignored (but checked) later.

        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's samples.

        Returns
        -------
        self : SigmoidNeuronClassifier
            The updated estimator.

        Raises
        ------
        ValueError
            If ``classes`` is missing on the first call or differs later, if
            ``y`` has a label outside ``classes_``, or with
            ``class_weight="balanced"`` (not defined for one batch).

        See Also
        --------
        fit : Full-batch descent on all the data at once.

        Examples
        --------
        Two mini-batches of two samples, one step each, for 50 passes:

        >>> import numpy as np
        >>> from sklearn_catneuron import SigmoidNeuronClassifier
        >>> X = np.array([[0.0, 0.1], [0.2, 0.1], [0.9, 0.8], [1.0, 0.7]])
        >>> y = np.array([0, 0, 1, 1])
        >>> clf = SigmoidNeuronClassifier(learning_rate=0.5)
        >>> for _ in range(50):
        ...     for batch in ([0, 2], [1, 3]):
        ...         clf = clf.partial_fit(X[batch], y[batch], classes=[0, 1])
        >>> clf.n_iter_, clf.loss_curve_.shape
        (100, (100,))
        >>> clf.predict([[0.1, 0.0], [0.9, 0.9]])
        array([0, 1])
        """
        with _restored_on_failure(self):
            return self._partial_fit(X, y, classes, sample_weight)

    def _partial_fit(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "coef_")
        if classes is not None:
            classes = unique_labels(classes)
        if first_call and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "list of every label of the whole data set."
            )
        if not first_call:
            if classes is not None and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()} is not the same as on the first "
                    f"call to partial_fit ({self.classes_.tolist()})."
                )
            classes = self.classes_
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole data set, so partial_fit "
                "cannot use it; pass a dict of class weights instead."
            )
        if len(classes) < 2:
            raise ValueError(
                f"classes={classes.tolist()} has only one class; "
                f"{type(self).__name__} needs at least 2."
            )
        if device_namespace(X)[0] is not None:
            X, _, y, sample_weight = _validated_on_device(
                self, X, y, sample_weight, reset=first_call
            )
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], reset=first_call
            )
        check_classification_targets(y)
        dtype = host_dtype(X)
        unknown = np.setdiff1d(y, classes)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()} that are not in classes="
                f"{classes.tolist()} given on the first call to partial_fit."
            )
        Y = _one_vs_rest(y, classes, dtype)
        weight = _effective_sample_weight(
            _host_like(X), y, sample_weight, self.class_weight
        )
        if first_call:
            coef, intercept = _initial_params(
                self.init, self.random_state, self.fit_intercept, Y.shape[1],
                X.shape[1], dtype,
            )  # fmt: skip
            loss_curve, n_iter = np.empty(0), 0
        else:
            coef, intercept = to_host(self.coef_), to_host(self.intercept_)
            loss_curve, n_iter = to_host(self.loss_curve_), self.n_iter_
        path = make_path(
            X, Y, weight, coef=coef[None], intercept=intercept[None],
            learning_rates=[self.learning_rate], alpha=self.alpha,
            fit_intercept=self.fit_intercept, solver="primal",
        )  # fmt: skip
        result = descend(path, max_iter=1)
        if result.status[0] == DIVERGED:
            raise divergence_error(
                0, result.loss_curves[0][-1], self.learning_rate, self.alpha
            )
        self.classes_ = classes
        self.coef_ = like(result.coef[0], X)
        self.intercept_ = like(result.intercept[0], X)
        loss_curve = np.concatenate([loss_curve, result.loss_curves[0].mean(1)])
        self.loss_curve_ = like(loss_curve, X)
        self.n_iter_ = n_iter + 1
        return self

    def _split_validation(self, X, y, sample_weight, X_val, y_val,
                          sample_weight_val, dask):  # fmt: skip
        """The training part and the validation set (``X_val`` None: none).

        Checks ``X_val`` against ``X``; with ``early_stopping`` and no
        ``X_val``, holds out a stratified ``validation_fraction`` of ``X``.
        """
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError(
                    "sample_weight_val was given without X_val and y_val; pass "
                    "the validation set too, or drop sample_weight_val."
                )
            if not self.early_stopping:
                return X, y, sample_weight, None, None
            if dask:
                raise ValueError(
                    "early_stopping=True cannot split a validation set off a Dask "
                    "X; pass an in-memory X_val and y_val to fit."
                )
            if sample_weight is not None:
                sample_weight = _check_sample_weight(
                    sample_weight, X, dtype=X.dtype, ensure_non_negative=True
                )
            # Imported here: sklearn.model_selection is slow to import, and
            # only early stopping without X_val needs it.
            from sklearn.model_selection import train_test_split

            arrays = [X, y] + ([] if sample_weight is None else [sample_weight])
            try:
                parts = train_test_split(
                    *arrays, test_size=self.validation_fraction, stratify=y,
                    random_state=self.random_state,
                )  # fmt: skip
            except ValueError as exc:
                raise ValueError(
                    f"early_stopping=True could not hold out a stratified "
                    f"validation_fraction={self.validation_fraction} of the "
                    f"{len(y)} samples ({exc}); pass X_val and y_val, or change "
                    "validation_fraction."
                ) from exc
            X, X_val, y, y_val = parts[:4]
            sample_weight = parts[4] if sample_weight is not None else None
            return X, y, sample_weight, X_val, y_val
        if X_val is None or y_val is None:
            given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
            raise ValueError(
                f"{given} was given without {missing}; pass both X_val and y_val "
                "(the validation samples and their labels), or neither."
            )
        if is_dask_array(X_val):
            raise ValueError(
                "X_val is a Dask array; pass the validation set in memory "
                "(a NumPy array, e.g. X_val.compute())."
            )
        original = X_val
        X_val = check_array(X_val, dtype=X.dtype, input_name="X_val")
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}; "
                "the validation samples need the same features as the training "
                "samples."
            )
        if not dask:
            validate_data(self, original, reset=False, skip_check_array=True)
        return X, y, sample_weight, X_val, y_val

    def _set_validation_attributes(self, validation, n_iter):
        """``validation_loss_curve_`` and the best step; none without one."""
        names = ("validation_loss_curve_", "best_iteration_", "best_validation_loss_")
        if validation is None:
            for name in names:
                vars(self).pop(name, None)  # from an earlier fit with a validation set
            return
        self.validation_loss_curve_ = np.array(validation.costs[:n_iter])
        self.best_iteration_ = validation.best_iteration
        self.best_validation_loss_ = validation.best
        if validation.best_params is not None:
            self.coef_, self.intercept_ = validation.best_params

    def _initial_params(self, classes, n_neurons, n_features, dtype):
        if self.warm_start and hasattr(self, "coef_"):
            if not np.array_equal(to_host(self.classes_), classes):
                raise ValueError(
                    f"warm_start=True needs the same classes as the previous fit: "
                    f"got {classes.tolist()}, previously {self.classes_.tolist()}. "
                    "Set warm_start=False to start afresh."
                )
            if self.coef_.shape[1] != n_features:
                raise ValueError(
                    f"warm_start=True needs X with as many features as the previous "
                    f"fit: X has {n_features} features, the previous coef_ has "
                    f"{self.coef_.shape[1]}. Set warm_start=False to start afresh."
                )
            coef, intercept = to_host(self.coef_), to_host(self.intercept_)
            return coef.astype(dtype), intercept.astype(dtype)
        return _initial_params(
            self.init,
            self.random_state,
            self.fit_intercept,
            n_neurons,
            n_features,
            dtype,
        )
