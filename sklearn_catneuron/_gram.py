"""What a fit from uint8 images can skip: its ``X`` is known pixels scaled.

A fit from uint8 images sees ``X = P / max_value`` with ``P`` integer and at
most ``max_value`` (the flattener checked), so ``X`` is finite: the classifier
need not scan it again (:func:`known_finite`). And its Gram matrix ``X X^T``
can be summed exactly (:func:`gram_matrix`). In float32, every product of two
pixels (at most 255^2) and every partial sum of at most 256 of them (at most
256 * 255^2 < 2^24) is an integer that float32 holds exactly, whatever order
BLAS adds them in. So ``P P^T`` is summed exactly in float64 from float32
products over blocks of 256 columns: the integer Gram matrix, then one
rounding when divided by ``max_value^2``. Float32 products run at twice the
float64 rate, so this is about 1.2x faster than ``X @ X.T`` on the cat images
on one thread (on two, as fast as :func:`float_gram`), and closer to the exact
``X X^T`` than the float64 sum is.

Only :class:`~sklearn_catneuron.NeuronPipeline` knows ``X`` is the pixels
scaled: its ``fit`` names them with :func:`scaled_pixels` for the fit of its
steps, and the classifier's fit asks about the ``X`` it is given.
"""

import threading
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from sklearn_catneuron._threads import for_each_block

# Columns per float32 block: 256 * 255^2 = 16,646,400 < 2^24 = 16,777,216.
_BLOCK_COLUMNS = 256
# The exact path keeps an n x n float32 product per thread (two): at most 1/16
# of X's bytes with at most one row for 16 features.
_MAX_ROWS_PER_FEATURE = 1 / 16

_PIXELS = ContextVar("sklearn_catneuron_scaled_pixels", default=None)


@contextmanager
def scaled_pixels(pixels, max_value):
    """Within the block, an ``X`` that is ``pixels / max_value`` uses ``pixels``.

    ``pixels``: 2-D uint8, the images the fit flattens; ``max_value``: the
    flattener's divisor. The context is the caller's thread (or task) only.
    """
    token = _PIXELS.set((pixels, max_value))
    try:
        yield
    finally:
        _PIXELS.reset(token)


def known_finite(X):
    """Whether ``X`` is the named pixels scaled (so finite, at most 1)."""
    source = _PIXELS.get()
    return source is not None and _is_scaled(X, *source)


def gram_matrix(X):
    """``X @ X.T``: from the pixels exactly when ``X`` is them scaled.

    Only when the ``n x n`` float32 products the exact sum keeps (one per
    thread) take at most 1/16 of ``X``'s bytes; otherwise, and for any other
    ``X``, ``X @ X.T`` (:func:`float_gram`).
    """
    source = _PIXELS.get()
    if (
        source is not None
        and X.shape[0] <= _MAX_ROWS_PER_FEATURE * X.shape[1]
        and _is_scaled(X, *source)
    ):
        return exact_pixel_gram(*source)
    return float_gram(X)


# Below this many multiply-adds (about a millisecond of BLAS) one product is
# faster than starting a thread.
_MIN_SPLIT_WORK = 2**25


def float_gram(X):
    """``X @ X.T`` as the sum of its two halves of features, on two threads.

    One ``X @ X.T`` runs on one core when BLAS has one thread (as the
    scikit-learn benchmarks set it); the halves, each one BLAS call, run on
    two at once where :func:`~sklearn_catneuron._threads.thread_budget`
    allows (1.7x faster on the cat images). The sum is always split the same
    way, so the result does not depend on how many threads run the halves
    (only, as for ``X @ X.T``, on BLAS's own threads); it differs from one
    ``X @ X.T`` by rounding. A small ``X`` gets one product, and so
    does one whose ``n x n`` second half would take more than 1/16 of its
    bytes.
    """
    n, d = X.shape
    if n * n * d < _MIN_SPLIT_WORK or n > _MAX_ROWS_PER_FEATURE * d:
        return X @ X.T
    halves = [slice(0, d // 2), slice(d // 2, d)]
    sums = [None, None]

    def make_step(share):
        def step(features):
            part = X[:, features]
            sums[features.start > 0] = part @ part.T  # BLAS's syrk

        return step

    for_each_block(halves, make_step)
    return np.add(sums[0], sums[1], out=sums[0])


def _is_scaled(X, pixels, max_value):
    """Whether ``X`` is the float64 flattened ``pixels / max_value``.

    Within :func:`scaled_pixels` the only arrays of this shape are the
    flattener's output or a copy; its first and last rows are checked as
    well, a cheap guard against a same-shaped array of other values.
    """
    if not (
        type(X) is np.ndarray
        and X.dtype == np.float64
        and X.shape == pixels.shape
        and X.shape[0] > 0
    ):
        return False
    ends = pixels[[0, -1]]
    return bool(np.array_equal(X[[0, -1]], np.divide(ends, max_value, dtype=X.dtype)))


def exact_pixel_gram(pixels, max_value):
    """``(P P^T) / max_value^2`` for uint8 ``P`` (2-D), summed exactly.

    Equal to the integer product ``P.astype(np.int64) @ P.T`` divided once
    in float64 (tested bit for bit). The blocks of columns are shared among
    the threads scikit-learn's own threads may use (at most two, one with
    ``OMP_NUM_THREADS=1``), each multiplying its own blocks on one BLAS
    thread: the sums are of integers, so neither the split nor the order of
    the additions changes anything.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(
            f"expected 2-D uint8 pixels, got {pixels.dtype} of shape {pixels.shape}"
        )
    n, d = pixels.shape
    blocks = [
        slice(start, start + _BLOCK_COLUMNS) for start in range(0, d, _BLOCK_COLUMNS)
    ]
    gram, lock = np.zeros((n, n)), threading.Lock()

    def make_step(share):
        block = np.empty((n, min(_BLOCK_COLUMNS, d)), dtype=np.float32)
        product = np.empty((n, n), dtype=np.float32)

        def step(columns):
            part = pixels[:, columns]
            out = (
                block if part.shape == block.shape else np.empty_like(part, np.float32)
            )
            np.copyto(out, part)
            np.matmul(out, out.T, out=product)  # integers below 2^24: exact
            with lock:  # sums of integers below 2^53: exact in any order
                np.add(gram, product, out=gram)

        return step

    for_each_block(blocks, make_step)
    gram /= float(max_value) ** 2
    return gram
