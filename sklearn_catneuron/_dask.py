"""Dask arrays: lazy image flattening and chunk-wise gradient passes.

Nothing here imports dask at module import time: the package must stay light
without the ``[distributed]`` extra.
"""

import numpy as np
from scipy.special import expit, log_expit


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array``, without importing dask."""
    cls = type(X)
    return cls.__name__ == "Array" and cls.__module__.startswith("dask.array")


def _check_block_values(block, max_value):
    """The value checks of ImageFlattener, on one chunk."""
    if block.dtype.kind == "f":
        n_nan = int(np.count_nonzero(np.isnan(block)))
        n_inf = int(np.count_nonzero(np.isinf(block)))
        if n_nan or n_inf:
            raise ValueError(
                f"X contains {n_nan} NaN and {n_inf} infinite (inf) values in one "
                "chunk; replace or drop those images first."
            )
    n_low = int(np.count_nonzero(block < 0))
    n_high = int(np.count_nonzero(block > max_value))
    if n_low or n_high:
        what = "Negative values in data" if n_low else "Values above max_value"
        raise ValueError(
            f"{what} passed to ImageFlattener: {n_low} values below 0 and "
            f"{n_high} above max_value={max_value} in one chunk. Pixels must lie "
            f"in [0, {max_value}]; set max_value to the images' range."
        )


def _flatten_block(block, max_value, dtype):
    _check_block_values(block, max_value)
    return np.divide(block.reshape(block.shape[0], -1), max_value, dtype=dtype)


def flatten_images(X, max_value):
    """Lazily flatten and scale a Dask array of images, one row chunk at a time.

    Values are checked chunk by chunk when the result is computed.
    """
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    n_features = int(np.prod(X.shape[1:]))
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    return X.map_blocks(
        _flatten_block,
        max_value,
        dtype,
        dtype=dtype,
        chunks=(X.chunks[0], (n_features,)),
        drop_axis=tuple(range(2, X.ndim)),
        meta=np.empty((0, 0), dtype=dtype),
    )


def _block_gradient(X_block, Y_block, weight_block, coef, intercept):
    """Weighted cost sums, ``X.T @ residual`` and residual sums of one chunk."""
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
        import dask

        X = X.rechunk({1: -1})
        bounds = np.cumsum((0, *X.chunks[0]))
        self._blocks = [
            (block, Y[start:stop], sample_weight[start:stop])
            for block, start, stop in zip(
                X.to_delayed().ravel(), bounds[:-1], bounds[1:], strict=True
            )
        ]
        self._delayed = dask.delayed

    def __call__(self, coef, intercept):
        import dask

        partials = [
            self._delayed(_block_gradient, nout=3)(block, Y, w, coef, intercept)
            for block, Y, w in self._blocks
        ]
        while len(partials) > 1:
            pairs = zip(partials[::2], partials[1::2], strict=False)
            merged = [self._delayed(_add, nout=3)(a, b) for a, b in pairs]
            partials = merged + ([partials[-1]] if len(partials) % 2 else [])
        (total,) = dask.compute(partials[0])
        return total
