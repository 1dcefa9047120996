"""Benchmark 4: how ``fit`` grows with the number and the size of images.

Generated uint8 images (random pixels, random labels), n x side x side x 3.
Each case runs in its own process and reports:

* the path ``solver="auto"`` takes, its setup time (validation, and ``X X^T``
  on the Gram path) and its time per step, against the floor of that step in
  the same process: reading ``X`` twice (two matrix-vector products, primal)
  or the n x n product (Gram path); the fit of 2,000 steps they project, and
  its growth against the first case;
* for n below the number of features, the same for the other path, to check
  the choice of ``"auto"``;
* peak memory (tracemalloc, which sees NumPy's allocations) of ``fit`` on the
  float matrix and of the whole pipeline from uint8 images, against the size
  of one float copy of ``X`` (goal of issue 4: at most 1.5x), and the
  process's peak resident size.

Full run (1k, 10k, 50k images of 64x64x3; 1k images of 32, 64, 128 pixels a
side; 10k in float32): about 8 GB of memory at most and several minutes.

    python benchmarks/bench_scaling.py [--quick] [--sizes 1000,10000,50000]
                                       [--sides 32,64,128] [--repeats 3]
"""

import json
import subprocess
import sys

from _bench import machine_report, parser, print_load

STEPS_BEFORE = 2  # steps of the shorter timed fit; the longer adds `delta`


def child(n, side, dtype_name, repeats, compare):
    """Measure one case; print one JSON line."""
    import resource
    import time
    import tracemalloc

    import numpy as np
    from sklearn.pipeline import make_pipeline

    from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier
    from sklearn_catneuron._engine import choose_solver, make_path
    from sklearn_catneuron._engine import descend as run_descent

    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)
    if dtype == np.float32:
        images = images.astype(np.float32)  # ImageFlattener keeps float32
    y = np.arange(n) % 2
    d = side * side * 3
    x_bytes = n * d * dtype.itemsize

    def peak(model, data):
        """Peak bytes allocated while fitting (3 steps of the 2,000-step path)."""
        tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            model.fit(data, y)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    auto = choose_solver("auto", n, d, 1, 2000)
    neuron = SigmoidNeuronClassifier(max_iter=3, solver=auto)
    result = {"n": n, "side": side, "d": d, "dtype": dtype.name, "x_bytes": x_bytes}
    result["pipeline_peak"] = peak(make_pipeline(ImageFlattener(), neuron), images)
    X = ImageFlattener().fit_transform(images)
    del images
    result["fit_peak"] = peak(neuron, X)

    def timed(fn):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    Y = y[:, None].astype(dtype)
    weights = np.ones(n, dtype=dtype)

    def descend(solver, steps, gram=None):
        path = make_path(
            X, Y, weights, coef=np.zeros((1, 1, d), dtype),
            intercept=np.zeros((1, 1), dtype), learning_rates=[0.005], alpha=0.0,
            fit_intercept=True, solver=solver, gram=gram,
        )  # fmt: skip
        run_descent(path, max_iter=steps)

    result["auto"] = auto
    paths = [auto]
    if compare and n < d:  # "auto" may pick either
        paths.append("primal" if auto == "gram" else "gram")
    w = np.zeros(d, dtype)
    for path in paths:
        if path == "gram":
            start = time.perf_counter()
            gram = X @ X.T
            gram_time = time.perf_counter() - start
            step_bytes = n * n * dtype.itemsize
            u = np.zeros(n, dtype)
            floor = timed(lambda: gram @ u)  # noqa: B023
        else:
            gram, gram_time = None, 0.0
            step_bytes = 2 * n * d * dtype.itemsize
            floor = 2 * timed(lambda: X @ w)
        delta = int(np.clip(2e9 / step_bytes, 3, 300))
        short = timed(lambda: descend(path, STEPS_BEFORE, gram))  # noqa: B023
        long = timed(lambda: descend(path, STEPS_BEFORE + delta, gram))  # noqa: B023
        per_step = max(long - short, 0.0) / delta
        # Setup of a real fit: what the solver does besides the steps.
        setup = gram_time + max(short - STEPS_BEFORE * per_step, 0.0)
        result[path] = {
            "per_step": per_step,
            "floor": floor,
            "setup": setup,
            "fit_2000": setup + 2000 * per_step,
            "delta": delta,
        }
    result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


def run_case(n, side, dtype, repeats, compare):
    command = [
        sys.executable, __file__, "--child", str(n), str(side), dtype,
        "--repeats", str(repeats),
    ] + (["--compare"] if compare else [])  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"error: case n={n} side={side} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=3)
    p.add_argument("--quick", action="store_true", help="1k and 10k, sides 32, 64")
    p.add_argument("--sizes", help="numbers of images, e.g. 1000,10000,50000")
    p.add_argument("--sides", help="image sides at 1,000 images, e.g. 32,64,128")
    p.add_argument("--child", nargs=3, help=argparse_suppress())
    p.add_argument("--compare", action="store_true", help=argparse_suppress())
    args = p.parse_args(argv)
    if args.child:
        n, side, dtype = args.child
        child(int(n), int(side), dtype, args.repeats, args.compare)
        return

    sizes = [1000, 10000] if args.quick else [1000, 10000, 50000]
    sides = [32, 64] if args.quick else [32, 64, 128]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    if args.sides:
        sides = [int(s) for s in args.sides.split(",")]
    machine_report()
    cases = [(n, 64, "float64") for n in sizes]
    cases += [
        (1000, side, "float64") for side in sides if side != 64 or 1000 not in sizes
    ]
    if 10000 in sizes:
        cases.append((10000, 64, "float32"))
    results = []
    for n, side, dtype in cases:
        print(f"running n={n}, {side}x{side}x3, {dtype} ...", flush=True)
        results.append(run_case(n, side, dtype, args.repeats, compare=not args.quick))
    report(results)
    print_load("load average at end")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def report(results):
    print("\nper case (auto path; medians in each case's own process):")
    print(
        f"{'images':>7} {'side':>4} {'d':>6} {'dtype':>7} {'path':>6} "
        f"{'ms/step':>8} {'floor ms':>8} {'step/floor':>10} {'setup s':>8} "
        f"{'fit/first':>9} {'fit peak/X':>10} {'pipe peak/X':>11} {'rss/X':>6}"
    )
    base = results[0][results[0]["auto"]]["fit_2000"]
    for r in results:
        path = r[r["auto"]]
        print(
            f"{r['n']:>7} {r['side']:>4} {r['d']:>6} {r['dtype']:>7} {r['auto']:>6} "
            f"{path['per_step'] * 1e3:>8.3f} {path['floor'] * 1e3:>8.3f} "
            f"{path['per_step'] / path['floor']:>10.2f} {path['setup']:>8.3f} "
            f"{path['fit_2000'] / base:>9.2f} "
            f"{r['fit_peak'] / r['x_bytes']:>10.3f} "
            f"{r['pipeline_peak'] / r['x_bytes']:>11.3f} "
            f"{r['maxrss'] / r['x_bytes']:>6.2f}"
        )
    print(
        "  floor: primal, two reads of X (two BLAS matrix-vector products); gram, "
        "one n x n\n  matrix-vector product. setup: validation (and X X^T on the "
        "Gram path). fit/first:\n  projected 2,000-step fit against the first "
        "case. Peaks against one float copy of X:\n  fit on X and the whole "
        "pipeline from uint8 images (tracemalloc), the process's peak\n  resident "
        "size (includes the interpreter and the images; large for small X)."
    )
    print("\npath choice (projected 2,000-step fit, other path / auto's path):")
    for r in results:
        auto = r["auto"]
        for other in [k for k in ("primal", "gram") if k in r and k != auto]:
            ratio = r[other]["fit_2000"] / r[auto]["fit_2000"]
            if ratio >= 1:
                verdict = "auto is faster"
            elif other == "gram" and 2 * r["n"] > r["d"]:
                verdict = (
                    f"gram is faster, but X X^T would take {r['n'] / r['d']:.2f}x "
                    "the memory of X; auto keeps a fit within 1.5x X"
                )
            else:
                verdict = "auto is SLOWER"
            print(
                f"  n={r['n']}, side {r['side']}, {r['dtype']}: {other} / {auto} = "
                f"{ratio:.2f} ({verdict})"
            )
    by_key = {(r["n"], r["side"], r["dtype"]): r for r in results}
    if (10000, 64, "float32") in by_key and (10000, 64, "float64") in by_key:
        r32, r64 = by_key[(10000, 64, "float32")], by_key[(10000, 64, "float64")]
        print("\nfloat32 against float64 at 10,000 images (time per step, 64 / 32):")
        for path in ("primal", "gram"):
            if path in r32 and path in r64:
                print(f"  {path}: {r64[path]['per_step'] / r32[path]['per_step']:.2f}x")
    worst = max(r["fit_peak"] / r["x_bytes"] for r in results)
    worst_pipe = max(r["pipeline_peak"] / r["x_bytes"] for r in results)
    print(
        f"\npeak memory of fit / one float copy of X: at most {worst:.3f} "
        f"(goal <= 1.5: {'met' if worst <= 1.5 else 'MISSED'}); whole pipeline "
        f"from uint8 images, X included: at most {worst_pipe:.3f} "
        f"({'met' if worst_pipe <= 1.5 else 'MISSED'})"
    )
    sixty_four = [r for r in results if r["side"] == 64 and r["dtype"] == "float64"]
    print(
        "growth with n (projected 2,000-step fit against the first case): "
        + ", ".join(
            f"{r['n']} images {r[r['auto']]['fit_2000'] / base:.1f}x"
            for r in sixty_four
        )
    )
    sides = [r for r in results if r["n"] == 1000 and r["dtype"] == "float64"]
    print(
        "growth with image size at 1,000 images: "
        + ", ".join(
            f"{r['side']}px {r[r['auto']]['fit_2000'] / base:.2f}x"
            for r in sorted(sides, key=lambda r: r["side"])
        )
    )


if __name__ == "__main__":
    main()
