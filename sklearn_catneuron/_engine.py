"""The descent engine: one gradient-descent loop over interchangeable paths.

:func:`descend` is the only loop. It never sees an estimator, nor how scores
and steps are computed: a *path* does that, through a small interface.

Path interface (see :class:`_PrimalPath`, :class:`_GramPath` and
``_dask.ChunkedPath``)::

    path.n_models, path.n_neurons  # L models of K one-vs-rest neurons, M = L K
    path.reserve(block)            # room to keep the scores of `block` steps
    path.scores(slot)              # scores of the current iterate; kept in
                                   # history row `slot` (an int) or not (None)
    path.advance(rows)             # optional: one step per entry of rows, its
                                   # scores kept in that history row (or not:
                                   # None), as scores/residual/step would do
    path.costs(n_kept)             # (n_kept, M) costs of the kept rows
    path.residual(scores)          # the residual the gradient is made of
    path.grad_norms(residual)      # (M,) Euclidean norms of the full gradient
    path.step(residual)            # one step of the update rule
    path.result(columns)           # (coef, intercept) of the selected columns
    path.keep(columns)             # drop the other columns (stopped models)

The update rule is the path's ``rule`` (default :class:`PlainStep`): the path
computes the plain step ``lr * gradient`` of each of its parameters and hands
``(params, deltas)`` to ``rule.update``, which changes the params in place. A
rule with memory (momentum) is a new class with the same method; on the Gram
path its parameters are the sample-space ones, which keeps the iterates those
of the primal path because ``w = c w_0 + X^T u`` is linear in ``(c, u)``.

Stop rules decide per model, observers see every step; both are passed to
:func:`descend`, and neither touches the loop.
"""

import contextlib

import numpy as np
from scipy.special import expit

from sklearn_catneuron._gram import gram_matrix
from sklearn_catneuron._threads import one_blas_thread

__all__ = [
    "CONVERGED",
    "CallbackBridge",
    "DIVERGED",
    "RAN_OUT",
    "STOPPED",
    "DescentResult",
    "GradientTol",
    "Momentum",
    "NoImprovement",
    "Observer",
    "PlainStep",
    "ValidationCurve",
    "choose_solver",
    "descend",
    "make_path",
]

# A Gram path whose product per step is at most this many multiply-adds
# (n * n * columns: 209 images and 40 columns is 1.7M) takes its steps on one
# BLAS thread.
SMALL_STEP = 2**22

# Status of each model after a descent.
RAN_OUT, CONVERGED, DIVERGED, STOPPED = 0, 1, 2, 3


def divergence_error(step, cost, learning_rate, alpha):
    """The error raised when the cost stops being finite at ``step``."""
    return ValueError(
        f"Gradient descent diverged at step {step} (cost {np.mean(cost)}); lower "
        f"learning_rate={learning_rate} or alpha={alpha}, or scale X."
    )


def choose_solver(solver, n_samples, n_features, n_columns, max_iter):
    """Resolve ``solver="auto"`` from the shapes with a rough cost count.

    The primal path streams ``X`` twice per step: ``4 n d M`` flops for ``M``
    weight columns, memory-bound. The Gram path pays ``n^2 d`` flops once for
    ``X X^T``, a symmetric matrix-matrix product that runs near the machine's
    peak (counted as 8 times cheaper per flop), then ``2 n^2 M`` per step. The
    Gram matrix is only used when it is at most half the size of ``X``
    (``2 n <= d``), so that a fit never holds more than 1.5 times ``X``.
    """
    if solver != "auto":
        return solver
    # Both counts divided by n.
    gram_cost = n_samples * n_features / 8 + 2 * max_iter * n_samples * n_columns
    primal_cost = 4 * max_iter * n_features * n_columns
    if 2 * n_samples <= n_features and gram_cost < primal_cost:
        return "gram"
    return "primal"


def neg_log_sigmoid(t, *, overwrite=False):
    """``-log(sigmoid(t))`` as ``log1p(exp(-|t|)) - min(t, 0)``: never overflows.

    Equal to ``-log_expit(t)`` to rounding, and several times faster on large
    blocks: NumPy's exp and log1p are vectorised. With ``overwrite``, ``t``
    holds ``min(t, 0)`` afterwards instead of a fresh array.
    """
    out = np.abs(t)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out -= np.minimum(t, 0, out=t if overwrite else None)
    return out


class PlainStep:
    """Plain gradient descent: ``param -= delta`` (``delta = lr * gradient``).

    The interface of an update rule: ``update(params, deltas)`` changes each
    array of ``params`` in place. ``plain = True`` lets a path use its fused
    in-place form of the same arithmetic.
    """

    plain = True

    def update(self, params, deltas):
        for param, delta in zip(params, deltas, strict=True):
            param -= delta


class _Weights:
    """Sample weights, shared (n,) or one column per neuron (n, M), and sums."""

    def __init__(self, weight):
        self.weight = weight
        self.shared = weight.ndim == 1
        self.sum = weight.sum() if self.shared else weight.sum(axis=0)
        self.unit = self.shared and bool(np.all(weight == 1))

    def cost(self, losses):
        """Weighted mean of each column of ``losses`` (n, M) or (steps, n, M)."""
        if self.shared:
            return self.weight @ losses / self.sum
        return np.einsum("nm,...nm->...m", self.weight, losses) / self.sum

    def apply(self, residual):
        """``residual`` times the weights, in place (nothing for unit weights)."""
        if not self.unit:
            residual *= self.weight[:, None] if self.shared else self.weight
        return residual

    def as_array(self):
        """The weights as an (n, 1) or (n, M) array, also when all ones."""
        return self.weight[:, None] if self.shared else self.weight

    def as_columns(self):
        """The weights as an (n, 1) or (n, M) array, or None if all ones."""
        if self.unit:
            return None
        return self.weight[:, None] if self.shared else self.weight

    def keep(self, columns):
        if not self.shared:
            self.weight, self.sum = self.weight[:, columns], self.sum[columns]


class _InMemoryPath:
    """What the primal and Gram paths share: targets, weights, score history."""

    def __init__(self, X, Y, weights, lr, alpha, n_models, rule):
        self.X, self.weights, self.lr, self.alpha = X, weights, lr, alpha
        self.n_models, self.n_neurons = n_models, Y.shape[1]
        self.targets = np.tile(Y, (1, n_models))
        self.signs = 2.0 * self.targets - 1.0
        self.rule = PlainStep() if rule is None else rule
        self.dtype, self.n_features = X.dtype, X.shape[1]
        self._block = 1
        self._alloc()

    def _alloc(self):
        n, m = self.targets.shape
        self._history = np.zeros((self._block, n, m), dtype=self.X.dtype)
        self._sq_norms = np.empty((self._block, m)) if self.alpha else None
        self._residual = np.zeros((n, m), dtype=self.X.dtype)

    def reserve(self, block):
        self._block = block
        self._alloc()

    def scores(self, slot):
        out = self._residual if slot is None else self._history[slot]
        scores = self._scores(out)
        if slot is not None and self.alpha:
            self._sq_norms[slot] = self.sq_norms()
        return scores

    def advance(self, rows):
        """One step per entry of ``rows``, its scores kept in that row or not."""
        for row in rows:
            self.step(self.residual(self.scores(row)))

    def costs(self, n_kept):
        # signs * (2 h) = (2 signs) * h: doubling is exact.
        signs = 2 * self.signs if self.half else self.signs
        margins = np.multiply(signs, self._history[:n_kept])
        costs = self.weights.cost(neg_log_sigmoid(margins, overwrite=True))
        if self.alpha:
            costs = costs + 0.5 * self.alpha * self._sq_norms[:n_kept]
        return costs

    def _keep_common(self, columns):
        self.weights.keep(columns)
        self.targets, self.signs = self.targets[:, columns], self.signs[:, columns]
        self.lr = self.lr[columns]
        self._alloc()


class _PrimalPath(_InMemoryPath):
    """Weights ``W`` (M, d) and biases ``b`` (M,), updated in place.

    ``z = X w + b``, ``r = s (sigmoid(z) - y)``, ``S = sum(s)``;
    ``w <- w - lr (X^T r / S + alpha w)``, ``b <- b - lr sum(r) / S``. Every step
    reads ``X`` twice (scores, then gradient) through BLAS, for all columns at
    once; the arithmetic is the reference loop's, in the same order.
    """

    half = False

    def __init__(self, X, Y, weights, coef, intercept, lr, alpha, fit_intercept,
                 n_models, rule=None):  # fmt: skip
        super().__init__(X, Y, weights, lr, alpha, n_models, rule)
        self.fit_intercept = fit_intercept
        self.coef = np.array(coef, dtype=X.dtype, order="C")
        self.intercept = np.array(intercept, dtype=X.dtype)
        self._grad = np.empty_like(self.coef)
        self._grad_ready = False  # grad_norms computed this step's gradient

    def _scores(self, out):
        scores = np.matmul(self.X, self.coef.T, out=out)
        scores += self.intercept
        return scores

    def sq_norms(self):
        return np.einsum("md,md->m", self.coef, self.coef)

    def residual(self, scores):
        residual = expit(scores, self._residual)
        residual -= self.targets
        return self.weights.apply(residual)  # s (sigmoid(z) - y)

    def _gradient(self, residual):
        weight_sum = self.weights.sum
        grad = np.matmul(residual.T, self.X, out=self._grad)
        # Divide after the product, as the reference does, to keep its iterates.
        grad /= weight_sum if np.ndim(weight_sum) == 0 else weight_sum[:, None]
        if self.alpha:
            grad += self.alpha * self.coef
        return grad

    def grad_norms(self, residual):
        grad = self._gradient(residual)
        self._grad_ready = True
        sq = np.einsum("md,md->m", grad, grad)
        if self.fit_intercept:
            sq += (residual.sum(axis=0) / self.weights.sum) ** 2
        return np.sqrt(sq)

    def step(self, residual):
        """One step from ``residual = s (sigmoid(z) - y)``."""
        if self._grad_ready:
            grad, self._grad_ready = self._grad, False
        else:
            grad = self._gradient(residual)
        grad *= self.lr[:, None]
        params, deltas = [self.coef], [grad]
        if self.fit_intercept:
            params.append(self.intercept)
            deltas.append(self.lr * (residual.sum(axis=0) / self.weights.sum))
        self.rule.update(params, deltas)

    def keep(self, columns):
        self._keep_common(columns)
        self.coef = self.coef[columns]
        self.intercept = self.intercept[columns]
        self._grad = np.empty_like(self.coef)

    def result(self, columns=None):
        """``(coef, intercept)`` of the selected columns (copies)."""
        if columns is None:
            return self.coef.copy(), self.intercept.copy()
        return self.coef[columns], self.intercept[columns]


class _GramPath(_InMemoryPath):
    """The primal iterates, kept in sample space.

    Write ``w_t = c_t w_0 + X^T u_t`` with ``c_0 = 1``, ``u_0 = 0``. The primal
    update ``w <- w - lr (X^T r / S + alpha w)`` is then
    ``u <- u - lr (r / S + alpha u)`` and ``c <- (1 - lr alpha) c``, so with
    ``G = X X^T`` computed once the scores are
    ``z_t = c_t (X w_0) + G u_t + b_t``: ``O(n^2)`` per neuron and step instead
    of ``O(n d)``. The penalty uses ``||w_t||^2 = c_t^2 ||w_0||^2
    + 2 c_t (X w_0) . u_t + u_t^T G u_t``, and ``coef`` is only formed when
    asked for (:meth:`result`), as ``c w_0 + X^T u``.

    Steps work on ``h = z / 2``: the residual is then ``tanh(h) - s`` with
    ``s = 2 y - 1``, which is exactly ``2 (sigmoid(z) - y)`` because
    ``2 sigmoid(2 h) - 1 = tanh(h)``: one ufunc instead of five. Without penalty
    (``c_t = 1``) the bias is the weight of a constant feature,
    ``b_t = b_0 + sum(u_t)``, so it is folded into the Gram matrix
    (``(G + 1) / 2``, unless the samples' squared norms are below 1e-3 on
    average, where the 1 would swamp ``G``); with a single column the step
    factor goes into it as well (``u = factor * v``), and a step is one
    product, ``tanh`` and two subtractions.

    When the gradient norm is needed (``tol``), ``G`` is kept unfolded: the
    norm of ``X^T a + alpha c w_0`` (``a = s r / S + alpha u``) is
    ``a^T G a + 2 alpha c a . (X w_0) + alpha^2 c^2 ||w_0||^2``, one more
    product with ``G`` per step.

    With ``rows``, the path descends on those samples of ``X`` alone: ``Y``,
    the weights and ``gram`` are given for them only (``G[rows, rows]``), and
    ``X`` itself is only read to form ``coef`` (see :class:`_GroupedPath`).
    """

    half = True

    def __init__(self, X, Y, weights, coef, intercept, lr, alpha, fit_intercept,
                 n_models, gram=None, own_gram=True, need_grad=False,
                 rule=None, rows=None):  # fmt: skip
        super().__init__(X, Y, weights, lr, alpha, n_models, rule)
        dtype, self.rows, n = X.dtype, rows, len(Y)
        if gram is None:
            gram, own_gram = gram_matrix(X), True
        self.fit_intercept = fit_intercept
        self.coef0 = np.asarray(coef, dtype=dtype)  # only read
        self.intercept = np.array(intercept, dtype=dtype)
        n_columns = len(self.intercept)
        # u <- (1 - lr alpha) u - (lr / S) s r: both factors computed once; the
        # residual is 2 r (it works on z / 2), hence the 1/2.
        self.shrink = 1 - lr * alpha if alpha else None
        self.step_weight = 0.5 * lr / weights.sum
        if weights.as_columns() is not None:
            self.step_weight = weights.as_columns() * self.step_weight
        self.u = np.zeros((n, n_columns), dtype=dtype)
        self._gu = np.empty_like(self.u)
        self.warm = bool(np.any(self.coef0))  # warm start or random init
        self.p = X @ self.coef0.T if self.warm else None  # X w_0, once
        if self.warm and rows is not None:
            self.p = self.p[rows]
        # Adding 1 to G would swamp its entries if the samples were tiny.
        self.folded = (
            self.shrink is None
            and not need_grad
            and self.rule.plain
            and (not fit_intercept or np.trace(gram) >= 1e-3 * len(gram))
        )
        if self.folded:
            # h = (G [+ 1]) / 2 u + (X w_0 + b_0) / 2, the last constant
            # (halving is exact); in place when no one else holds G.
            self.gram = np.add(
                gram, 1 if fit_intercept else 0, out=gram if own_gram else None
            )
            self.gram *= 0.5
            offset = self.p + self.intercept if self.warm else self.intercept
            self.offset = 0.5 * offset if np.any(offset) else None
        else:
            self.gram = gram
            self.decay = np.ones(n_columns, dtype=dtype)
            if self.warm:
                self.p_sq_norms = np.einsum("md,md->m", self.coef0, self.coef0)
        self.v_scale = None
        if self.folded and n_columns == 1:
            self.v_scale = np.broadcast_to(self.step_weight, (n, 1)).copy()
            self.gram *= self.v_scale[:, 0]

    @property
    def small_steps(self):
        """Whether a step's product is small (see ``_Loop.run``)."""
        n, m = self.u.shape
        return n * n * m <= SMALL_STEP

    def advance(self, rows):
        if not self.folded:
            return super().advance(rows)
        # The folded steps of scores/residual/step, inlined: the same
        # operations without the calls between them.
        _folded_steps(
            _score_slots(self._history, rows, self._residual), self.gram, self.u,
            self.signs, self.offset,
            None if self.v_scale is not None else self.step_weight, self._residual,
        )  # fmt: skip

    def _scores(self, out):
        """``h = z / 2``: halving ``G`` once makes the bias folding exact."""
        if self.folded:
            half = np.dot(self.gram, self.u, out)
            if self.offset is not None:
                half += self.offset
            return half
        gu = np.dot(self.gram, self.u, self._gu)
        scores = np.add(gu, self.intercept, out=out)
        if self.warm:
            scores += self.decay * self.p
        scores *= 0.5
        return scores

    def sq_norms(self):
        # G u is in _gu: the penalty means alpha > 0, so G is not folded.
        sq_norms = np.einsum("nm,nm->m", self.u, self._gu)
        if self.warm:
            c = self.decay
            sq_norms += c * c * self.p_sq_norms
            sq_norms += 2 * c * np.einsum("nm,nm->m", self.p, self.u)
        return sq_norms

    def residual(self, scores):
        # 2 (sigmoid(z) - y) = 2 sigmoid(2 h) - 1 - (2 y - 1) = tanh(h) - s.
        residual = np.tanh(scores, out=self._residual)
        residual -= self.signs
        return residual

    def grad_norms(self, residual):
        a = residual * self.step_weight / self.lr  # s r / S
        sq = np.einsum("nm,nm->m", a, self.gram @ a)
        if self.alpha:
            # a + alpha u; G u was computed by _scores.
            sq += 2 * self.alpha * np.einsum("nm,nm->m", a, self._gu)
            sq += self.alpha**2 * np.einsum("nm,nm->m", self.u, self._gu)
            if self.warm:
                c = self.decay
                sq += 2 * self.alpha * c * np.einsum("nm,nm->m", a + self.alpha
                                                     * self.u, self.p)  # fmt: skip
                sq += (self.alpha * c) ** 2 * self.p_sq_norms
        if self.fit_intercept:
            sq += a.sum(axis=0) ** 2
        return np.sqrt(np.maximum(sq, 0))

    def step(self, residual):
        """One step from ``residual = 2 (sigmoid(z) - y)``.

        In u-space the primal gradient ``X^T (s r) / S + alpha w`` is
        ``s r / S + alpha u``, plus ``alpha c w_0``, which ``c`` carries.
        """
        if self.v_scale is not None:
            self.u -= residual  # v
            return
        residual *= self.step_weight  # lr s r / S
        if self.folded:
            self.u -= residual
            return
        if not self.rule.plain:
            params, deltas = [self.u], [residual]
            if self.shrink is not None:
                deltas[0] = residual + (1 - self.shrink) * self.u
                params.append(self.decay)
                deltas.append((1 - self.shrink) * self.decay)
            if self.fit_intercept:
                params.append(self.intercept)
                deltas.append(np.add.reduce(residual, axis=0))
            self.rule.update(params, deltas)
            return
        if self.fit_intercept:
            self.intercept -= np.add.reduce(residual, axis=0)
        if self.shrink is not None:
            self.u *= self.shrink
            self.decay *= self.shrink
        self.u -= residual

    def keep(self, columns):
        self._keep_common(columns)
        self.coef0 = self.coef0[columns]
        self.intercept = self.intercept[columns]
        self.u = np.ascontiguousarray(self.u[:, columns])
        self._gu = np.empty_like(self.u)
        self.step_weight = self.step_weight[..., columns]
        if self.warm:
            self.p = self.p[:, columns]
        if self.folded:
            if self.offset is not None:
                self.offset = self.offset[..., columns]
        else:
            if self.shrink is not None:
                self.shrink = self.shrink[columns]
            self.decay = self.decay[columns]
            if self.warm:
                self.p_sq_norms = self.p_sq_norms[columns]

    def sample_weights(self, columns):
        """``u`` of the selected columns (on ``rows`` only, if given)."""
        u = self.u[:, columns]
        return u if self.v_scale is None else self.v_scale * u

    def result(self, columns=None, *, product=None):
        """``(coef, intercept)`` of the selected columns: ``c w_0 + X^T u``.

        ``product``: ``X^T u`` of those columns, if already computed; it is
        completed in place and returned as ``coef``.
        """
        if columns is None:
            columns = np.ones(self.u.shape[1], dtype=bool)
        u = self.sample_weights(columns)
        if product is not None:
            coef = product
        elif self.rows is None:
            coef = u.T @ self.X
        else:  # u is zero on the other samples
            padded = np.zeros((self.X.shape[0], u.shape[1]), dtype=u.dtype)
            padded[self.rows] = u
            coef = padded.T @ self.X
        intercept = self._intercept(columns, u)
        if self.folded:
            if self.warm:
                coef += self.coef0[columns]
        elif self.warm:
            coef += self.decay[columns, None] * self.coef0[columns]
        return coef, intercept

    def _intercept(self, columns, u):
        """The bias of the selected columns, ``u`` their sample weights."""
        intercept = self.intercept[columns]
        if self.folded and self.fit_intercept:  # the constant feature's weight
            intercept = intercept + u.sum(axis=0)
        return intercept


class _GroupedPath:
    """Columns grouped by support, each group a :class:`_GramPath` on its rows.

    A column whose sample weight is 0 on some rows (a cross-validation fold's
    held-out samples) never moves ``u`` there, and its scores there feed
    nothing but cost terms weighted by 0: it is the descent on its support
    ``R`` (the rows of non-zero weight) alone, with ``G[R, R]``. So the
    columns sharing a support descend as one Gram path on those rows, with
    compact arrays: for 5 folds, 0.64 of the one wide product's work, and no
    gathering or scattering of ``u`` per step. The groups are independent;
    this class only splits the engine's calls among them and puts their
    columns back in order.
    """

    def __init__(self, X, Y, weight, coef, intercept, lr, alpha, fit_intercept,
                 n_models, groups, gram, need_grad):  # fmt: skip
        self.X, self.dtype, self.n_features = X, X.dtype, X.shape[1]
        self.n_models, self.n_neurons = n_models, Y.shape[1]
        n_neurons = self.n_neurons
        self.groups = []  # [positions of its columns among the active ones, path]
        for rows, columns in groups:
            group_weight = weight[np.ix_(rows, columns)]
            if np.all(group_weight == group_weight[:, :1]):  # a fold's rates
                group_weight = group_weight[:, 0]
            # Consecutive columns (a fold's rates) as a slice: views, no copy.
            index = columns
            if columns[-1] - columns[0] == len(columns) - 1:
                index = slice(columns[0], columns[-1] + 1)
            path = _GramPath(
                X, Y[rows], _Weights(group_weight), coef[index],
                intercept[index], lr[index], alpha, fit_intercept,
                len(columns) // n_neurons, gram=gram[np.ix_(rows, rows)],
                need_grad=need_grad, rows=rows,
            )  # fmt: skip
            self.groups.append([np.asarray(columns), path])
        self.n_columns = coef.shape[0]
        self._stack = None

    @property
    def small_steps(self):
        return sum(len(p.u) ** 2 * p.u.shape[1] for _, p in self.groups) <= SMALL_STEP

    def _gather(self, parts, leading=()):
        out = np.empty((*leading, self.n_columns), dtype=parts[0].dtype)
        for (positions, _), part in zip(self.groups, parts, strict=True):
            out[..., positions] = part
        return out

    def reserve(self, block):
        for _, path in self.groups:
            path.reserve(block)

    def scores(self, slot):
        return [path.scores(slot) for _, path in self.groups]

    def residual(self, scores):
        return [
            path.residual(part)
            for (_, path), part in zip(self.groups, scores, strict=True)
        ]

    def grad_norms(self, residual):
        parts = [
            path.grad_norms(part)
            for (_, path), part in zip(self.groups, residual, strict=True)
        ]
        return self._gather(parts)

    def step(self, residual):
        for (_, path), part in zip(self.groups, residual, strict=True):
            path.step(part)

    def advance(self, rows):
        stacked = self._stacked()
        if stacked is None:
            for _, path in self.groups:  # independent: one after the other
                path.advance(rows)
        else:
            stacked.advance(rows)

    def _stacked(self):
        """The groups as one :class:`_StackedGroups`, or None if they differ."""
        paths = [path for _, path in self.groups]
        if self._stack is not None and self._stack.paths == paths:
            return self._stack
        self._stack = None
        if len(paths) > 1 and _StackedGroups.fits(paths):
            self._stack = _StackedGroups(paths)
        return self._stack

    def costs(self, n_kept):
        if self._stack is not None:  # it stepped: the kept margins are there
            costs = self._stack.costs(n_kept)
            parts = [costs[:, g] for g in range(costs.shape[1])]
        else:
            parts = [path.costs(n_kept) for _, path in self.groups]
        return self._gather(parts, (n_kept,))

    def result(self, columns=None):
        if columns is None:
            columns = np.ones(self.n_columns, dtype=bool)
        selected = np.flatnonzero(columns)
        # Every group's X^T u in one product, u being zero off its rows.
        u = np.zeros((self.X.shape[0], len(selected)), dtype=self.dtype)
        parts = []
        for positions, path in self.groups:
            mine = columns[positions]
            if mine.any():
                where = np.searchsorted(selected, positions[mine])
                u[np.ix_(path.rows, where)] = path.sample_weights(mine)
                parts.append((path, mine, where))
        coef = u.T @ self.X
        intercept = np.empty(len(selected), dtype=self.dtype)
        for path, mine, where in parts:
            if where[-1] - where[0] == len(where) - 1:  # a view, completed in place
                where = slice(where[0], where[-1] + 1)
                intercept[where] = path.result(mine, product=coef[where])[1]
            else:
                coef[where], intercept[where] = path.result(mine, product=coef[where])
        return coef, intercept

    def decisions(self, columns, rows, gram):
        """``X[rows] @ coef.T + intercept`` of the selected columns, from ``G``.

        ``gram`` is the full ``X X^T`` (not a group's scaled block), and the
        paths must have started from zero weights: then ``coef = X^T u`` and
        ``X[rows] coef^T = G[rows, R] u`` for a group's rows ``R``, without
        forming ``coef``.
        """
        selected = np.flatnonzero(columns)
        out = np.empty((len(rows), len(selected)), dtype=self.dtype)
        for positions, path in self.groups:
            mine = columns[positions]
            if mine.any():
                if path.warm:
                    raise ValueError("decisions need paths started from zero")
                where = np.searchsorted(selected, positions[mine])
                u = path.sample_weights(mine)
                out[:, where] = gram[np.ix_(rows, path.rows)] @ u
                out[:, where] += path._intercept(mine, u)
        return out

    def keep(self, columns):
        new_position = np.cumsum(columns) - 1
        groups = []
        for positions, path in self.groups:
            mine = columns[positions]
            if mine.all():
                groups.append([new_position[positions], path])
            elif mine.any():
                path.keep(mine)
                groups.append([new_position[positions[mine]], path])
        self.groups, self.n_columns = groups, int(np.sum(columns))
        self._stack = None


class _StackedGroups:
    """Folded group paths of equal width, stepped as one stack of arrays.

    Each step is then one batched product (``matmul`` over the groups) and
    one call per elementwise operation for all groups, instead of one per
    group. Groups with fewer rows are padded with rows of zeros in ``G``,
    ``u`` and the step factor, which stay zero. :meth:`advance` copies ``u``
    back; the costs of the kept steps come from the stack (:meth:`costs`).

    The stack steps on margins. With the signs ``s = 2 y - 1`` of a sample
    the same in every column (one neuron per model), ``2 (sigmoid(z) - y) =
    -2 s sigmoid(-m)`` with the margin ``m = s z``, so the step
    ``u -= f (tanh(z / 2) - s)`` is ``v += 2 f / (1 + exp(m))`` for
    ``v = s u``, and ``m = (2 S G S) v`` with ``S = diag(s)``: flipping signs
    and doubling are exact, so ``m`` is exactly ``2 s h`` of the same ``u``.
    Four elementwise calls (``exp``, ``+ 1``, the division, ``+=``) instead
    of five (``tanh``, ``- s``, ``* f``, ``-=``, and ``tanh`` is the slowest),
    and no cancellation in ``tanh(h) - s`` where it is near ``s``: the
    iterates agree with the ``tanh`` form to rounding (tested to 1e-12).
    """

    @staticmethod
    def fits(paths):
        first = paths[0]
        return all(
            p.folded
            and p.u.shape[1] == first.u.shape[1]
            and (p.v_scale is None) == (first.v_scale is None)
            and (p.offset is None) == (first.offset is None)
            and bool(np.all(p.signs == p.signs[:, :1]))
            for p in paths
        )

    def __init__(self, paths):
        self.paths = paths
        n = max(len(p.u) for p in paths)
        m, dtype = paths[0].u.shape[1], paths[0].u.dtype

        def stack(arrays, shape):
            out = np.zeros((len(paths), *shape), dtype=dtype)
            for part, array in zip(out, arrays, strict=True):
                part[tuple(slice(size) for size in array.shape)] = array
            return out

        signs = stack([p.signs[:, :1] for p in paths], (n, 1))
        self.signs = signs  # the padding's 0 keeps the padded v at 0
        gram = stack([p.gram for p in paths], (n, n))
        margin_gram = (2 * signs) * gram * signs.transpose(0, 2, 1)
        # Each matrix stored column-major (the same values): OpenBLAS's
        # kernel for a 168 x 168 by 168 x 8 product reads it about 1.15x
        # faster that way (benchmarks/README.md).
        self.margin_gram = np.ascontiguousarray(
            margin_gram.transpose(0, 2, 1)
        ).transpose(0, 2, 1)
        # 2 f, 0 on the padding (whose v then stays 0); f is in G for one column.
        self.numerator = 2 * stack(
            [
                np.broadcast_to(
                    1.0 if p.v_scale is not None else p.step_weight, p.u.shape
                )
                for p in paths
            ],
            (n, m),
        )
        self.offset = None
        if paths[0].offset is not None:
            offset = stack(
                [np.broadcast_to(p.offset, p.u.shape) for p in paths], (n, m)
            )
            self.offset = (2 * signs) * offset
        # The groups' sample weights for the costs, 0 on the padding.
        self.cost_weight = stack(
            [np.broadcast_to(p.weights.as_array(), p.u.shape) for p in paths], (n, m)
        )
        self.cost_sum = np.stack(
            [np.broadcast_to(p.weights.sum, (m,)) for p in paths]
        ).astype(dtype)
        self._v = np.zeros((len(paths), n, m), dtype=dtype)
        self._buffer = np.empty_like(self._v)
        self._margins = np.empty((0, *self._v.shape), dtype=dtype)
        self.kept_margins = None  # those of the last advance, until costed

    def costs(self, n_kept):
        """The costs of the last :meth:`advance`'s ``n_kept`` kept steps,
        (steps, groups, m): one set of calls for all groups, from the margins
        themselves (each path's own history is not written)."""
        margins, self.kept_margins = self.kept_margins, None
        if margins is None or len(margins) != n_kept:
            raise RuntimeError(
                f"costs of {n_kept} steps asked, but the last advance kept "
                f"{'none' if margins is None else len(margins)}"
            )
        losses = neg_log_sigmoid(margins, overwrite=True)
        return np.einsum("gnm,kgnm->kgm", self.cost_weight, losses) / self.cost_sum

    def advance(self, rows):
        paths, v = self.paths, self._v
        for part, p, signs in zip(v, paths, self.signs, strict=True):
            np.multiply(p.u, signs[: len(p.u)], out=part[: len(p.u)])
        kept = [row for row in rows if row is not None]
        if len(self._margins) < len(kept):  # reused: no fresh pages per block
            self._margins = np.empty((len(kept), *v.shape), dtype=v.dtype)
        margins = self._margins[: len(kept)]
        slot_of = range(len(kept)) if isinstance(rows, range) else _slots(rows)
        _margin_steps(
            _score_slots(margins, slot_of, v),
            self.margin_gram, v, self.offset, self.numerator, self._buffer,
        )  # fmt: skip
        for g, p in enumerate(paths):
            np.multiply(v[g, : len(p.u)], self.signs[g, : len(p.u)], out=p.u)
        # The kept scores stay here as margins (m = 2 s h, exactly): the
        # costs come from them (:meth:`costs`), not from each path's history.
        self.kept_margins = margins


def _slots(rows):
    """``rows`` with each kept row renumbered 0, 1, ... in order."""
    count = iter(range(len(rows)))
    return [None if row is None else next(count) for row in rows]


def _score_slots(history, rows, like):
    """The arrays the steps of ``rows`` write their scores to: ``history[row]``,
    or a spare array like ``like`` for a row of None."""
    if isinstance(rows, range) and rows.step == 1:
        return history[rows.start : rows.stop]  # iterating gives the rows' views
    spare = np.empty_like(like)
    return (spare if row is None else history[row] for row in rows)


def _margin_steps(margins, gram, v, offset, numerator, buffer):
    """:class:`_StackedGroups`' steps: ``m = G v [+ offset]`` into the next
    array of ``margins``, then ``v += numerator / (1 + exp(m))``."""
    matmul, exp, add, divide = np.matmul, np.exp, np.add, np.divide
    with np.errstate(over="ignore"):  # exp(m) = inf: a step of 0, as it should
        for margin in margins:
            matmul(gram, v, margin)
            if offset is not None:
                add(margin, offset, margin)
            exp(margin, buffer)
            add(buffer, 1.0, buffer)
            divide(numerator, buffer, buffer)
            add(v, buffer, v)


def _folded_steps(halves, gram, u, signs, offset, factor, residual):
    """The folded Gram path's steps, one per array of ``halves``.

    Each step writes the scores ``h = G u [+ offset]`` into the next array
    of ``halves``, then ``u -= factor (tanh(h) - signs)`` (``factor`` None:
    already in ``G``). Positional outputs and local names: a step of the
    default fit is about 5 us, and keyword parsing was a tenth of that.
    """
    dot, tanh, add, subtract = np.dot, np.tanh, np.add, np.subtract
    multiply = np.multiply
    for half in halves:
        dot(gram, u, half)
        if offset is not None:
            add(half, offset, half)
        tanh(half, residual)
        subtract(residual, signs, residual)
        if factor is not None:
            multiply(residual, factor, residual)
        subtract(u, residual, u)


def _support_groups(weight, gram):
    """``[(rows, columns)]`` of the columns sharing a support, or None.

    None when one product with all of ``G`` is cheaper: the groups must save
    at least a tenth of the work and their sub-Gram matrices take at most
    ``max(G, 64 MiB)``.
    """
    if weight.ndim == 1 or weight.shape[1] < 2:
        return None
    support = weight != 0
    n, n_columns = support.shape
    groups = {}
    for column in range(n_columns):
        groups.setdefault(support[:, column].tobytes(), []).append(column)
    groups = [(np.flatnonzero(support[:, c[0]]), c) for c in groups.values()]
    work = sum(len(rows) ** 2 * len(columns) for rows, columns in groups)
    extra = sum(len(rows) ** 2 for rows, _ in groups) * gram.itemsize
    if work > 0.9 * n * n * n_columns or extra > max(gram.nbytes, 2**26):
        return None
    return groups


def make_path(
    X,
    Y,
    sample_weight,
    *,
    coef,
    intercept,
    learning_rates,
    alpha,
    fit_intercept,
    solver,
    gram=None,
    need_grad=False,
    rule=None,
):
    """The in-memory path for ``L`` models of ``K`` neurons, side by side.

    All ``M = L K`` neurons are the columns of one weight matrix: a step is one
    product with ``X`` (or ``G``) for all of them, then an update with a vector
    of learning rates. Models may have their own sample weights: a model that
    gives zero weight to some samples is the model trained without them, which
    is how cross-validation folds share the products.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        A NumPy array, or an array of another array API namespace: then the
        path runs in that namespace, on its device
        (:mod:`sklearn_catneuron._array_api`); the other arrays are NumPy.
    Y : ndarray of shape (n_samples, K)
        One-vs-rest 0/1 targets (:func:`one_vs_rest`).
    sample_weight : ndarray of shape (n_samples,) or (n_samples, L)
    coef : ndarray of shape (L, K, n_features)
    intercept : ndarray of shape (L, K)
    learning_rates : array-like of shape (L,)
    alpha, fit_intercept : as in :class:`SigmoidNeuronClassifier`
    solver : {"primal", "gram"}
        Already resolved (:func:`choose_solver`).
    gram : ndarray of shape (n_samples, n_samples), default=None
        ``X @ X.T`` if already computed (Gram path; it is not modified).
    need_grad : bool, default=False
        Whether a stop rule asks for the gradient norms.
    rule : update rule, default=None
        :class:`PlainStep` when None.
    """
    on_device = not isinstance(X, np.ndarray)  # another array API namespace
    if on_device:
        from sklearn_catneuron._array_api import host_dtype, make_xp_path

        dtype = host_dtype(X)
    else:
        dtype = X.dtype
    coef = np.asarray(coef, dtype=dtype)
    n_models, n_neurons, n_features = coef.shape
    coef = coef.reshape(n_models * n_neurons, n_features)
    intercept = np.asarray(intercept, dtype=dtype).reshape(n_models * n_neurons)
    Y = np.asarray(Y, dtype=dtype)
    lr = np.repeat(np.asarray(learning_rates, dtype=dtype), n_neurons)
    sample_weight = np.asarray(sample_weight, dtype=dtype)
    if sample_weight.ndim == 2:
        sample_weight = np.repeat(sample_weight, n_neurons, axis=1)
    if on_device:
        return make_xp_path(
            X, Y, sample_weight, coef, intercept, lr, alpha, fit_intercept,
            n_models, solver=solver, gram=gram, rule=rule,
        )  # fmt: skip
    weights = _Weights(sample_weight)
    args = (X, Y, weights, coef, intercept, lr, alpha, fit_intercept, n_models)
    if solver == "gram":
        own_gram = gram is None
        if own_gram:
            gram = gram_matrix(X)
        # Momentum keeps one model's velocities: it never runs in groups.
        groups = _support_groups(sample_weight, gram) if rule is None else None
        if groups is not None:
            return _GroupedPath(
                X, Y, sample_weight, coef, intercept, lr, alpha, fit_intercept,
                n_models, groups, gram, need_grad,
            )  # fmt: skip
        return _GramPath(*args, gram=gram, own_gram=own_gram,
                         need_grad=need_grad, rule=rule)  # fmt: skip
    return _PrimalPath(*args, rule=rule)


# --- Stop rules: each decides, per model, whether it is done. ---------------


class GradientTol:
    """Stop a model once every neuron's gradient norm is at most ``tol``.

    The norm is the Euclidean norm of the full gradient (weights and bias) of
    the cost being minimised. It is zero exactly at the optimum of the convex
    cost, so it measures convergence; a small decrease of the cost does not:
    on the cat images the cost first oscillates and rises, and a decrease
    test stops there.
    """

    needs_costs = False
    needs_grad = True

    def __init__(self, tol):
        self.tol = tol

    def __call__(self, step, costs, grad_norms):
        return (grad_norms <= self.tol).all(axis=1)

    def keep(self, models):
        pass


class NoImprovement:
    """``MLPClassifier``'s rule on the training cost (mean over neurons).

    A step counts as no improvement when its cost is above the best cost so
    far minus ``tol``; the model stops after ``n_iter_no_change`` such steps
    in a row.
    """

    needs_costs = True
    needs_grad = False

    def __init__(self, tol, n_iter_no_change, n_models):
        self.tol, self.patience = tol, n_iter_no_change
        self.best = np.full(n_models, np.inf)
        self.count = np.zeros(n_models, dtype=int)

    def __call__(self, step, costs, grad_norms):
        loss = costs.mean(axis=1)
        worse = loss > self.best - self.tol
        self.count = np.where(worse, self.count + 1, 0)
        self.best = np.minimum(self.best, loss)
        return self.count >= self.patience

    def keep(self, models):
        self.best, self.count = self.best[models], self.count[models]


# --- Observers: see every step; may stop the whole descent. ----------------


class Observer:
    """Base of the observers :func:`descend` calls.

    ``begin(view)`` once before the first step; ``on_step(view)`` after every
    step, returning True to stop the descent there (all models, status
    ``STOPPED``); ``on_costs(steps, costs)`` whenever costs are computed (in
    blocks, ``costs`` of shape (len(steps), n_active_models, K)); ``end(view)``
    once after the last step. ``view`` is the :class:`DescentView`; what it
    gives is computed only when asked for.
    """

    needs_costs = False  # True: costs every step (no blocks)

    def begin(self, view):
        pass

    def on_step(self, view):
        return False

    def on_costs(self, steps, costs):
        pass

    def end(self, view):
        pass


class VerbosePrinter(Observer):
    """Print the mean cost every 100 steps (``verbose=1``) or every step."""

    def __init__(self, verbose):
        self.every = 1 if verbose > 1 else 100

    def on_costs(self, steps, costs):
        finite = np.isfinite(costs).all(axis=(1, 2))
        for step, row, ok in zip(steps, costs, finite, strict=True):
            if ok and step % self.every == 0:
                means = ", ".join(f"{c:.6f}" for c in row.mean(axis=1))
                print(f"Cost after iteration {step}: {means}")


class CallbackBridge(Observer):
    """The seam between the descent and ``sklearn.callback``.

    Each step is a subtask of the estimator's fit context (``ctx``): its
    ``on_fit_task_begin`` and ``on_fit_task_end`` hooks run once the step is
    taken; ``fitted_estimator`` (built by scikit-learn only if a callback asks
    for it) holds ``attributes(view)``, the fitted attributes of a fit that
    stopped at this step. A hook returning True stops the descent there.
    """

    def __init__(self, ctx, estimator, X, y, metadata, attributes):
        self.ctx, self.estimator = ctx, estimator
        self.kwargs = {"estimator": estimator, "X": X, "y": y, "metadata": metadata}
        self.attributes = attributes

    def on_step(self, view):
        task = self.ctx.subcontext(task_name="gradient step")
        task.call_on_fit_task_begin(**self.kwargs)
        return task.call_on_fit_task_end(
            **self.kwargs, reconstruction_attributes=lambda: self.attributes(view)
        )


class DescentView:
    """What observers see of a running descent, computed on demand.

    ``n_iter``: steps taken so far; ``active``: indices of the models still
    descending; ``params(model=0)``: ``(coef (K, d), intercept (K,))`` of the
    current iterate; ``loss_curve(model=0)``: ``(n_iter, K)`` costs so far;
    ``path``: the path (for observers that compute in its own space, e.g.
    validation scores from ``X_val X^T u`` on the Gram path).
    """

    def __init__(self, loop):
        self._loop = loop
        self.path = loop.path
        self.n_iter = 0

    @property
    def active(self):
        return self._loop.active

    def params(self, model=0):
        return self._loop.params_of(model)

    def loss_curve(self, model=0):
        self._loop.flush()
        return self._loop.curves.rows(model, self.n_iter)


class _Curves:
    """Costs per (step, model, neuron), grown as steps run (never max_iter)."""

    def __init__(self, n_models, n_neurons):
        self._data = np.full((16, n_models, n_neurons), np.nan)
        self.n_models, self.n_neurons = n_models, n_neurons

    def put(self, steps, models, costs):
        need = steps[-1] + 1
        if need > len(self._data):
            grown = np.full(
                (max(need, 2 * len(self._data)), self.n_models, self.n_neurons),
                np.nan,
            )
            grown[: len(self._data)] = self._data
            self._data = grown
        self._data[steps[:, None], models] = costs

    def rows(self, model, n_iter):
        return self._data[:n_iter, model].copy()


class DescentResult:
    """What :func:`descend` returns, per model (``L`` of them).

    ``coef`` (L, K, d) and ``intercept`` (L, K), NaN for diverged models;
    ``loss_curves``: L arrays (n_iter[l], K), the cost before each step (for a
    diverged model the last row is the first non-finite cost); ``n_iter`` (L,);
    ``status`` (L,): ``RAN_OUT``, ``CONVERGED``, ``DIVERGED`` or ``STOPPED``.

    With ``descend(..., final_params=False)`` the models still running at the
    end (``RAN_OUT``) have NaN ``coef`` and ``intercept``: ``path`` still
    holds them, in the order of ``final_models``. When no model has its
    parameters formed, ``coef`` and ``intercept`` are read-only NaN views.
    """

    def __init__(self, coef, intercept, loss_curves, n_iter, status, path=None,
                 final_models=None):  # fmt: skip
        self.coef, self.intercept = coef, intercept
        self.loss_curves, self.n_iter, self.status = loss_curves, n_iter, status
        self.path, self.final_models = path, final_models


class _Loop:
    """The state of one :func:`descend` call; :meth:`run` is the loop."""

    def __init__(self, path, max_iter, rules, observers, cost_every,
                 final_params=True):  # fmt: skip
        self.path, self.max_iter = path, max_iter
        self.final_params, self.final_models = final_params, None
        self.rules, self.observers = list(rules), list(observers)
        n_models, n_neurons = path.n_models, path.n_neurons
        self.n_models, self.n_neurons = n_models, n_neurons
        self.active = np.arange(n_models)
        self.curves = _Curves(n_models, n_neurons)
        self.n_iter = np.full(n_models, -1)
        self.status = np.full(n_models, RAN_OUT)
        self.coef = [None] * n_models
        self.intercept = [None] * n_models
        self.kept = []
        every_step = any(r.needs_costs for r in self.rules) or any(
            o.needs_costs for o in self.observers
        )
        self.cost_every = 1 if every_step else cost_every
        self.need_grad = any(r.needs_grad for r in self.rules)
        # The costs never feed back into the steps, so unless a rule needs
        # them at once they are computed for blocks of steps, from the scores
        # the path keeps meanwhile.
        self.block = 1
        if not every_step and self.cost_every == 1:
            size = path.X.shape[0] * n_models * n_neurons
            cap = min(getattr(path, "max_block", 100), max_iter)
            self.block = int(np.clip(2**20 // size, 1, cap))
        path.reserve(self.block)

    def columns(self, models_mask):
        return np.repeat(models_mask, self.n_neurons)

    def params_of(self, model):
        """Current ``(coef, intercept)`` of one model, (K, d) and (K,)."""
        where = np.flatnonzero(self.active == model)
        if not len(where):
            return self.coef[model], self.intercept[model]
        mask = np.zeros(len(self.active), dtype=bool)
        mask[where] = True
        coef, intercept = self.path.result(self.columns(mask))
        return coef, intercept

    def flush(self):
        """Costs of the kept steps; drop the models that diverged meanwhile."""
        if not self.kept:
            return
        steps = np.array(self.kept)
        costs = self.path.costs(len(steps))
        costs = costs.reshape(len(steps), len(self.active), self.n_neurons)
        self.kept.clear()
        self.curves.put(steps, self.active, costs)
        for observer in self.observers:
            observer.on_costs(steps, costs)
        finite = np.isfinite(costs).all(axis=2)  # (steps, models)
        if not finite.all():
            diverged = ~finite.all(axis=0)
            first_bad = steps[np.argmin(finite[:, diverged], axis=0)]
            self.finish(diverged, DIVERGED, first_bad + 1)
        return costs

    def finish(self, done, status, n_iter):
        """Store the models ``done`` (a mask over ``active``) and drop them."""
        models = self.active[done]
        if self.kept:
            # The rows of all active models, before any is dropped; this may
            # drop models that diverged meanwhile, so `done` is recomputed.
            self.flush()
            done = np.isin(self.active, models)
            models = self.active[done]
        self.status[models] = status
        self.n_iter[models] = n_iter
        columns = self.columns(done)
        if status != DIVERGED:
            coef, intercept = self.path.result(columns)
            coef = coef.reshape(-1, self.n_neurons, coef.shape[-1])
            intercept = intercept.reshape(-1, self.n_neurons)
            for i, m in enumerate(models):
                self.coef[m], self.intercept[m] = coef[i], intercept[i]
        self.dropped = done
        if len(models) < len(self.active):
            self.path.keep(~columns)
            for rule in self.rules:
                rule.keep(~done)
        self.active = self.active[~done]

    def leave_in_path(self, n_iter):
        """End the models still running without forming their parameters."""
        if self.kept:
            self.flush()  # may drop models that diverged meanwhile
        self.status[self.active] = RAN_OUT
        self.n_iter[self.active] = n_iter
        self.final_models = self.active

    def run(self):
        path, max_iter = self.path, self.max_iter
        view = DescentView(self)
        for observer in self.observers:
            observer.begin(view)
        scores_of, residual_of, step_with = path.scores, path.residual, path.step
        cost_every, block, kept = self.cost_every, self.block, self.kept
        rules = self.rules
        watchers = [
            o for o in self.observers if type(o).on_step is not Observer.on_step
        ]
        need_grad = self.need_grad
        # Nothing looks at single steps: the path runs all the steps up to
        # the next costs check at once (models that diverge meanwhile run on
        # with infinities, and are dropped as they would be).
        advance = None if rules or watchers else getattr(path, "advance", None)
        step = 0
        # Small products per step run on one BLAS thread: a second thread
        # saves less than waking it costs, and on a busy machine each product
        # can wait a whole scheduler slice for it.
        if getattr(path, "small_steps", False):
            threads = one_blas_thread()
        else:
            threads = contextlib.nullcontext()
        # A diverging model may run on with infinities until its costs are
        # checked.
        with threads, np.errstate(over="ignore", under="ignore", invalid="ignore"):
            while advance is not None and step < max_iter and len(self.active):
                if cost_every == 1:  # every step kept, until the block is full
                    n_steps = min(block - len(kept), max_iter - step)
                    rows = range(len(kept), len(kept) + n_steps)
                    kept.extend(range(step, step + n_steps))
                else:  # a block of 1: the steps up to the next one kept
                    until = min(-(-step // cost_every) * cost_every, max_iter - 1)
                    rows = [None] * (until - step) + [len(kept)]
                    kept.append(until)
                    n_steps = until + 1 - step
                step += n_steps
                advance(rows)
                self.flush()
            while step < max_iter and len(self.active):
                last = step == max_iter - 1
                if cost_every == 1 or last or step % cost_every == 0:
                    scores = scores_of(len(kept))
                    kept.append(step)
                    costs = None
                    if last or len(kept) == block:
                        n_active = len(self.active)
                        costs = self.flush()
                        if not len(self.active):
                            break
                        if len(self.active) < n_active:  # diverged models gone
                            scores = scores_of(0)
                            costs = costs[:, ~self.dropped]
                else:
                    scores = scores_of(None)
                    costs = None
                residual = residual_of(scores)
                grad_norms = None
                if need_grad:
                    grad_norms = path.grad_norms(residual)
                    grad_norms = grad_norms.reshape(len(self.active), -1)
                step_with(residual)
                step += 1
                if rules:
                    done = np.zeros(len(self.active), dtype=bool)
                    if costs is not None:
                        costs = costs[-1]
                    for rule in rules:
                        done |= rule(step, costs, grad_norms)
                    if done.any():
                        self.finish(done, CONVERGED, step)
                if watchers and len(self.active):
                    view.n_iter = step
                    if any([observer.on_step(view) for observer in watchers]):
                        self.finish(np.ones(len(self.active), bool), STOPPED, step)
            if len(self.active) and not self.final_params:
                self.leave_in_path(step)
            elif len(self.active):
                self.finish(np.ones(len(self.active), dtype=bool), RAN_OUT, step)
        view.n_iter = step
        for observer in self.observers:
            observer.end(view)
        return self.result()

    def result(self):
        n_models, n_neurons = self.n_models, self.n_neurons
        n_features, dtype = self.path.n_features, self.path.dtype
        shape = (n_models, n_neurons, n_features)
        if all(c is None for c in self.coef):
            # None formed (all left in the path, or diverged): read-only NaN
            # views, not megabytes of NaN for every fold model.
            nan = np.full(1, np.nan, dtype=dtype)
            coef = np.broadcast_to(nan, shape)
            intercept = np.broadcast_to(nan, shape[:2])
        else:
            coef = np.full(shape, np.nan, dtype=dtype)
            intercept = np.full(shape[:2], np.nan, dtype=dtype)
        for m in range(n_models):
            if self.coef[m] is not None:
                coef[m], intercept[m] = self.coef[m], self.intercept[m]
        curves = [self.curves.rows(m, self.n_iter[m]) for m in range(n_models)]
        return DescentResult(
            coef, intercept, curves, self.n_iter.copy(), self.status,
            path=self.path, final_models=self.final_models,
        )  # fmt: skip


def descend(path, *, max_iter, rules=(), observers=(), cost_every=1,
            final_params=True):  # fmt: skip
    """Run gradient descent on ``path`` for at most ``max_iter`` steps.

    Each step: the scores of the current iterate (kept for the cost of that
    step), the residual, the optional gradient norms, the path's step; then
    the stop rules (per model: a model whose rule fires is stored as
    ``CONVERGED`` and dropped, the others go on) and the observers' ``on_step``
    (any returning True stops every model, ``STOPPED``). A model whose cost
    stops being finite is ``DIVERGED``.

    Parameters
    ----------
    path : path object
        See the module docstring.
    max_iter : int
        Upper bound on the steps; nothing is allocated in proportion to it.
    rules : sequence of stop rules
        Callables ``rule(n_iter, costs, grad_norms) -> mask of done models``,
        ``costs`` (models, K) of the step just taken (when ``needs_costs``),
        ``grad_norms`` (models, K) before it (when ``needs_grad``); and
        ``rule.keep(mask)`` when models are dropped.
    observers : sequence of :class:`Observer`
    cost_every : int, default=1
        Compute the costs only every ``cost_every`` steps and before the last
        one (other rows of the loss curves are NaN), when only divergence
        needs checking: a diverged model's cost stays non-finite.
    final_params : bool, default=True
        Whether to form the ``coef`` of the models that run to ``max_iter``;
        if False they stay in the path (see :class:`DescentResult`), e.g. for
        :meth:`_GroupedPath.decisions`.

    Returns
    -------
    DescentResult
    """
    return _Loop(path, max_iter, rules, observers, cost_every, final_params).run()


# --- Momentum: an update rule with memory. ----------------------------------


class Momentum:
    """Gradient descent with momentum, as ``MLPClassifier``'s SGD solver.

    With ``delta = lr * gradient`` for each parameter array, the velocity is
    ``v <- mu v - delta`` (zero at the start), and the parameter moves by
    ``v`` (classical momentum) or by ``mu v - delta`` (Nesterov's momentum, in
    the form of Sutskever et al. that ``MLPClassifier`` uses). ``mu = 0`` is
    plain descent, but :class:`PlainStep` is what the estimators use then (the
    Gram path folds its steps only for a plain rule).

    The update is linear in ``(params, deltas)``. On the Gram path the params
    are the sample-space ``u``, the decay ``c`` and the bias, so the
    velocities stay in sample space (``n`` numbers per neuron, not ``d``) and
    ``w = c w_0 + X^T u`` is still the primal iterate: the velocity of ``w``
    is ``X^T`` times that of ``u`` plus ``w_0`` times that of ``c``.

    For a path of one model; the velocities follow the path's columns, which
    are never partly dropped then.
    """

    plain = False

    def __init__(self, momentum, nesterov=True):
        self.momentum, self.nesterov = momentum, nesterov
        self.velocities = None

    def update(self, params, deltas):
        if self.velocities is None:
            self.velocities = [np.zeros_like(param) for param in params]
        mu = self.momentum
        for param, velocity, delta in zip(params, self.velocities, deltas, strict=True):
            velocity *= mu
            velocity -= delta
            if self.nesterov:
                move = mu * velocity
                move -= delta
                param += move
            else:
                param += velocity


# --- Validation: the cost on held-out samples, early stopping. --------------


class _ParamsScorer:
    """Validation scores ``X_val w + b`` from the path's current parameters.

    Works for any path whose :meth:`result` is cheap (primal, chunked Dask):
    ``O(n_val d)`` per step. A snapshot is the parameters themselves.
    """

    def __init__(self, path, X_val):
        self.path, self.X_val = path, X_val

    def scores(self):
        coef, intercept = self.path.result()
        return self.X_val @ coef.T + intercept

    def snapshot(self):
        return self.path.result()

    def params(self, snapshot):
        return snapshot


class _GramScorer:
    """Validation scores on the Gram path, from ``C = X_val X^T`` (once).

    The iterate is ``w = c w_0 + X^T u`` with bias ``b``, so
    ``X_val w + b = C u + c (X_val w_0) + b``: ``O(n_val n)`` per step and
    neuron instead of ``O(n_val d)``. When the path folds the bias and the
    step factor into its Gram matrix (it iterates on ``v`` with
    ``u = f v`` and ``b = b_0 + sum(u)``), the same folding goes into ``C``
    once: ``X_val w + b = ((C + 1) * f) v + (X_val w_0 + b_0)``.

    A snapshot copies the path's sample-space state (``u``, ``b``, ``c``), of
    ``O(n)`` numbers; :meth:`params` forms ``coef`` from it only at the end.
    """

    def __init__(self, path, X_val):
        self.path = path
        cross = X_val @ path.X.T
        self.p_val = X_val @ path.coef0.T if path.warm else None
        if path.folded:
            if path.fit_intercept:
                cross += 1
            if path.v_scale is not None:
                cross *= path.v_scale[:, 0]
            offset = path.intercept
            if path.warm:
                offset = self.p_val + offset
            self.offset = offset
        self.cross = cross

    def _state(self):
        path = self.path
        return [path.u, path.intercept] + ([] if path.folded else [path.decay])

    def scores(self):
        path = self.path
        scores = self.cross @ path.u
        if path.folded:
            scores += self.offset
            return scores
        scores += path.intercept
        if self.p_val is not None:
            scores += path.decay * self.p_val
        return scores

    def snapshot(self):
        return [array.copy() for array in self._state()]

    def params(self, snapshot):
        for array, saved in zip(self._state(), snapshot, strict=True):
            array[...] = saved
        return self.path.result()


class ValidationCurve(Observer):
    """The cost on validation samples at every iterate; early stopping.

    For a path of one model. ``costs`` gets the validation cost (weighted
    mean cross-entropy, mean over the neurons, without the penalty) of the
    starting point and after every step, the last one included; ``best`` and
    ``best_iteration`` are its lowest value and the number of steps that led
    there. With ``patience``, :meth:`on_step` stops the descent once the cost
    has not improved on its best by more than ``tol`` for ``patience`` steps
    in a row (``MLPClassifier``'s rule, on the validation cost); with
    ``keep_best``, :attr:`best_params` is ``(coef, intercept)`` of the best
    iterate, kept as a snapshot of the path's state whenever the best
    improves.

    On the Gram path the scores come from ``X_val X^T``, computed once
    (:class:`_GramScorer`); on the others from the current weights.
    """

    def __init__(self, X_val, Y_val, weight_val, *, patience=None, tol=0.0,
                 keep_best=False):  # fmt: skip
        self.X_val, self.signs = X_val, 2.0 * Y_val - 1.0
        self.weight, self.weight_sum = weight_val, weight_val.sum()
        self.patience, self.tol, self.keep_best = patience, tol, keep_best
        self.costs = []
        self.best, self.best_iteration, self.count = np.inf, 0, 0
        self._snapshot, self.best_params = None, None

    def begin(self, view):
        path = view.path
        if isinstance(path, _GramPath):
            self.scorer = _GramScorer(path, self.X_val)
        else:
            self.scorer = _ParamsScorer(path, self.X_val)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            self._record()  # the loop's steps run under the same errstate

    def _record(self):
        scores = self.scorer.scores()
        scores *= self.signs
        cost = float(np.mean(self.weight @ neg_log_sigmoid(scores))) / self.weight_sum
        self.costs.append(cost)
        if cost > self.best - self.tol:
            self.count += 1
        else:
            self.count = 0
        if cost < self.best:
            self.best, self.best_iteration = cost, len(self.costs) - 1
            if self.keep_best:
                self._snapshot = self.scorer.snapshot()
        return self.patience is not None and self.count >= self.patience

    def on_step(self, view):
        return self._record()

    def end(self, view):
        if len(self.costs) == view.n_iter:  # stopped by a rule: not yet seen
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                self._record()
        if self.keep_best and self._snapshot is not None:
            self.best_params = self.scorer.params(self._snapshot)
