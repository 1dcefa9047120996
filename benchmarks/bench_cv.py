"""Benchmark 3: ``SigmoidNeuronClassifierCV`` against ``GridSearchCV(n_jobs=1)``.

8 learning rates x 5 stratified folds on the cat / non-cat images, both behind
``ImageFlattener`` in a pipeline, both refitting the best rate on all the
data: once in a plain ``make_pipeline``, once in ``make_neuron_pipeline``
(which sums ``X X^T`` exactly from uint8 pixels, for each of GridSearchCV's
fits as well). Checks they choose the same rate and counts the identical fold
scores.

Goals: at least 8x faster, same chosen rate (issue 12; issue 4 asked 10x).
Also prints the fraction of the machine's dgemm peak the search reaches.

``--pre-issue-baseline`` adds GridSearchCV over ``solver="primal"``, the
neuron as it was before the Gram path (slow: about 30 s a repetition);
``--float32`` runs every contender on float32 images.

    python benchmarks/bench_cv.py [--repeats 3] [--min-time 0.5] [--data DIR]
                                  [--pre-issue-baseline] [--float32]
"""

import numpy as np
from _bench import (
    add_data_option,
    alternate,
    load_catvnoncat,
    machine_report,
    median,
    parser,
    print_load,
    print_times,
    ratio_line,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    SigmoidNeuronClassifierCV,
    make_neuron_pipeline,
)

RATES = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]


def dgemm_peak(single=False):
    """GFLOP/s of a 2000 x 2000 product (best of 3), in this process."""
    import time

    A = np.random.default_rng(0).random((2000, 2000))
    if single:
        A = A.astype(np.float32)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        np.dot(A, A)
        best = min(best, time.perf_counter() - start)
    return 2 * 2000**3 / best / 1e9


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=3)
    add_data_option(p)
    p.add_argument("--pre-issue-baseline", action="store_true")
    p.add_argument("--float32", action="store_true")
    p.add_argument(
        "--min-time", type=float, default=0.5,
        help="call a contender faster than this (seconds) several times in a row "
        "per timing and keep the time per call, as timeit does (0: one call)",
    )  # fmt: skip
    args = p.parse_args(argv)
    X_train, y_train, X_test, y_test = load_catvnoncat(args.data)
    if args.float32:
        X_train, X_test = X_train.astype(np.float32), X_test.astype(np.float32)
    machine_report()
    print(f"images: {X_train.dtype}")
    cv = StratifiedKFold(5)
    print(f"grid: {len(RATES)} learning rates {RATES} x {cv.get_n_splits()} folds")

    models = {}

    def fit_cv(build, key):
        def fit():
            model = build(
                ImageFlattener(), SigmoidNeuronClassifierCV(learning_rates=RATES, cv=cv)
            )
            models[key] = model.fit(X_train, y_train)

        return fit

    def fit_grid(build, key):
        def fit():
            search = GridSearchCV(
                build(ImageFlattener(), SigmoidNeuronClassifier()),
                {"sigmoidneuronclassifier__learning_rate": RATES},
                cv=cv,
                n_jobs=1,
            )
            models[key] = search.fit(X_train, y_train)

        return fit

    def fit_grid_primal():
        search = GridSearchCV(
            make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(solver="primal")),
            {"sigmoidneuronclassifier__learning_rate": RATES},
            cv=cv,
            n_jobs=1,
        )
        models["grid primal"] = search.fit(X_train, y_train)

    contenders = {
        "SigmoidNeuronClassifierCV": fit_cv(make_pipeline, "cv"),
        "GridSearchCV(n_jobs=1)": fit_grid(make_pipeline, "grid"),
        "SigmoidNeuronClassifierCV, NeuronPipeline": fit_cv(
            make_neuron_pipeline, "cv neuron"
        ),
        "GridSearchCV(n_jobs=1), NeuronPipeline": fit_grid(
            make_neuron_pipeline, "grid neuron"
        ),
    }
    if args.pre_issue_baseline:
        contenders["GridSearchCV(n_jobs=1), solver='primal'"] = fit_grid_primal
    times = alternate(contenders, args.repeats, min_time=args.min_time)
    print("\ntimes (search and refit, preprocessing included):")
    print_times(times)

    ours, search = models["cv"][-1], models["grid"]
    chosen = search.best_params_["sigmoidneuronclassifier__learning_rate"]
    theirs = np.array([search.cv_results_[f"split{k}_test_score"] for k in range(5)])
    same_scores = int(np.sum(ours.scores_ == theirs))
    for key in ("cv neuron", "grid neuron"):
        model = models[key][-1] if key.startswith("cv") else models[key]
        rate = (
            model.learning_rate_
            if key.startswith("cv")
            else model.best_params_["sigmoidneuronclassifier__learning_rate"]
        )
        assert rate == ours.learning_rate_, (key, rate)
    print("\nsame result? (the NeuronPipeline contenders chose the same rate)")
    print(
        f"  chosen learning rate: ours {ours.learning_rate_}, GridSearchCV "
        f"{chosen} ({'same' if ours.learning_rate_ == chosen else 'DIFFERENT'})"
    )
    differ = sorted({RATES[j] for j in np.nonzero(ours.scores_ != theirs)[1]})
    print(
        f"  identical fold scores: {same_scores} of {theirs.size}"
        + (f" (the others at learning rates {differ})" if differ else "")
    )
    print(
        "  mean validation accuracy per rate: "
        + ", ".join(f"{s:.4f}" for s in ours.cv_results_["mean_test_score"])
    )
    print(
        f"  test accuracy of the refitted model: ours "
        f"{models['cv'].score(X_test, y_test):.4f}, GridSearchCV "
        f"{search.score(X_test, y_test):.4f}"
    )
    print("\nratio (GridSearchCV time / our time, medians of the same run):")
    ours_time = median(times["SigmoidNeuronClassifierCV"])
    ratio_line(
        "SigmoidNeuronClassifierCV vs GridSearchCV (plain make_pipeline, both)",
        median(times["GridSearchCV(n_jobs=1)"]),
        ours_time,
        goal=8,
    )
    ratio_line(
        "SigmoidNeuronClassifierCV vs GridSearchCV (make_neuron_pipeline, both)",
        median(times["GridSearchCV(n_jobs=1), NeuronPipeline"]),
        median(times["SigmoidNeuronClassifierCV, NeuronPipeline"]),
        goal=8,
    )
    peak = dgemm_peak(X_train.dtype == np.float32)
    n, d = len(X_train), int(np.prod(X_train.shape[1:]))
    # The Gram matrix, 2,000 steps of G[R, R] @ U_R for each fold's training
    # rows R and its 8 rate columns, the refit's 2,000 steps of G @ u: the
    # floating-point work of the search.
    train_sizes = [len(train) for train, _ in cv.split(X_train, y_train)]
    flops = 2.0 * n * n * d + 2000 * 2.0 * (
        sum(r * r for r in train_sizes) * len(RATES) + n * n
    )
    rate = flops / ours_time / 1e9
    print(
        f"  {flops / 1e9:.2f} GFLOP in {ours_time:.3f} s: {rate:.1f} GFLOP/s, "
        f"{rate / peak:.0%} of the machine's {peak:.1f} GFLOP/s "
        f"({'s' if X_train.dtype == np.float32 else 'd'}gemm peak: "
        "a 2000x2000 product, best of 3)"
    )
    if args.pre_issue_baseline:
        ratio_line(
            "SigmoidNeuronClassifierCV vs GridSearchCV over solver='primal'",
            median(times["GridSearchCV(n_jobs=1), solver='primal'"]),
            ours_time,
        )
        primal = models["grid primal"].best_params_
        print(
            f"  (chosen rate there: {primal['sigmoidneuronclassifier__learning_rate']})"
        )
    print_load("load average at end")


if __name__ == "__main__":
    main()
