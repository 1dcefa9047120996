"""Full-batch gradient descent for sigmoid neurons: the primal and Gram paths.

Pure functions (plus two small private state holders) that never see an
estimator. :func:`_gradient_descent` fits one model (``K`` one-vs-rest neurons);
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


def _choose_solver(solver, n_samples, n_features, n_columns, max_iter):
    """Resolve ``solver="auto"`` from the shapes with a rough cost count.

    The primal path streams ``X`` twice per step: ``4 n d M`` flops for ``M``
    weight columns, memory-bound. The Gram path pays ``n^2 d`` flops once for
    ``X X^T``, a symmetric matrix-matrix product that runs near the machine's
    peak (counted as 8 times cheaper per flop), then ``2 n^2 M`` per step. The
    Gram matrix is only used when it is smaller than ``X`` (``n < d``), so it
    never costs more memory than the data.
    """
    if solver != "auto":
        return solver
    # Both counts divided by n.
    gram_cost = n_samples * n_features / 8 + 2 * max_iter * n_samples * n_columns
    primal_cost = 4 * max_iter * n_features * n_columns
    if n_samples < n_features and gram_cost < primal_cost:
        return "gram"
    return "primal"


class _Weights:
    """Sample weights, shared (n,) or one column per neuron (n, M), and sums."""

    def __init__(self, weight):
        self.weight = weight
        self.shared = weight.ndim == 1
        self.sum = weight.sum() if self.shared else weight.sum(axis=0)
        self.unit = self.shared and bool(np.all(weight == 1))

    def cost(self, losses):
        """Weighted mean of each column of ``losses``."""
        if self.shared:
            return self.weight @ losses / self.sum
        return np.einsum("nm,nm->m", self.weight, losses) / self.sum

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
        self._scores = np.empty((X.shape[0], len(self.intercept)), dtype=X.dtype)

    def scores(self):
        scores = np.matmul(self.X, self.coef.T, out=self._scores)
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
        self._scores = np.empty((self.X.shape[0], len(self.intercept)), self.X.dtype)

    def result(self, columns):
        """``(coef, intercept)`` of the selected columns."""
        return self.coef[columns], self.intercept[columns]


class _GramState:
    """The same iterates, kept in sample space.

    Every iterate is ``w_t = c_t w_0 + X^T u_t`` with ``u_t`` in sample space
    (``n`` values per neuron), so a step only needs ``G = X X^T``; ``coef`` is
    formed once, in :meth:`result`.
    """

    def __init__(self, X, gram, coef, intercept, weights, lr, alpha, fit_intercept):
        dtype = X.dtype
        self.X, self.gram = X, gram
        self.fit_intercept = fit_intercept
        self.coef0 = np.array(coef, dtype=dtype, order="C")
        self.intercept = np.array(intercept, dtype=dtype)
        n_columns = len(self.intercept)
        # u <- (1 - lr alpha) u - (lr / S) s r: both factors computed once.
        self.shrink = 1 - lr * alpha if alpha else None
        self.step_weight = lr / weights.sum
        if weights.as_columns() is not None:
            self.step_weight = weights.as_columns() * self.step_weight
        self.u = np.zeros((X.shape[0], n_columns), dtype=dtype)
        self._gu = np.empty_like(self.u)
        if np.any(self.coef0):  # warm start or random init
            self.decay = np.ones(n_columns, dtype=dtype)
            self.p = X @ self.coef0.T  # X w_0, once
            self.p_sq_norms = np.einsum("md,md->m", self.coef0, self.coef0)
        else:
            self.decay = self.p = self.p_sq_norms = None

    def scores(self):
        scores = np.matmul(self.gram, self.u, out=self._gu) + self.intercept
        if self.p is not None:
            scores += self.decay * self.p
        return scores

    def sq_norms(self):
        # ||w||^2 = c^2 ||w_0||^2 + 2 c (X w_0).u + u^T G u, G u from scores().
        sq_norms = np.einsum("nm,nm->m", self.u, self._gu)
        if self.p is not None:
            c = self.decay
            sq_norms += c * c * self.p_sq_norms
            sq_norms += 2 * c * np.einsum("nm,nm->m", self.p, self.u)
        return sq_norms

    def step(self, residual):
        """One step from ``residual = sigmoid(z) - y``.

        In u-space the primal gradient ``X^T (s r) / S + alpha w`` is
        ``s r / S + alpha u``, plus ``alpha c w_0``, which ``c`` carries.
        """
        residual *= self.step_weight  # lr s r / S
        if self.fit_intercept:
            self.intercept -= residual.sum(axis=0)
        if self.shrink is not None:
            self.u *= self.shrink
            if self.decay is not None:
                self.decay *= self.shrink
        self.u -= residual

    def keep(self, columns):
        self.coef0 = self.coef0[columns]
        self.intercept = self.intercept[columns]
        self.u = np.ascontiguousarray(self.u[:, columns])
        self._gu = np.empty_like(self.u)
        self.step_weight = self.step_weight[..., columns]
        if self.shrink is not None:
            self.shrink = self.shrink[columns]
        if self.p is not None:
            self.decay = self.decay[columns]
            self.p = self.p[:, columns]
            self.p_sq_norms = self.p_sq_norms[columns]

    def result(self, columns):
        """``(coef, intercept)`` of the selected columns: ``c w_0 + X^T u``."""
        coef = self.u[:, columns].T @ self.X
        if self.p is not None:
            coef += self.decay[columns, None] * self.coef0[columns]
        return coef, self.intercept[columns]


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
        raise ValueError(
            f"Gradient descent diverged at step {n_iters[0] - 1} (cost "
            f"{curves[0][-1].mean()}); lower learning_rate={learning_rate} or "
            f"alpha={alpha}, or scale X."
        )
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
    if solver == "gram":
        if gram is None:
            gram = X @ X.T
        state = _GramState(X, gram, coef, intercept, weights, lr, alpha, fit_intercept)
    else:
        state = _PrimalState(X, coef, intercept, weights, lr, alpha, fit_intercept)

    loss_curve = np.full((max_iter, n_models, n_neurons), np.nan)
    n_iter = np.full(n_models, max_iter)
    status = np.full(n_models, RAN_OUT)
    final_coef = np.full((n_models, n_neurons, n_features), np.nan, dtype=dtype)
    final_intercept = np.full((n_models, n_neurons), np.nan, dtype=dtype)
    active = np.arange(n_models)  # models still descending, in column order

    def finish(done):
        """Store the models ``done`` (a mask over ``active``) and drop them."""
        nonlocal active, signs, targets
        columns = np.repeat(done, n_neurons)
        if status[active[done]].min() != DIVERGED:
            coef_done, intercept_done = state.result(columns)
            final_coef[active[done]] = coef_done.reshape(-1, n_neurons, n_features)
            final_intercept[active[done]] = intercept_done.reshape(-1, n_neurons)
        keep = ~columns
        state.keep(keep)
        weights.keep(keep)
        signs, targets = signs[:, keep], targets[:, keep]
        active = active[~done]
        return keep

    with np.errstate(over="ignore", under="ignore"):
        for step in range(max_iter):
            scores = state.scores()
            if step % loss_every == 0 or step == max_iter - 1:
                cost = -weights.cost(log_expit(signs * scores))
                if alpha:
                    cost = cost + 0.5 * alpha * state.sq_norms()
                cost = cost.reshape(len(active), n_neurons)
                if len(active) == n_models:
                    loss_curve[step] = cost
                else:
                    loss_curve[step, active] = cost
                if not np.isfinite(cost).all():
                    diverged = ~np.isfinite(cost).all(axis=1)
                    status[active[diverged]] = DIVERGED
                    n_iter[active[diverged]] = step + 1
                    keep = finish(diverged)
                    if not len(active):
                        break
                    scores, cost = scores[:, keep], cost[~diverged]
                if verbose and (verbose > 1 or step % 100 == 0):
                    means = ", ".join(f"{c:.6f}" for c in cost.mean(axis=1))
                    print(f"Cost after iteration {step}: {means}")
            residual = expit(scores)
            residual -= targets
            state.step(residual)
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
