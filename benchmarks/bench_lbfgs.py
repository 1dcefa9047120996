"""Benchmark 2: ``fit`` against scikit-learn's ``LogisticRegression()`` (lbfgs).

Both in ``make_pipeline(ImageFlattener(), ...)`` on the cat / non-cat uint8
images, with their defaults: our 2,000 steps of gradient descent at learning
rate 0.005 without penalty, against lbfgs with ``C=1.0`` and ``max_iter=100``.
Prints the time ratio and both test accuracies.

Goal (issue 4): at least 10x faster at equal or better test accuracy.

    python benchmarks/bench_lbfgs.py [--repeats 5] [--data DIR]
"""

import warnings

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
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    add_data_option(p)
    args = p.parse_args(argv)
    X_train, y_train, X_test, y_test = load_catvnoncat(args.data)
    machine_report()

    models, lbfgs_warnings = {}, []

    def fit_ours():
        model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
        models["ours"] = model.fit(X_train, y_train)

    def fit_lbfgs():
        model = make_pipeline(ImageFlattener(), LogisticRegression())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            models["lbfgs"] = model.fit(X_train, y_train)
        lbfgs_warnings[:] = [w for w in caught if w.category is ConvergenceWarning]

    contenders = {
        "SigmoidNeuronClassifier()": fit_ours,
        "LogisticRegression() (lbfgs)": fit_lbfgs,
    }
    times = alternate(contenders, args.repeats)
    print("\ntimes (fit, preprocessing included):")
    print_times(times)

    ours, lbfgs = models["ours"], models["lbfgs"]
    acc = {name: m.score(X_test, y_test) for name, m in models.items()}
    print("\naccuracy (train / test):")
    print(
        f"  ours   {ours.score(X_train, y_train):.4f} / {acc['ours']:.4f} "
        f"({ours[-1].n_iter_} steps)"
    )
    print(
        f"  lbfgs  {lbfgs.score(X_train, y_train):.4f} / {acc['lbfgs']:.4f} "
        f"({int(lbfgs[-1].n_iter_[0])} iterations"
        + (", stopped at max_iter without converging)" if lbfgs_warnings else ")")
    )
    print("\nratio (lbfgs time / our time, medians of the same run):")
    ratio = ratio_line(
        "fit vs LogisticRegression()",
        median(times["LogisticRegression() (lbfgs)"]),
        median(times["SigmoidNeuronClassifier()"]),
        goal=10,
    )
    verdict = "equal or better" if acc["ours"] >= acc["lbfgs"] else "WORSE"
    print(
        f"test accuracy: ours {acc['ours']:.4f} vs lbfgs {acc['lbfgs']:.4f} "
        f"({verdict}); goal {'met' if ratio >= 10 and verdict != 'WORSE' else 'MISSED'}"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
