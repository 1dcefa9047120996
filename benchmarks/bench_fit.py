"""Benchmark 1: ``fit`` against a faithful copy of the reference NumPy loop.

The course notebook's loop, (features, samples) layout, sigmoid as
``1 / (1 + exp(-z))``, cost every step, 2,000 steps at learning rate 0.005,
including its flatten-and-divide preprocessing; against
``make_neuron_pipeline()`` (the pipeline ``catneuron train`` fits and
``load_model`` returns; from uint8 images it sums ``X X^T`` exactly from the
pixels) and the plain ``make_pipeline(ImageFlattener(),
SigmoidNeuronClassifier())`` on the same uint8 images. Checks the predictions
are identical and the costs equal.

Goals: at least 90x faster with identical predictions, 110x from float32
images (issue 12; issue 4 asked 25x). Also times the floor of the method, the
BLAS calls alone (the exact ``X X^T`` and 2,000 products ``G u``), to show how
far the fit is from it and how far any fit by this method could go.

    python benchmarks/bench_fit.py [--repeats 5] [--min-time 0.25] [--data DIR]

Each of our fits takes tens of milliseconds: by default it is called several
times in a row per timing (``--min-time``), as ``timeit`` does; ``--min-time
0`` times single calls, each right after the other contenders.
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
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    make_neuron_pipeline,
)
from sklearn_catneuron._gram import exact_pixel_gram


def reference(train_set_x_orig, train_set_y, test_set_x_orig, num_iterations=2000,
              learning_rate=0.005):  # fmt: skip
    """The reference notebook's model(), as written there."""
    train_set_x_flatten = train_set_x_orig.reshape(train_set_x_orig.shape[0], -1).T
    test_set_x_flatten = test_set_x_orig.reshape(test_set_x_orig.shape[0], -1).T
    X_train = train_set_x_flatten / 255.0
    X_test = test_set_x_flatten / 255.0
    Y_train = train_set_y.reshape(1, -1)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    w = np.zeros((X_train.shape[0], 1))
    b = 0.0
    m = X_train.shape[1]
    costs = []
    for i in range(num_iterations):
        A = sigmoid(np.dot(w.T, X_train) + b)
        cost = -1 / m * np.sum(Y_train * np.log(A) + (1 - Y_train) * np.log(1 - A))
        dw = 1 / m * np.dot(X_train, (A - Y_train).T)
        db = 1 / m * np.sum(A - Y_train)
        w = w - learning_rate * dw
        b = b - learning_rate * db
        if i % 100 == 0:
            costs.append(cost)

    def predict(X):
        return (sigmoid(np.dot(w.T, X) + b) > 0.5).astype(int).ravel()

    return predict(X_train), predict(X_test), np.array(costs)


class _NoOp:
    """A callback whose hooks do nothing: the cost of the hooks themselves."""

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    add_data_option(p)
    p.add_argument(
        "--min-time", type=float, default=0.25,
        help="call a contender faster than this (seconds) several times in a row "
        "per timing and keep the time per call, as timeit does (0: one call)",
    )  # fmt: skip
    args = p.parse_args(argv)
    X_train, y_train, X_test, y_test = load_catvnoncat(args.data)
    machine_report()
    print(f"data: {X_train.shape} train, {X_test.shape} test images, uint8")

    X_train32, X_test32 = X_train.astype(np.float32), X_test.astype(np.float32)
    models = {}

    def ours(name, images, callbacks=(), build=make_neuron_pipeline, **params):
        def fit():
            neuron = SigmoidNeuronClassifier(**params).set_callbacks(*callbacks)
            model = build(ImageFlattener(), neuron)
            models[name] = model.fit(images, y_train)

        return fit

    pixels = X_train.reshape(len(X_train), -1)

    def floor():
        """The BLAS work the fit cannot avoid: X X^T, then 2,000 products."""
        gram = exact_pixel_gram(pixels, 255.0)
        u, scores = np.zeros((len(gram), 1)), np.empty((len(gram), 1))
        for _ in range(2000):
            np.dot(gram, u, scores)

    results = {}
    contenders = {
        "reference loop": lambda: results.update(
            reference=reference(X_train, y_train, X_test)
        ),
        "fit (solver='auto': gram)": ours("auto", X_train),
        "fit, plain make_pipeline": ours("plain", X_train, build=make_pipeline),
        "fit (solver='primal')": ours("primal", X_train, solver="primal"),
        "fit, float32 images": ours("float32", X_train32),
        "fit, a no-op callback": ours("callback", X_train, callbacks=[_NoOp()]),
        "floor: exact X X^T + 2,000 G u": floor,
    }
    times = alternate(contenders, args.repeats, min_time=args.min_time)
    print("\ntimes (2,000 steps, preprocessing included):")
    print_times(times)

    ref_train, ref_test, ref_costs = results["reference"]
    print("\nsame result as the reference?")
    for name, images_test in [
        ("auto", X_test),
        ("plain", X_test),
        ("primal", X_test),
        ("float32", X_test32),
    ]:
        model = models[name]
        same_train = np.array_equal(model.predict(X_train), ref_train)
        same_test = np.array_equal(model.predict(images_test), ref_test)
        costs = model[-1].loss_curve_[::100]
        same_costs = np.array_equal(np.round(costs, 6), np.round(ref_costs, 6))
        print(
            f"  {name:<8} identical predictions: train {same_train}, test "
            f"{same_test}; costs at steps 0, 100, ..., 1900 equal to 6 decimals: "
            f"{same_costs} (max relative difference "
            f"{np.max(np.abs(costs - ref_costs) / ref_costs):.1e})"
        )
    print(
        f"  train accuracy {np.mean(ref_train == y_train):.4f}, test accuracy "
        f"{np.mean(ref_test == y_test):.4f}, cost before step 1900 "
        f"{ref_costs[-1]:.6f}"
    )

    print("\nratios (reference time / our time, medians of the same run):")
    baseline = median(times["reference loop"])
    auto = "fit (solver='auto': gram)"
    ratio_line("fit, auto (gram path)", baseline, median(times[auto]), goal=90)
    floor_time = median(times["floor: exact X X^T + 2,000 G u"])
    print(
        f"  (the floor, the BLAS calls alone, is {baseline / floor_time:.1f}x the "
        f"reference: the fit takes {median(times[auto]) / floor_time:.2f}x the floor)"
    )
    ratio_line(
        "fit, plain make_pipeline",
        baseline,
        median(times["fit, plain make_pipeline"]),
        goal=90,
    )
    ratio_line("fit, primal path", baseline, median(times["fit (solver='primal')"]))
    ratio_line(
        "fit, float32 images", baseline, median(times["fit, float32 images"]), goal=110
    )
    print(
        "\ncallbacks (issue 11): a fit with a no-op callback (2,000 step subtasks, "
        "hooks called) takes "
        f"{median(times['fit, a no-op callback']) / median(times[auto]):.2f}x the "
        "time of the same fit without callbacks; without callbacks the engine "
        "registers no observer, so the loop is the bare one."
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
