"""Array API support: arrays of other namespaces (PyTorch, CuPy, ...) on their device.

Under ``sklearn.set_config(array_api_dispatch=True)`` an estimator given an
array that is not a NumPy array fits in that array's namespace and on its
device, as scikit-learn's own array API estimators do
(``sklearn.utils._array_api``). NumPy input, with or without dispatch, never
comes here: it keeps the NumPy paths of :mod:`sklearn_catneuron._engine`, with
their buffers and in-place ufuncs.

What runs where for a non-NumPy ``X``: the labels, sample weights and starting
weights are prepared on the host with NumPy (they are ``n`` numbers, or ``d``
for the weights), then moved once to ``X``'s device; every step of the descent
(the products with ``X`` or its Gram matrix, the sigmoid, the update) runs on
the device through the array's own namespace (:class:`XpPrimalPath`,
:class:`XpGramPath`). Only small arrays come back to the host during the
descent: the costs of a block of steps (``(steps, M)``), the gradient norms
(``(M,)``, only with ``tol``) and the final ``coef`` and ``intercept``.
"""

import numpy as np
from sklearn import get_config
from sklearn.utils._array_api import (
    _is_numpy_namespace,
    _max_precision_float_dtype,
    get_namespace_and_device,
    move_to,
)

from sklearn_catneuron._engine import PlainStep

__all__ = [
    "XpGramPath",
    "XpPrimalPath",
    "device_namespace",
    "float_dtypes",
    "host_dtype",
    "like",
    "to_host",
]


def device_namespace(X):
    """``(xp, device)`` of ``X`` when it is a non-NumPy array under dispatch.

    ``(None, None)`` without ``array_api_dispatch``, and for NumPy arrays,
    lists, DataFrames and sparse matrices: those keep the NumPy code.
    """
    if not get_config()["array_api_dispatch"] or isinstance(X, np.ndarray):
        return None, None
    if not hasattr(X, "__array_namespace__") and not hasattr(X, "__dlpack__"):
        return None, None
    xp, is_array_api, device = get_namespace_and_device(X)
    if not is_array_api or _is_numpy_namespace(xp):
        return None, None
    return xp, device


def float_dtypes(xp):
    """The float dtypes ``validate_data`` may keep: float64 first, then float32."""
    if xp is None:
        return [np.float64, np.float32]
    return [xp.float64, xp.float32]


def host_dtype(X):
    """The NumPy float dtype matching the float dtype of ``X`` (any namespace)."""
    xp, _ = device_namespace(X)
    if xp is None:  # NumPy, Dask, ...: a NumPy dtype already
        return X.dtype
    return np.dtype(np.float32) if X.dtype == xp.float32 else np.dtype(np.float64)


def to_host(array):
    """``array`` as a NumPy array on the CPU (NumPy arrays and None as they are)."""
    if array is None or isinstance(array, np.ndarray):
        return array
    if not hasattr(array, "__array_namespace__") and not hasattr(array, "__dlpack__"):
        return array  # lists and other array-likes: validated later as usual
    return move_to(array, xp=np, device="cpu")


def like(array, reference):
    """The NumPy ``array`` moved to the namespace and device of ``reference``.

    Unchanged when ``reference`` is a NumPy array (or not an array), so the
    NumPy code is never touched. On a device without float64 (Apple MPS)
    float64 arrays become float32, as :func:`sklearn.utils._array_api.move_to`
    does.
    """
    if array is None or isinstance(reference, np.ndarray):
        return array
    xp, device = device_namespace(reference)
    if xp is None:
        return array
    return _put(array, xp, device)


def _put(array, xp, device):
    """A fresh C-contiguous copy of the NumPy ``array`` on ``device``."""
    array = np.array(array, copy=True, order="C")
    if _max_precision_float_dtype(xp, device) == xp.float32 and array.dtype == (
        np.float64
    ):
        array = array.astype(np.float32)
    return move_to(array, xp=xp, device=device)


def neg_log_sigmoid(t, xp):
    """``-log(sigmoid(t)) = log1p(exp(-|t|)) - min(t, 0)``: never overflows."""
    return xp.log1p(xp.exp(-xp.abs(t))) - xp.minimum(t, xp.zeros_like(t))


def xp_log_expit(t, xp):
    """``log(sigmoid(t))``, the same identity as :func:`neg_log_sigmoid`."""
    return xp.minimum(t, xp.zeros_like(t)) - xp.log1p(xp.exp(-xp.abs(t)))


def log_softmax_rows(log_sigmoids, xp):
    """``a - logsumexp(a, axis=1)`` for finite ``a`` (rows normalised)."""
    top = xp.max(log_sigmoids, axis=1, keepdims=True)
    total = xp.sum(xp.exp(log_sigmoids - top), axis=1, keepdims=True)
    return log_sigmoids - (top + xp.log(total))


class _XpWeights:
    """Sample weights on the device: shared (n,) or one column per neuron (n, M)."""

    def __init__(self, weight, unit, xp):
        self.xp, self.weight = xp, weight
        self.shared = weight.ndim == 1
        self.sum = xp.sum(weight) if self.shared else xp.sum(weight, axis=0)
        self.unit = unit

    def cost(self, losses):
        """Weighted mean of each column of ``losses`` (steps, n, M)."""
        if self.shared:
            return (self.weight @ losses) / self.sum
        return self.xp.sum(self.weight * losses, axis=-2) / self.sum

    def columns(self):
        """The weights as an (n, 1) or (n, M) array, or None if all ones."""
        if self.unit:
            return None
        return self.weight[:, None] if self.shared else self.weight

    def keep(self, index):
        if not self.shared:
            self.weight = self.xp.take(self.weight, index, axis=1)
            self.sum = self.xp.take(self.sum, index, axis=0)


class _XpPath:
    """What the two device paths share: targets, weights, the kept scores.

    The path interface of :mod:`sklearn_catneuron._engine`, written with the
    array API only (no ``out=``, no in-place ufuncs other than the update's
    ``-=``), for the namespace ``xp`` and the device of ``X``. Costs and
    gradient norms are handed to the loop as NumPy arrays.
    """

    def __init__(self, X, Y, weight, lr, alpha, n_models, rule, xp, device):
        self.xp, self.device = xp, device
        self.X, self.alpha = X, alpha
        self.n_models, self.n_neurons = n_models, Y.shape[1]
        targets = np.tile(Y, (1, n_models))
        self.targets = self._put(targets)
        self.signs = self._put(2.0 * targets - 1.0)
        unit = weight.ndim == 1 and bool(np.all(weight == 1))
        self.weights = _XpWeights(self._put(weight), unit, xp)
        self.lr = self._put(lr)
        self.rule = PlainStep() if rule is None else rule
        self.dtype, self.n_features = np.dtype(Y.dtype), X.shape[1]
        self._kept, self._sq_norms = {}, {}

    def _put(self, array):
        return _put(array, self.xp, self.device)

    def _index(self, columns):
        return self.xp.asarray(np.flatnonzero(columns), device=self.device)

    def reserve(self, block):
        self._kept, self._sq_norms = {}, {}

    def scores(self, slot):
        scores = self._scores()
        if slot is not None:
            self._kept[slot] = scores
            if self.alpha:
                self._sq_norms[slot] = self.sq_norms()
        return scores

    def costs(self, n_kept):
        xp = self.xp
        scores = xp.stack([self._kept[i] for i in range(n_kept)])
        if self.half:
            scores = 2 * scores  # exact
        costs = self.weights.cost(neg_log_sigmoid(self.signs * scores, xp))
        if self.alpha:
            sq_norms = xp.stack([self._sq_norms[i] for i in range(n_kept)])
            costs = costs + 0.5 * self.alpha * sq_norms
        return to_host(costs)

    def _keep_common(self, index):
        xp = self.xp
        self.weights.keep(index)
        self.targets = xp.take(self.targets, index, axis=1)
        self.signs = xp.take(self.signs, index, axis=1)
        self.lr = xp.take(self.lr, index, axis=0)
        self._kept, self._sq_norms = {}, {}


class XpPrimalPath(_XpPath):
    """:class:`~sklearn_catneuron._engine._PrimalPath`'s iterates, on the device."""

    half = False

    def __init__(self, X, Y, weight, coef, intercept, lr, alpha, fit_intercept,
                 n_models, rule, xp, device):  # fmt: skip
        super().__init__(X, Y, weight, lr, alpha, n_models, rule, xp, device)
        self.fit_intercept = fit_intercept
        self.coef = self._put(coef)
        self.intercept = self._put(intercept)
        self._grad = None  # computed by grad_norms for this step

    def _scores(self):
        return self.X @ self.coef.T + self.intercept

    def sq_norms(self):
        return self.xp.sum(self.coef * self.coef, axis=1)

    def residual(self, scores):
        residual = 1.0 / (1.0 + self.xp.exp(-scores)) - self.targets
        weight = self.weights.columns()
        return residual if weight is None else residual * weight

    def _divide(self, values):
        total = self.weights.sum
        return values / (total if total.ndim == 0 else total[:, None])

    def _gradient(self, residual):
        # Divide after the product, as the reference does.
        grad = self._divide(residual.T @ self.X)
        if self.alpha:
            grad = grad + self.alpha * self.coef
        return grad

    def grad_norms(self, residual):
        xp = self.xp
        self._grad = grad = self._gradient(residual)
        sq = xp.sum(grad * grad, axis=1)
        if self.fit_intercept:
            sq = sq + (xp.sum(residual, axis=0) / self.weights.sum) ** 2
        return to_host(xp.sqrt(sq))

    def step(self, residual):
        grad = self._gradient(residual) if self._grad is None else self._grad
        self._grad = None
        params, deltas = [self.coef], [grad * self.lr[:, None]]
        if self.fit_intercept:
            params.append(self.intercept)
            deltas.append(self.lr * (self.xp.sum(residual, axis=0) / self.weights.sum))
        self.rule.update(params, deltas)

    def keep(self, columns):
        index = self._index(columns)
        self._keep_common(index)
        self.coef = self.xp.take(self.coef, index, axis=0)
        self.intercept = self.xp.take(self.intercept, index, axis=0)
        self._grad = None

    def result(self, columns=None):
        """``(coef, intercept)`` of the selected columns, as NumPy arrays."""
        if columns is None:
            return to_host(self.coef), to_host(self.intercept)
        index = self._index(columns)
        return (
            to_host(self.xp.take(self.coef, index, axis=0)),
            to_host(self.xp.take(self.intercept, index, axis=0)),
        )


class XpGramPath(_XpPath):
    """:class:`~sklearn_catneuron._engine._GramPath`'s iterates, on the device.

    The same sample-space iterates ``w = c w_0 + X^T u`` and the same
    ``tanh`` residual on ``h = z / 2``, in the unfolded form (the bias kept
    apart, ``G`` as computed): one product with ``G`` per step.
    """

    half = True

    def __init__(self, X, Y, weight, coef, intercept, lr, alpha, fit_intercept,
                 n_models, rule, xp, device, gram=None):  # fmt: skip
        super().__init__(X, Y, weight, lr, alpha, n_models, rule, xp, device)
        self.gram = X @ X.T if gram is None else gram
        self.fit_intercept = fit_intercept
        n_columns = len(intercept)
        self.coef0 = self._put(coef)
        self.intercept = self._put(intercept)
        self.shrink = 1 - self.lr * alpha if alpha else None
        self.step_weight = 0.5 * self.lr / self.weights.sum
        if self.weights.columns() is not None:
            self.step_weight = self.weights.columns() * self.step_weight
        self.u = xp.zeros((X.shape[0], n_columns), dtype=X.dtype, device=device)
        self.decay = xp.ones(n_columns, dtype=X.dtype, device=device)
        self.warm = bool(np.any(coef))
        if self.warm:
            self.p = X @ self.coef0.T  # X w_0, once
            self.p_sq_norms = xp.sum(self.coef0 * self.coef0, axis=1)
        self._gu = None

    def _scores(self):
        self._gu = self.gram @ self.u
        scores = self._gu + self.intercept
        if self.warm:
            scores = scores + self.decay * self.p
        return scores * 0.5

    def sq_norms(self):
        xp = self.xp
        sq_norms = xp.sum(self.u * self._gu, axis=0)
        if self.warm:
            c = self.decay
            sq_norms = sq_norms + c * c * self.p_sq_norms
            sq_norms = sq_norms + 2 * c * xp.sum(self.p * self.u, axis=0)
        return sq_norms

    def residual(self, scores):
        return self.xp.tanh(scores) - self.signs  # 2 (sigmoid(z) - y)

    def grad_norms(self, residual):
        xp, alpha = self.xp, self.alpha
        a = residual * self.step_weight / self.lr  # s r / S
        sq = xp.sum(a * (self.gram @ a), axis=0)
        if alpha:
            sq = sq + 2 * alpha * xp.sum(a * self._gu, axis=0)
            sq = sq + alpha**2 * xp.sum(self.u * self._gu, axis=0)
            if self.warm:
                c = self.decay
                sq = sq + 2 * alpha * c * xp.sum((a + alpha * self.u) * self.p, axis=0)
                sq = sq + (alpha * c) ** 2 * self.p_sq_norms
        if self.fit_intercept:
            sq = sq + xp.sum(a, axis=0) ** 2
        return to_host(xp.sqrt(xp.clip(sq, min=0)))

    def step(self, residual):
        """One step from ``residual = 2 (sigmoid(z) - y)``, as on the host."""
        xp = self.xp
        residual = residual * self.step_weight  # lr s r / S
        if not self.rule.plain:
            params, deltas = [self.u], [residual]
            if self.shrink is not None:
                deltas[0] = residual + (1 - self.shrink) * self.u
                params.append(self.decay)
                deltas.append((1 - self.shrink) * self.decay)
            if self.fit_intercept:
                params.append(self.intercept)
                deltas.append(xp.sum(residual, axis=0))
            self.rule.update(params, deltas)
            return
        if self.fit_intercept:
            self.intercept -= xp.sum(residual, axis=0)
        if self.shrink is not None:
            self.u *= self.shrink
            self.decay *= self.shrink
        self.u -= residual

    def keep(self, columns):
        xp = self.xp
        index = self._index(columns)
        self._keep_common(index)
        self.coef0 = xp.take(self.coef0, index, axis=0)
        self.intercept = xp.take(self.intercept, index, axis=0)
        self.u = xp.take(self.u, index, axis=1)
        self.decay = xp.take(self.decay, index, axis=0)
        axis = self.step_weight.ndim - 1
        self.step_weight = xp.take(self.step_weight, index, axis=axis)
        if self.shrink is not None:
            self.shrink = xp.take(self.shrink, index, axis=0)
        if self.warm:
            self.p = xp.take(self.p, index, axis=1)
            self.p_sq_norms = xp.take(self.p_sq_norms, index, axis=0)

    def result(self, columns=None):
        """``(coef, intercept)`` of the selected columns: ``c w_0 + X^T u``."""
        xp = self.xp
        if columns is None:
            columns = np.ones(self.u.shape[1], dtype=bool)
        index = self._index(columns)
        coef = xp.take(self.u, index, axis=1).T @ self.X
        if self.warm:
            decay = xp.take(self.decay, index, axis=0)
            coef = coef + decay[:, None] * xp.take(self.coef0, index, axis=0)
        return to_host(coef), to_host(xp.take(self.intercept, index, axis=0))


def make_xp_path(X, Y, sample_weight, coef, intercept, lr, alpha, fit_intercept,
                 n_models, *, solver, gram, rule):  # fmt: skip
    """The device path for a non-NumPy ``X``; the other arrays are NumPy."""
    xp, device = device_namespace(X)
    args = (X, Y, sample_weight, coef, intercept, lr, alpha, fit_intercept,
            n_models, rule, xp, device)  # fmt: skip
    if solver == "gram":
        return XpGramPath(*args, gram=gram)
    return XpPrimalPath(*args)
