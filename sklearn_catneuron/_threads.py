"""Blocks of rows worked on by two threads at once (one if the user says so).

NumPy's ufunc loops and BLAS release the GIL, so two threads that each divide
or multiply their own blocks of rows run on two cores. Each thread gets a
contiguous share of the blocks and its own state (buffers) from
``make_step``; what a block computes does not depend on which thread runs it.

While two threads run, BLAS runs on one thread in each (as scikit-learn's
KMeans limits it): a product of a few rows handed to a second BLAS thread can
wait a whole scheduler slice for it on a busy machine, once per block. The
limit is process-wide (BLAS has one setting), so it is taken by the first of
any number of concurrent callers and given back by the last one.
"""

import os
import threading
from contextlib import contextmanager
from functools import cache

__all__ = ["blas_threads", "for_each_block", "one_blas_thread", "thread_budget"]

_limit_lock = threading.Lock()
_limit = {"users": 0, "limiter": None}


@cache
def _threadpool_controller():
    """One controller (finding the loaded BLAS libraries takes milliseconds).

    threadpoolctl comes with scikit-learn, which requires it.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def one_blas_thread():
    """BLAS on one thread until the last concurrent user of this leaves."""
    with _limit_lock:
        if _limit["users"] == 0 and blas_threads() > 1:  # else nothing to limit
            _limit["limiter"] = _threadpool_controller().limit(
                limits=1, user_api="blas"
            )
        _limit["users"] += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit["users"] -= 1
            if _limit["users"] == 0 and _limit["limiter"] is not None:
                _limit.pop("limiter").restore_original_limits()
                _limit["limiter"] = None


def blas_threads():
    """How many threads BLAS may use now (the user's limit, or ours)."""
    blas = _threadpool_controller().select(user_api="blas").lib_controllers
    return min((lib.num_threads for lib in blas), default=1)


# At most two threads: the work (memory-bound divisions, BLAS products of a
# few rows) gains little beyond that; one where only one core is available.
N_THREADS = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)  # fmt: skip


def thread_budget():
    """How many threads our own loops may use now: at most two, and no more
    than scikit-learn's own threads may (``OMP_NUM_THREADS``, or a
    threadpoolctl limit on OpenMP), as KMeans and HistGradientBoosting count
    theirs. With ``OMP_NUM_THREADS=1`` everything runs in the caller's thread.
    """
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # pragma: no cover - a scikit-learn without the helper
        return N_THREADS
    return max(1, min(N_THREADS, _openmp_effective_n_threads()))


def for_each_block(blocks, make_step, n_threads=None):
    """Call ``step(rows)`` for every slice of ``blocks``, in up to ``n_threads``.

    Parameters
    ----------
    blocks : list of slice
        The blocks of rows, in order.

    make_step : callable
        ``make_step(share)`` is called once in each thread with the blocks
        that thread will run (a contiguous slice of ``blocks``), and returns
        that thread's ``step``; buffers sized for ``share`` hold at most all
        the rows together.

    n_threads : int, default=None
        The most threads used (None: :func:`thread_budget`); one thread (the
        caller's) for fewer than two blocks.

    Raises
    ------
    BaseException
        The first exception raised by a step (the other threads stop at their
        next block), after every thread has ended.

    Examples
    --------
    >>> from sklearn_catneuron._threads import for_each_block
    >>> seen = []
    >>> for_each_block([slice(0, 2), slice(2, 4)], lambda share: seen.append)
    >>> sorted(block.start for block in seen)
    [0, 2]
    """
    if n_threads is None:
        n_threads = thread_budget()
    n_threads = max(min(n_threads, len(blocks)), 1)
    share = -(-len(blocks) // n_threads)
    shares = [blocks[i * share : (i + 1) * share] for i in range(n_threads)]
    shares = [part for part in shares if part] or [blocks]
    n_threads = len(shares)
    failed = threading.Event()
    errors = []

    def work(blocks):
        try:
            step = make_step(blocks)
            for rows in blocks:
                if failed.is_set():
                    return
                step(rows)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.set()
            errors.append(exc)

    if n_threads == 1:
        work(shares[0])
    else:
        helpers = [threading.Thread(target=work, args=(part,)) for part in shares[1:]]
        with one_blas_thread():
            for helper in helpers:
                helper.start()
            try:
                work(shares[0])
            finally:
                for helper in helpers:
                    helper.join()
    if errors:
        raise errors[0]
