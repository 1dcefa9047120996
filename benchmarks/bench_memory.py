"""Benchmark: peak memory of the pipeline fit against one float64 copy of X.

``make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())`` and
``make_neuron_pipeline()`` (which sums ``X X^T`` from the uint8 pixels for up
to one image per 16 pixel values: 768 of 64x64x3) fitted on uint8 images: the
cat / non-cat training set and generated 64x64x3 images (500, 1,000 and
4,000 by default). The peak of traced allocations (``tracemalloc``, which
sees NumPy's buffers) during ``fit``, the flattened images included, is
divided by the bytes of one float64 copy of the flattened images. The input
images themselves were allocated before and are not counted. Each case runs
``--repeats`` times (the peak does not vary; the time is printed alongside).

Goal (issue 12): at most 1.2x.

    python benchmarks/bench_memory.py [--repeats 3] [--sizes 500,1000,4000]
                                      [--data DIR]
"""

import itertools
import time
import tracemalloc

import numpy as np
from _bench import add_data_option, load_catvnoncat, machine_report, parser, print_load
from sklearn.pipeline import make_pipeline

from sklearn_catneuron import (
    ImageFlattener,
    SigmoidNeuronClassifier,
    make_neuron_pipeline,
)


def peak_of_fit(build, images, y, max_iter):
    model = build(ImageFlattener(), SigmoidNeuronClassifier(max_iter=max_iter))
    tracemalloc.start()
    start = time.perf_counter()
    model.fit(images, y)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, seconds, model


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=3)
    add_data_option(p)
    p.add_argument("--sizes", default="500,1000,4000")
    args = p.parse_args(argv)
    machine_report()
    X_train, y_train, _, _ = load_catvnoncat(args.data)
    rng = np.random.default_rng(0)
    cases = [("cat / non-cat training set (209 images)", X_train, y_train, 2000)]
    for n in map(int, args.sizes.split(",")):
        images = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
        labels = (images[:, :32].mean(axis=(1, 2, 3)) > 127.5).astype(int)
        cases.append((f"{n} generated 64x64x3 images", images, labels, 100))
    worst = 0.0
    print("\npeak traced memory of pipeline.fit / one float64 copy of X:")
    builders = [
        ("make_pipeline", make_pipeline),
        ("NeuronPipeline", make_neuron_pipeline),
    ]
    for (label, images, y, max_iter), (name, build) in itertools.product(
        cases, builders
    ):
        one_copy = images.size * 8
        peaks, times = [], []
        for _ in range(args.repeats):
            peak, seconds, _ = peak_of_fit(build, images, y, max_iter)
            peaks.append(peak)
            times.append(seconds)
        ratio = max(peaks) / one_copy
        worst = max(worst, ratio)
        print(
            f"  {label}, {name}, max_iter={max_iter}: "
            f"peak {max(peaks) / 2**20:.1f} MiB (range "
            f"{min(peaks) / 2**20:.1f}..{max(peaks) / 2**20:.1f}), X float64 "
            f"{one_copy / 2**20:.1f} MiB: {ratio:.3f}x "
            f"(fit {min(times):.2f}..{max(times):.2f} s, traced)"
        )
    print(
        f"worst case: {worst:.3f}x (goal <= 1.2x: "
        f"{'met' if worst <= 1.2 else 'MISSED'})"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
