"""Benchmark 5: ``predict_proba`` throughput on 10,000 images.

A neuron fitted on generated 64x64x3 images scores 10,000 more: in one call
on the flattened float matrix (float64 and float32), through the plain
pipeline ``make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())`` and
through ``NeuronPipeline`` (its fused path: blocks of rows scaled into reused
buffers, two threads) from uint8 images and from float64 and float32 pixels,
and image by image in a Python loop; against a ``LogisticRegression``
pipeline whose first step is a ``FunctionTransformer`` that flattens and
divides by 255, and the floor of one BLAS product ``X @ coef_.T`` (one read
of ``X``). The pipeline ratios are also given round by round (median and
range of the per-round ratios: each round times every contender once).

    python benchmarks/bench_predict.py [--repeats 5] [--n-images 10000]
"""

import numpy as np
from _bench import (
    alternate,
    machine_report,
    median,
    parser,
    print_load,
    print_times,
    ratio_line,
)
from sklearn import config_context
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_catneuron import ImageFlattener, NeuronPipeline, SigmoidNeuronClassifier


def predict_assume_finite(neuron, X):
    """predict_proba without scikit-learn's scan of X for NaN and inf."""
    with config_context(assume_finite=True):
        return neuron.predict_proba(X)


def flatten_and_scale(images):
    return images.reshape(len(images), -1) / 255


def per_round_ratio(label, times, baseline, contender, goal=None):
    """Median and range of ``baseline / contender`` over the rounds."""
    ratios = [b / c for b, c in zip(times[baseline], times[contender], strict=True)]
    text = (
        f"{label}, per round: median {median(ratios):.1f}x "
        f"(range {min(ratios):.1f}..{max(ratios):.1f}x)"
    )
    if goal is not None:
        text += f"  (goal >= {goal}x: {'met' if median(ratios) >= goal else 'MISSED'})"
    print(text)


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=10000)
    args = p.parse_args(argv)
    machine_report()
    n = args.n_images
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(500, 64, 64, 3), dtype=np.uint8)
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=50))
    model.fit(train, np.arange(500) % 2)
    neuron = model[-1]
    fused = NeuronPipeline(model.steps)  # the same fitted steps
    images = rng.integers(0, 256, size=(n, 64, 64, 3), dtype=np.uint8)
    X = model[0].transform(images)
    X32 = X.astype(np.float32)
    neuron32 = SigmoidNeuronClassifier(max_iter=50).fit(
        model[0].transform(train).astype(np.float32), np.arange(500) % 2
    )
    lr_model = make_pipeline(
        FunctionTransformer(flatten_and_scale), LogisticRegression(max_iter=50)
    ).fit(train, np.arange(500) % 2)
    loop_images = min(n, 2000)  # the loop is timed on fewer images, per image
    print(f"{n} images of 64x64x3; the per-image loop runs on {loop_images}")

    out = {}
    coef_t = np.ascontiguousarray(neuron.coef_.T)
    contenders = {
        "predict_proba(X), float64": lambda: out.update(p64=neuron.predict_proba(X)),
        "predict_proba(X), assume_finite": lambda: predict_assume_finite(neuron, X),
        "predict_proba(X), float32": lambda: out.update(
            p32=neuron32.predict_proba(X32)
        ),
        "predict_proba(X32), float64 model": lambda: out.update(
            p32_64=neuron.predict_proba(X32)
        ),
        "pipeline.predict_proba(uint8 images)": lambda: out.update(
            pipe=model.predict_proba(images)
        ),
        "NeuronPipeline.predict_proba(uint8 images)": lambda: out.update(
            fused=fused.predict_proba(images)
        ),
        "NeuronPipeline.predict_proba(float64 X)": lambda: out.update(
            fused64=fused.predict_proba(X)
        ),
        "NeuronPipeline.predict_proba(float32 X)": lambda: out.update(
            fused32=fused.predict_proba(X32)
        ),
        "LogisticRegression pipeline (FunctionTransformer)": lambda: (
            lr_model.predict_proba(images)
        ),
        "loop: predict_proba(X[i:i+1])": lambda: out.update(
            loop=np.vstack(
                [neuron.predict_proba(X[i : i + 1]) for i in range(loop_images)]
            )
        ),
        "floor: X @ coef_.T": lambda: X @ coef_t,
    }
    times = alternate(contenders, args.repeats)
    print("\ntimes:")
    print_times(times)
    per_image = {name: median(t) / n for name, t in times.items()}
    per_image["loop: predict_proba(X[i:i+1])"] = (
        median(times["loop: predict_proba(X[i:i+1])"]) / loop_images
    )
    print("\nthroughput (images per second):")
    for name, seconds in per_image.items():
        print(f"  {name:<40} {1 / seconds:>12,.0f}")
    assert np.allclose(out["loop"], out["p64"][:loop_images], rtol=1e-12)
    assert np.array_equal(out["pipe"], out["p64"])
    assert np.array_equal(out["fused"], out["pipe"])
    # Here X and X32 are pixels for the pipelines (divided by 255 once more).
    assert np.array_equal(out["fused64"], model.predict_proba(X))
    assert np.array_equal(out["fused32"], model.predict_proba(X32))
    print(
        "  (the loop and the pipelines give the same probabilities as one call; "
        "NeuronPipeline's are bit-identical to the plain pipeline's)"
    )

    print("\nratios (same run):")
    one_call = per_image["predict_proba(X), float64"]
    ratio_line(
        "one call vs per-image loop", per_image["loop: predict_proba(X[i:i+1])"],
        one_call,
    )  # fmt: skip
    print(
        f"one call / floor (X @ coef_.T): "
        f"{one_call / per_image['floor: X @ coef_.T']:.2f}x the floor's time"
    )
    floor = per_image["floor: X @ coef_.T"]
    assume_finite = per_image["predict_proba(X), assume_finite"]
    print(
        f"one call with assume_finite=True / floor: {assume_finite / floor:.2f}x"
        " (the rest of the gap is scikit-learn's NaN/inf scan of X)"
    )
    ratio_line("float32 vs float64", one_call, per_image["predict_proba(X), float32"])
    ratio_line(
        "float32 X, float64 model vs float64 X (goal: no slower)",
        one_call,
        per_image["predict_proba(X32), float64 model"],
        goal=1,
    )
    lr = "LogisticRegression pipeline (FunctionTransformer)"
    ratio_line(
        "plain pipeline vs LogisticRegression pipeline (FunctionTransformer, /255)",
        per_image[lr],
        per_image["pipeline.predict_proba(uint8 images)"],
    )
    ratio_line(
        "NeuronPipeline vs LogisticRegression pipeline (FunctionTransformer, /255)",
        per_image[lr],
        per_image["NeuronPipeline.predict_proba(uint8 images)"],
        goal=4,
    )
    ratio_line(
        "NeuronPipeline vs plain pipeline",
        per_image["pipeline.predict_proba(uint8 images)"],
        per_image["NeuronPipeline.predict_proba(uint8 images)"],
    )
    ratio_line(
        "NeuronPipeline: float32 X vs float64 X (goal: no slower)",
        per_image["NeuronPipeline.predict_proba(float64 X)"],
        per_image["NeuronPipeline.predict_proba(float32 X)"],
        goal=1,
    )
    per_round_ratio(
        "plain pipeline vs LogisticRegression pipeline",
        times, lr, "pipeline.predict_proba(uint8 images)",
    )  # fmt: skip
    per_round_ratio(
        "NeuronPipeline vs LogisticRegression pipeline",
        times, lr, "NeuronPipeline.predict_proba(uint8 images)", goal=4,
    )  # fmt: skip
    per_round_ratio(
        "NeuronPipeline: float32 X vs float64 X",
        times, "NeuronPipeline.predict_proba(float64 X)",
        "NeuronPipeline.predict_proba(float32 X)", goal=1,
    )  # fmt: skip
    print(
        f"pipeline from uint8 / one call on float X: "
        f"{per_image['pipeline.predict_proba(uint8 images)'] / one_call:.2f}x"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
