"""Benchmark 6 (issue 5): a pipeline fitted through Dask on an HDF5 file too big
for a float copy in memory.

Writes an HDF5 file of generated 64x64x3 uint8 images (200,000 by default, 2.4
GB) into a temporary folder (deleted at the end), then, each in its own process:

- the Dask fit: ``make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())``
  on ``da.from_array(f["x"], chunks=...)``, a fixed number of steps, on Dask's
  local threaded scheduler; peak memory (the process's peak resident set) and
  seconds per step;
- the in-memory fit on a subset that fits (20,000 images by default, flattened
  beforehand), same steps, ``solver="primal"`` (the path an in-memory fit of
  this shape takes); seconds per step, scaled per image.

Prints the Dask fit's peak memory against the size of one float64 copy of the
data (the goal: under 1 GB, far below the 19.7 GB of that copy) and its time per
step per image against the in-memory fit's.

    python benchmarks/bench_dask.py [--n-images 200000] [--steps 3]
"""

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench
import numpy as np

SHAPE = (64, 64, 3)


def write_images(path, n_images, chunk_rows, seed=0):
    """Generated images whose label depends on the mean of the red channel."""
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        x = f.create_dataset(
            "x", (n_images, *SHAPE), dtype=np.uint8, chunks=(chunk_rows, *SHAPE)
        )
        y = f.create_dataset("y", (n_images,), dtype=np.int64)
        for start in range(0, n_images, chunk_rows):
            stop = min(start + chunk_rows, n_images)
            block = rng.integers(0, 256, size=(stop - start, *SHAPE), dtype=np.uint8)
            x[start:stop] = block
            y[start:stop] = block[..., 0].mean(axis=(1, 2)) > 127.5


def child(mode, path, n_images, steps, chunk_rows):
    """Run one fit in this process; print a JSON line with its figures."""
    import dask.array as da
    import h5py
    from sklearn.pipeline import make_pipeline

    from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier

    with h5py.File(path, "r") as f:
        if mode == "dask":
            X = da.from_array(f["x"], chunks=(chunk_rows, *SHAPE), lock=True)
            y = da.from_array(f["y"], chunks=chunk_rows, lock=True)
            neuron = SigmoidNeuronClassifier(max_iter=steps)
            model = make_pipeline(ImageFlattener(), neuron)
        else:
            # Flattened beforehand: only the descent's steps are timed.
            X = ImageFlattener().fit_transform(f["x"][:n_images])
            y = f["y"][:n_images]
            model = SigmoidNeuronClassifier(max_iter=steps, solver="primal")
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "n": int(X.shape[0])}))


def run_child(*args):
    out = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, path, n, steps, chunk = sys.argv[2:]
        child(mode, path, int(n), int(steps), int(chunk))
        return
    p = _bench.parser(__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=200_000)
    p.add_argument("--in-memory-images", type=int, default=20_000)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--chunk", type=int, default=1_000, help="images per Dask chunk")
    args = p.parse_args()
    _bench.machine_report()
    n, steps = args.n_images, args.steps
    float_copy = n * int(np.prod(SHAPE)) * 8
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "images.h5"
        start = time.perf_counter()
        write_images(path, n, args.chunk)
        print(
            f"wrote {n:,} images ({path.stat().st_size / 1e9:.2f} GB) in "
            f"{time.perf_counter() - start:.0f} s; one float64 copy would be "
            f"{float_copy / 1e9:.1f} GB"
        )
        # Contenders alternate; medians of --repeats runs (each in a new process).
        runs = {"dask": [], "memory": []}
        for _ in range(max(1, args.repeats)):
            runs["dask"].append(run_child("dask", path, n, steps, args.chunk))
            runs["memory"].append(
                run_child("memory", path, args.in_memory_images, steps, args.chunk)
            )
    dask_step = _bench.median([r["seconds"] / steps for r in runs["dask"]])
    memory_step = _bench.median([r["seconds"] / steps for r in runs["memory"]])
    dask_peak = max(r["peak"] for r in runs["dask"])
    memory_peak = max(r["peak"] for r in runs["memory"])
    m = args.in_memory_images
    print(f"\nDask fit of {n:,} images, {steps} steps, chunks of {args.chunk:,}:")
    print(f"  {dask_step:.2f} s per step (reading and flattening the file included)")
    print(
        f"  peak memory {dask_peak / 1e9:.2f} GB = {dask_peak / float_copy:.3f}x one "
        f"float64 copy ({float_copy / 1e9:.1f} GB); goal under 1 GB: "
        f"{'met' if dask_peak < 1e9 else 'MISSED'}"
    )
    print(f"In-memory fit of {m:,} images: {memory_step:.3f} s per step, "
          f"peak memory {memory_peak / 1e9:.2f} GB")  # fmt: skip
    print(
        "ratio, time per step per image (Dask / in memory): "
        f"{(dask_step / n) / (memory_step / m):.2f}x"
    )
    _bench.print_load("load average at end")


if __name__ == "__main__":
    main()
