"""Benchmark 7: ``fit`` on the NumPy CPU path against PyTorch on a GPU (issue 13).

Generated 64x64x3 images (12,288 features; random pixels scaled to [0, 1],
labels from a fixed random direction), 20,000 and 100,000 of them, float32
(100,000 images are 4.9 GB in float32; float64 would need 9.8 GB, ``--dtype
float64`` asks for it). For each size:

* ``numpy (cpu)``: ``SigmoidNeuronClassifier`` on the NumPy array, the NumPy
  path of the engine (``solver="auto"``: the primal path at these sizes);
* ``torch (<device>)``: the same estimator under
  ``sklearn.set_config(array_api_dispatch=True)`` on a torch tensor already on
  the device (the host-to-device copy is timed apart), for ``cuda`` or ``mps``
  when PyTorch sees one;
* ``torch (cpu)``: the same on a CPU tensor (shares the NumPy array's memory),
  which shows what the array API path costs against the NumPy path on the
  same hardware; not a GPU figure.

Each fit runs ``--max-iter`` steps (default 20: a 2,000-step fit of 100,000
images takes tens of minutes on a CPU); times per step are printed, and the
coefficients of every contender are compared with the NumPy fit's.
When no GPU is present the script says so plainly and times the CPU
contenders only.

    SCIPY_ARRAY_API=1 python benchmarks/bench_device.py [--sizes 20000,100000]
        [--max-iter 20] [--repeats 3] [--dtype float32] [--device cuda]
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before scipy is imported

import time  # noqa: E402

import numpy as np  # noqa: E402
from _bench import machine_report, parser, print_load  # noqa: E402

N_FEATURES = 64 * 64 * 3


def generate(n, dtype, seed=0):
    """``n`` flat images in [0, 1] and 0/1 labels, made in blocks of rows."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=N_FEATURES).astype(dtype)
    X = np.empty((n, N_FEATURES), dtype=dtype)
    scores = np.empty(n, dtype=np.float64)
    for start in range(0, n, 5000):
        block = X[start : start + 5000]
        block[...] = rng.random(block.shape, dtype=dtype)
        scores[start : start + 5000] = (block - 0.5) @ direction
    return X, (scores > np.median(scores)).astype(np.int64)


def find_gpu(torch, wanted):
    """The GPU device PyTorch can use (``wanted`` or cuda, then mps), or None."""
    if wanted:
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return None


def synchronize(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeats=3)
    p.add_argument("--sizes", default="20000,100000")
    p.add_argument("--max-iter", type=int, default=20)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--device", default=None, help="torch GPU device (default: any)")
    args = p.parse_args(argv)

    import sklearn

    from sklearn_catneuron import SigmoidNeuronClassifier

    machine_report()
    try:
        import torch
    except ImportError:
        torch = None
        print("torch: not installed; only the NumPy path is timed (pip install torch)")
    gpu = find_gpu(torch, args.device) if torch is not None else None
    if torch is not None:
        print(f"torch {torch.__version__}")
    if gpu is None:
        print(
            "GPU: none (no CUDA or MPS device visible to PyTorch). Nothing was "
            "measured on a GPU; the torch figures below are on the CPU."
        )
    else:
        print(f"GPU: {gpu}")

    def fit(X, y):
        clf = SigmoidNeuronClassifier(max_iter=args.max_iter)
        return clf.fit(X, y)

    for n in [int(size) for size in args.sizes.split(",")]:
        dtype = np.dtype(args.dtype)
        print(
            f"\n{n} images of 64x64x3, {args.dtype}: X is "
            f"{n * N_FEATURES * dtype.itemsize / 1e9:.1f} GB; "
            f"{args.max_iter} steps per fit"
        )
        try:
            X, y = generate(n, dtype)
        except MemoryError:
            print("  not enough memory for X: skipped")
            continue
        contenders = {"numpy (cpu)": (X, y, None)}
        if torch is not None:
            contenders["torch (cpu)"] = (
                torch.from_numpy(X),
                torch.from_numpy(y),
                "cpu",
            )
            if gpu is not None:
                start = time.perf_counter()
                X_gpu = torch.from_numpy(X).to(gpu)
                y_gpu = torch.from_numpy(y).to(gpu)
                synchronize(torch, gpu)
                print(f"  host-to-{gpu} copy of X: {time.perf_counter() - start:.3f} s")
                contenders[f"torch ({gpu})"] = (X_gpu, y_gpu, gpu)
        times, coefs = {name: [] for name in contenders}, {}
        for r in range(args.repeats + 1):  # the first round is a warm-up
            for name, (X_c, y_c, device) in contenders.items():
                with sklearn.config_context(array_api_dispatch=device is not None):
                    start = time.perf_counter()
                    clf = fit(X_c, y_c)
                    if device is not None:
                        synchronize(torch, device)
                    elapsed = time.perf_counter() - start
                if r:
                    times[name].append(elapsed)
                coefs[name] = np.asarray(
                    clf.coef_.cpu() if device is not None else clf.coef_
                )
        base = np.median(times["numpy (cpu)"])
        reference = coefs["numpy (cpu)"]
        for name, values in times.items():
            median = float(np.median(values))
            diff = np.max(np.abs(coefs[name] - reference)) / np.max(np.abs(reference))
            print(
                f"  {name:<13} fit median {median:.3f} s "
                f"({median / args.max_iter * 1e3:.1f} ms per step with the set-up, "
                f"n={len(values)}); "
                f"{base / median:.2f}x the NumPy path's speed; coef max relative "
                f"difference to NumPy {diff:.1e}"
            )
        del X, y, contenders
    print_load("\nload average at end")


if __name__ == "__main__":
    main()
