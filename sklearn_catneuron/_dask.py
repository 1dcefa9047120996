"""Dask arrays: validation, chunk-wise gradient passes and row-wise prediction.

Nothing here imports dask at module import time: the package must stay light
without the ``[distributed]`` extra.
"""

import numpy as np
from scipy.special import expit, log_expit


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array``, without importing dask."""
    cls = type(X)
    return cls.__name__ == "Array" and cls.__module__.startswith("dask.array")


def validate_dask_data(estimator, X, y=None, *, reset):
    """``validate_data`` for a Dask ``X``: checks that need no pass over the data.

    ``X`` stays lazy (cast to float64 unless float32); ``y``, ``n_samples``
    labels, is computed into memory. NaN and infinity in ``X`` are caught by the
    first gradient pass.
    """
    from sklearn.utils.validation import (
        _check_feature_names,
        check_array,
        check_consistent_length,
        column_or_1d,
    )

    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D Dask array, got {X.ndim}D with shape {X.shape}; "
            f"flatten images first (e.g. with ImageFlattener) before {name}."
        )
    n_samples, n_features = X.shape
    if np.isnan(n_samples):
        raise ValueError(
            "X has unknown chunk sizes; call X.compute_chunk_sizes() first."
        )
    if n_samples < 1 or n_features < 1:
        raise ValueError(
            f"Found array with {n_samples} sample(s) and {n_features} feature(s) "
            f"(shape={X.shape}) while a minimum of 1 is required by {name}."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} needs a real numeric Dask array, got dtype {X.dtype}."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    _check_feature_names(estimator, X, reset=reset)
    if reset:
        estimator.n_features_in_ = n_features
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    if y is None:
        return X
    if is_dask_array(y):
        y = y.compute()
    y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    return X, y


def _block_gradient(X_block, Y_block, weight_block, coef, intercept, check_finite):
    """Weighted cost sums, ``r.T @ X`` and residual sums of one chunk."""
    if check_finite and not np.isfinite(X_block).all():
        raise ValueError(
            "Input X contains NaN or infinity; drop or impute those samples "
            "before fitting."
        )
    scores = X_block @ coef.T
    scores += intercept
    cost_sum = weight_block @ -log_expit((2.0 * Y_block - 1.0) * scores)
    residual = expit(scores)
    residual -= Y_block
    residual *= weight_block[:, None]
    return cost_sum, residual.T @ X_block, residual.sum(axis=0)


def _add(left, right):
    return tuple(a + b for a, b in zip(left, right, strict=True))


class ChunkedGradient:
    """One full-batch pass over a row-chunked Dask array per call.

    Each call builds a small graph, one task per row chunk plus a binary tree
    of additions, and computes it on the active scheduler (a
    ``dask.distributed`` client when one is active). The data is never gathered
    into one process; only ``K * (n_features + 2)`` numbers come back.
    """

    def __init__(self, X, Y, sample_weight):
        X = X.rechunk({1: -1})
        bounds = np.cumsum((0, *X.chunks[0]))
        self._blocks = [
            (block, Y[start:stop], sample_weight[start:stop])
            for block, start, stop in zip(
                X.to_delayed().ravel(), bounds[:-1], bounds[1:], strict=True
            )
        ]

    def __call__(self, coef, intercept, *, check_finite=False):
        import dask

        partials = [
            dask.delayed(_block_gradient, nout=3)(
                block, Y, w, coef, intercept, check_finite
            )
            for block, Y, w in self._blocks
        ]
        while len(partials) > 1:
            pairs = zip(partials[::2], partials[1::2], strict=False)
            merged = [dask.delayed(_add, nout=3)(a, b) for a, b in pairs]
            partials = merged + ([partials[-1]] if len(partials) % 2 else [])
        (total,) = dask.compute(partials[0])
        return total


class ChunkedPath:
    """The primal path of :mod:`sklearn_catneuron._engine` on a Dask ``X``.

    One model (``L = 1``) of ``K`` neurons, plain steps. Each step is one
    :class:`ChunkedGradient` pass, which gives the cost, the gradient and the
    residual sums at once: :meth:`scores` makes the pass, and the "scores" it
    hands the loop are those three results.
    """

    n_models = 1
    max_block = 1  # the costs come with each pass: nothing to defer

    def __init__(self, X, Y, sample_weight, *, coef, intercept, learning_rate,
                 alpha, fit_intercept):  # fmt: skip
        from sklearn_catneuron._engine import PlainStep

        dtype = X.dtype
        self.X, self.dtype, self.n_features = X, dtype, X.shape[1]
        self.n_neurons = Y.shape[1]
        self._gradient = ChunkedGradient(
            X, np.asarray(Y, dtype), np.asarray(sample_weight, dtype)
        )
        self.weight_sum = np.asarray(sample_weight, dtype).sum()
        self.coef = np.array(coef[0], dtype=dtype, order="C")
        self.intercept = np.array(intercept[0], dtype=dtype)
        self.lr, self.alpha, self.fit_intercept = learning_rate, alpha, fit_intercept
        self.rule = PlainStep()
        self._first = True
        self._costs = np.empty((1, self.n_neurons))

    def reserve(self, block):
        self._costs = np.empty((block, self.n_neurons))

    def scores(self, slot):
        cost_sum, grad, residual_sum = self._gradient(
            self.coef, self.intercept, check_finite=self._first
        )
        self._first = False
        cost = cost_sum / self.weight_sum
        if self.alpha:
            cost = cost + 0.5 * self.alpha * np.einsum("kd,kd->k", self.coef, self.coef)
        if slot is not None:
            self._costs[slot] = cost
        return grad, residual_sum

    def costs(self, n_kept):
        return self._costs[:n_kept].copy()

    def residual(self, scores):
        grad, residual_sum = scores
        grad /= self.weight_sum
        if self.alpha:
            grad += self.alpha * self.coef
        return grad, residual_sum / self.weight_sum

    def grad_norms(self, residual):
        grad, intercept_grad = residual
        sq = np.einsum("kd,kd->k", grad, grad)
        if self.fit_intercept:
            sq = sq + intercept_grad**2
        return np.sqrt(sq)

    def step(self, residual):
        grad, intercept_grad = residual
        params, deltas = [self.coef], [self.lr * grad]
        if self.fit_intercept:
            params.append(self.intercept)
            deltas.append(self.lr * intercept_grad)
        self.rule.update(params, deltas)

    def keep(self, columns):  # one model: never partly dropped
        pass

    def result(self, columns=None):
        return self.coef.copy(), self.intercept.copy()


def map_rows(method, X, n_outputs, dtype):
    """Apply a fitted estimator's ``method`` to each row chunk of a Dask ``X``.

    ``n_outputs`` is the number of output columns, or None for a 1-D result.
    """
    X = X.rechunk({1: -1})
    if n_outputs is None:
        return X.map_blocks(
            method, dtype=dtype, chunks=(X.chunks[0],), drop_axis=1,
            meta=np.empty((0,), dtype=dtype),
        )  # fmt: skip
    return X.map_blocks(
        method, dtype=dtype, chunks=(X.chunks[0], (n_outputs,)),
        meta=np.empty((0, 0), dtype=dtype),
    )  # fmt: skip
