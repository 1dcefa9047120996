"""Full-batch gradient descent for sigmoid neurons: the primal and Gram paths.

Pure functions (plus small private holders of the descent's state) that never
see an estimator. :func:`_gradient_descent` fits one model (``K`` one-vs-rest neurons);
:func:`_batched_gradient_descent` fits ``L`` such models at once (one per
learning rate, or per learning rate and cross-validation fold) as the columns
of a single weight matrix, so that every step reads the data, or the Gram
matrix, once for all of them.
"""

import numpy as np
from scipy.special import expit, log_expit

__all__ = ["_batched_gradient_descent", "_choose_solver", "_cost", "_gradient_descent"]

# Status of each model after a batched descent.
RAN_OUT, CONVERGED, DIVERGED = 0, 1, 2


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


def _divergence_error(step, cost, learning_rate, alpha):
    """The error raised when the cost stops being finite at ``step``."""
    return ValueError(
        f"Gradient descent diverged at step {step} (cost {np.mean(cost)}); lower "
        f"learning_rate={learning_rate} or alpha={alpha}, or scale X."
    )


def _choose_solver(solver, n_samples, n_features, n_columns, max_iter):
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


def _neg_log_sigmoid(t):
    """``-log(sigmoid(t))`` as ``log1p(exp(-|t|)) - min(t, 0)``: never overflows.

    Equal to ``-log_expit(t)`` to rounding, and several times faster on large
    blocks: NumPy's exp and log1p are vectorised.
    """
    out = np.abs(t)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out -= np.minimum(t, 0)
    return out


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

    def as_columns(self):
        """The weights as an (n, 1) or (n, M) array, or None if all ones."""
        if self.unit:
            return None
        return self.weight[:, None] if self.shared else self.weight

    def keep(self, columns):
        if not self.shared:
            self.weight, self.sum = self.weight[:, columns], self.sum[columns]


class _PrimalState:
    """Weights ``W`` (M, d) and biases ``b`` (M,), updated in place.

    Every step reads ``X`` twice (scores, then gradient) through BLAS, for all
    columns at once; the only buffers have the size of ``W`` or of the scores
    and are allocated once. The arithmetic is the reference loop's, in the same
    order.
    """

    def __init__(self, X, coef, intercept, weights, lr, alpha, fit_intercept):
        self.X, self.weights, self.lr = X, weights, lr
        self.alpha, self.fit_intercept = alpha, fit_intercept
        self.coef = np.array(coef, dtype=X.dtype, order="C")
        self.intercept = np.array(intercept, dtype=X.dtype)
        self._grad = np.empty_like(self.coef)

    def scores(self, out):
        scores = np.matmul(self.X, self.coef.T, out=out)
        scores += self.intercept
        return scores

    def sq_norms(self):
        return np.einsum("md,md->m", self.coef, self.coef)

    def step(self, residual):
        """One step from ``residual = sigmoid(z) - y``."""
        residual = self.weights.apply(residual)
        weight_sum = self.weights.sum
        grad = np.matmul(residual.T, self.X, out=self._grad)
        # Divide after the product, as the reference does, to keep its iterates.
        grad /= weight_sum if np.ndim(weight_sum) == 0 else weight_sum[:, None]
        if self.alpha:
            grad += self.alpha * self.coef
        grad *= self.lr[:, None]
        self.coef -= grad
        if self.fit_intercept:
            self.intercept -= self.lr * (residual.sum(axis=0) / weight_sum)

    def keep(self, columns):
        self.lr = self.lr[columns]
        self.coef = self.coef[columns]
        self.intercept = self.intercept[columns]
        self._grad = np.empty_like(self.coef)

    def result(self, columns):
        """``(coef, intercept)`` of the selected columns."""
        return self.coef[columns], self.intercept[columns]


class _GramState:
    """The same iterates, kept in sample space.

    Every iterate is ``w_t = c_t w_0 + X^T u_t`` with ``u_t`` in sample space
    (``n`` values per neuron), so a step only needs ``G = X X^T``; ``coef`` is
    formed once, in :meth:`result`. Steps take ``z / 2`` and the residual
    ``2 (sigmoid(z) - y) = 2 expit(z) - 1 - (2 y - 1)``. Without penalty
    (``c_t = 1``) the bias is the weight of a constant feature,
    ``b_t = b_0 + sum(u_t)``, so it is folded into the Gram matrix
    (``(G + 1) / 2``, unless the samples' squared norms are below 1e-3 on
    average, where the 1 would swamp ``G``); with a single column the step
    factor goes into it as well, and a step is one product and three
    elementwise passes.
    """

    def __init__(
        self, X, gram, coef, intercept, weights, lr, alpha, fit_intercept, own_gram
    ):
        dtype = X.dtype
        self.X = X
        self.fit_intercept = fit_intercept
        self.coef0 = np.array(coef, dtype=dtype, order="C")
        self.intercept = np.array(intercept, dtype=dtype)
        n_columns = len(self.intercept)
        # u <- (1 - lr alpha) u - (lr / S) s r: both factors computed once; the
        # loop passes 2 r (it works on z / 2, see half_scores), hence the 1/2.
        self.shrink = 1 - lr * alpha if alpha else None
        self.step_weight = 0.5 * lr / weights.sum
        if weights.as_columns() is not None:
            self.step_weight = weights.as_columns() * self.step_weight
        self.u = np.zeros((X.shape[0], n_columns), dtype=dtype)
        self._gu = np.empty_like(self.u)
        self.warm = bool(np.any(self.coef0))  # warm start or random init
        self.p = X @ self.coef0.T if self.warm else None  # X w_0, once
        # Adding 1 to G would swamp its entries if the samples were tiny.
        self.folded = self.shrink is None and (
            not fit_intercept or np.trace(gram) >= 1e-3 * len(gram)
        )
        if self.folded:
            # z / 2 = (G [+ 1]) / 2 u + (X w_0 + b_0) / 2, the last constant
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
        # One column: its step factor (per sample) goes into G's columns once,
        # u = factor * v, and a step is only v <- v - 2 r.
        self.v_scale = None
        if self.folded and n_columns == 1:
            self.v_scale = np.broadcast_to(self.step_weight, (X.shape[0], 1)).copy()
            self.gram *= self.v_scale[:, 0]

    def half_scores(self, out):
        """``z / 2``: halving ``G`` once makes the bias folding exact and cheap."""
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

    def scores(self, out):
        return np.multiply(self.half_scores(out), 2, out=out)  # halving is exact

    def sq_norms(self):
        # ||w||^2 = c^2 ||w_0||^2 + 2 c (X w_0).u + u^T G u, G u from scores().
        sq_norms = np.einsum("nm,nm->m", self.u, self._gu)
        if self.warm:
            c = self.decay
            sq_norms += c * c * self.p_sq_norms
            sq_norms += 2 * c * np.einsum("nm,nm->m", self.p, self.u)
        return sq_norms

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
        if self.fit_intercept:
            self.intercept -= np.add.reduce(residual, axis=0)
        if self.shrink is not None:
            self.u *= self.shrink
            self.decay *= self.shrink
        self.u -= residual

    def keep(self, columns):
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

    def result(self, columns):
        """``(coef, intercept)`` of the selected columns: ``c w_0 + X^T u``."""
        u = self.u[:, columns]
        if self.v_scale is not None:
            u = self.v_scale * u
        coef = u.T @ self.X
        intercept = self.intercept[columns]
        if self.folded:
            if self.warm:
                coef += self.coef0[columns]
            if self.fit_intercept:
                intercept = intercept + u.sum(axis=0)
        elif self.warm:
            coef += self.decay[columns, None] * self.coef0[columns]
        return coef, intercept


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
    solver="auto",
    gram=None,
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
    learning_rate, max_iter, tol, alpha, fit_intercept, verbose, solver
        As in :class:`SigmoidNeuronClassifier`.
    gram : ndarray of shape (n_samples, n_samples), default=None
        ``X @ X.T`` if already computed (Gram path only).

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

    Raises
    ------
    ValueError
        If the cost stops being finite (the descent diverged).
    """
    coefs, intercepts, curves, n_iters, status = _batched_gradient_descent(
        X,
        Y,
        sample_weight,
        coef=np.asarray(coef)[None],
        intercept=np.asarray(intercept)[None],
        learning_rates=[learning_rate],
        max_iter=max_iter,
        tol=tol,
        alpha=alpha,
        fit_intercept=fit_intercept,
        verbose=verbose,
        solver=solver,
        gram=gram,
    )
    if status[0] == DIVERGED:
        raise _divergence_error(n_iters[0] - 1, curves[0][-1], learning_rate, alpha)
    return coefs[0], intercepts[0], curves[0], int(n_iters[0]), status[0] == CONVERGED


def _batched_gradient_descent(
    X,
    Y,
    sample_weight,
    *,
    coef,
    intercept,
    learning_rates,
    max_iter,
    tol,
    alpha,
    fit_intercept,
    verbose=0,
    solver="auto",
    gram=None,
    loss_every=1,
):
    """Gradient descent for ``L`` models of ``K`` neurons each, side by side.

    All ``M = L K`` neurons are the columns of one weight matrix: a step is one
    product with ``X`` (or ``G``) for all of them, then an update with a vector
    of learning rates. Models may also have their own sample weights: a model
    that gives zero weight to some samples is the model trained without them,
    which is how cross-validation folds share the products. Each model stops
    on its own, when the mean cost of its ``K`` neurons improves by less than
    ``tol`` or stops being finite (diverged); the others go on.

    Primal path: ``z = X w + b``, ``w <- w - lr (X^T r / S + alpha w)``, with
    ``r = s * (sigmoid(z) - y)`` and ``S = sum(s)``.

    Gram path: write ``w_t = c_t w_0 + X^T u_t``, ``c_0 = 1``, ``u_0 = 0``.
    The update is then ``u <- u - lr (r / S + alpha u)`` and
    ``c <- (1 - lr alpha) c`` (so ``c_t = (1 - lr alpha)^t``). With
    ``G = X X^T`` computed once, the scores are
    ``z_t = c_t (X w_0) + G u_t + b_t`` at ``O(n^2)`` per neuron and step, the
    penalty uses ``||w_t||^2 = c_t^2 ||w_0||^2 + 2 c_t (X w_0) . u_t +
    u_t^T G u_t``, and ``coef`` is formed once at the end, ``c w_0 + X^T u``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, K)
    sample_weight : ndarray of shape (n_samples,) or (n_samples, L)
        Weights shared by all models, or one column per model.
    coef : ndarray of shape (L, K, n_features)
    intercept : ndarray of shape (L, K)
    learning_rates : array-like of shape (L,)
    max_iter, tol, alpha, fit_intercept, verbose, solver
        As in :class:`SigmoidNeuronClassifier`; ``solver`` is resolved for all
        ``M`` columns together.
    gram : ndarray of shape (n_samples, n_samples), default=None
        ``X @ X.T`` if already computed (Gram path only).
    loss_every : int, default=1
        Compute the cost only every ``loss_every`` steps and before the last
        one (other rows of the loss curves are NaN), when only divergence needs
        checking: a diverged model's cost stays non-finite. Ignored (1) when
        ``tol`` is set.

    Returns
    -------
    coef : ndarray of shape (L, K, n_features)
        NaN for diverged models.
    intercept : ndarray of shape (L, K)
    loss_curves : list of L ndarrays of shape (n_iter[l], K)
        Cost of each neuron before each step; for a diverged model the last
        row is the first non-finite cost.
    n_iter : ndarray of shape (L,)
    status : ndarray of shape (L,)
        ``RAN_OUT`` (all ``max_iter`` steps), ``CONVERGED`` or ``DIVERGED``.
    """
    dtype = X.dtype
    n_samples, n_features = X.shape
    coef = np.asarray(coef, dtype=dtype)
    n_models, n_neurons = coef.shape[:2]
    n_columns = n_models * n_neurons
    coef = coef.reshape(n_columns, n_features)
    intercept = np.asarray(intercept, dtype=dtype).reshape(n_columns)
    Y = np.asarray(Y, dtype=dtype)
    signs = np.tile(2.0 * Y - 1.0, (1, n_models))
    targets = np.tile(Y, (1, n_models))
    lr = np.repeat(np.asarray(learning_rates, dtype=dtype), n_neurons)

    sample_weight = np.asarray(sample_weight, dtype=dtype)
    if sample_weight.ndim == 2:
        sample_weight = np.repeat(sample_weight, n_neurons, axis=1)
    weights = _Weights(sample_weight)
    if tol is not None:
        loss_every = 1

    solver = _choose_solver(solver, n_samples, n_features, n_columns, max_iter)
    gram_path = solver == "gram"
    if gram_path:
        own_gram = gram is None
        if own_gram:
            gram = X @ X.T
        state = _GramState(
            X, gram, coef, intercept, weights, lr, alpha, fit_intercept, own_gram
        )
    else:
        state = _PrimalState(X, coef, intercept, weights, lr, alpha, fit_intercept)

    loss_curve = np.full((max_iter, n_models, n_neurons), np.nan)
    n_iter = np.full(n_models, max_iter)
    status = np.full(n_models, RAN_OUT)
    final_coef = np.full((n_models, n_neurons, n_features), np.nan, dtype=dtype)
    final_intercept = np.full((n_models, n_neurons), np.nan, dtype=dtype)
    active = np.arange(n_models)  # models still descending, in column order

    # The costs never feed back into the steps, so without tol they are
    # computed for blocks of steps at once, from the scores kept meanwhile
    # (halved on the Gram path, which steps from z / 2).
    block = 1
    if tol is None and loss_every == 1:
        block = int(np.clip(2**20 // (n_samples * n_columns), 1, 100))
    history = np.empty((block, n_samples, n_columns), dtype=dtype)
    history_sq_norms = np.empty((block, n_columns), dtype=dtype) if alpha else None
    kept_steps = []
    residual = np.empty((n_samples, n_columns), dtype=dtype)

    def finish(done):
        """Store the models ``done`` (a mask over ``active``) and drop them."""
        nonlocal active, signs, targets, history, history_sq_norms, residual
        columns = np.repeat(done, n_neurons)
        if status[active[done]].min() != DIVERGED:
            coef_done, intercept_done = state.result(columns)
            final_coef[active[done]] = coef_done.reshape(-1, n_neurons, n_features)
            final_intercept[active[done]] = intercept_done.reshape(-1, n_neurons)
        keep = ~columns
        state.keep(keep)
        weights.keep(keep)
        signs, targets = signs[:, keep], targets[:, keep]
        history = np.empty((block, n_samples, keep.sum()), dtype=dtype)
        if alpha:
            history_sq_norms = history_sq_norms[:, keep]
        residual = np.empty((n_samples, keep.sum()), dtype=dtype)
        active = active[~done]

    def record_costs():
        """Costs of the kept steps; drop the models that diverged meanwhile."""
        steps = np.array(kept_steps)
        scores = history[: len(steps)]
        if gram_path:
            scores = 2 * scores  # exact
        costs = weights.cost(_neg_log_sigmoid(signs * scores))
        if alpha:
            costs = costs + 0.5 * alpha * history_sq_norms[: len(steps)]
        costs = costs.reshape(len(steps), len(active), n_neurons)
        loss_curve[steps[:, None], active] = costs
        finite = np.isfinite(costs).all(axis=2)  # (steps, models)
        if verbose:
            for step, row, ok in zip(steps, costs, finite.all(axis=1), strict=True):
                if ok and (verbose > 1 or step % 100 == 0):
                    means = ", ".join(f"{c:.6f}" for c in row.mean(axis=1))
                    print(f"Cost after iteration {step}: {means}")
        kept_steps.clear()
        if not finite.all():
            diverged = ~finite.all(axis=0)
            status[active[diverged]] = DIVERGED
            n_iter[active[diverged]] = steps[np.argmin(finite[:, diverged], axis=0)] + 1
            finish(diverged)

    # Scores (z / 2 on the Gram path) of the current step, into `out`.
    scores_of = state.half_scores if gram_path else state.scores
    step_with = state.step  # a local name: this loop is hot
    every_step = loss_every == 1
    # A diverging model may run on with infinities until its costs are checked.
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for step in range(max_iter):
            last = step == max_iter - 1
            if every_step or last or step % loss_every == 0:
                scores = scores_of(history[len(kept_steps)])
                if alpha:
                    history_sq_norms[len(kept_steps)] = state.sq_norms()
                kept_steps.append(step)
                if last or len(kept_steps) == block:
                    n_active = len(active)
                    record_costs()
                    if not len(active):
                        break
                    if len(active) < n_active:  # diverged models are gone
                        scores = scores_of(history[0])
            else:
                scores = scores_of(residual)
            if gram_path:  # 2 (sigmoid(z) - y) = 2 sigmoid(2 (z / 2)) - 1 - (2 y - 1)
                np.multiply(scores, 2.0, out=residual)
                expit(residual, out=residual)
                residual *= 2.0
                residual -= 1.0
                residual -= signs
            else:
                expit(scores, residual)
                residual -= targets
            step_with(residual)
            if tol is not None and step > 0:
                means = loss_curve[step - 1 : step + 1, active].mean(axis=2)
                converged = means[0] - means[1] < tol
                if converged.any():
                    status[active[converged]] = CONVERGED
                    n_iter[active[converged]] = step + 1
                    finish(converged)
                    if not len(active):
                        break
        if len(active):
            finish(np.ones(len(active), dtype=bool))

    curves = [loss_curve[: n_iter[m], m] for m in range(n_models)]
    return final_coef, final_intercept, curves, n_iter, status
