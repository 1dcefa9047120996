"""Shared helpers of the benchmark scripts: machine report, timing, data.

Not part of the package. Every script imports the package from this checkout
(the folder above ``benchmarks/``), so it measures the code next to it.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def parser(description):
    """An ArgumentParser with the options every script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--repeats", type=int, default=5, help="timed repetitions of each contender"
    )
    return p


def add_data_option(p):
    p.add_argument(
        "--data",
        default=os.environ.get(
            "CATNEURON_DATA", str(ROOT.parent / "shared" / "datasets" / "catvnoncat")
        ),
        help="folder with train_catvnoncat.h5 and test_catvnoncat.h5 "
        "(default: $CATNEURON_DATA, else ../shared/datasets/catvnoncat)",
    )


def load_catvnoncat(folder):
    """(X_train, y_train, X_test, y_test) as uint8 images and 0/1 labels."""
    import h5py

    folder = Path(folder)
    names = ("train_catvnoncat.h5", "test_catvnoncat.h5")
    if not all((folder / name).is_file() for name in names):
        sys.exit(
            f"error: {folder} does not hold {' and '.join(names)}; pass --data DIR "
            "or set CATNEURON_DATA."
        )
    with h5py.File(folder / names[0], "r") as f:
        X_train, y_train = f["train_set_x"][:], f["train_set_y"][:]
    with h5py.File(folder / names[1], "r") as f:
        X_test, y_test = f["test_set_x"][:], f["test_set_y"][:]
    return X_train, y_train, X_test, y_test


def machine_report():
    """Print cores, BLAS, versions and load: what the ratios depend on."""
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import sklearn_catneuron

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {platform.machine()} {platform.processor() or ''}".rstrip())
    print(f"cores: {cores} ({usable} usable by this process)")
    for lib in threadpool_info():
        extras = ", ".join(
            f"{key}={lib[key]}"
            for key in ("version", "architecture", "threading_layer")
            if lib.get(key)
        )
        print(
            f"thread pool: {lib['internal_api']} ({lib['user_api']}), "
            f"{lib['num_threads']} threads, {extras}"
        )
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"sklearn-catneuron {sklearn_catneuron.__version__}"
    )
    print_load("load average at start")


def print_load(label):
    if hasattr(os, "getloadavg"):
        one, five, _ = os.getloadavg()
        print(f"{label}: {one:.2f} (1 min), {five:.2f} (5 min)")


def alternate(contenders, repeats, warmup=1, min_time=0.0):
    """Time each contender ``repeats`` times, alternating their order.

    Repetition ``r`` runs the contenders in turn, starting from contender
    ``r mod k``, so that none always runs first (cold caches) or last. One
    untimed warm-up run each first. With ``min_time``, a contender whose
    warm-up took less is called that many times in a row per timing, as
    :mod:`timeit` does, and the time per call is kept: a short call timed
    alone right after a long one pays for cold caches and fresh pages that
    the long one's timing absorbs. Returns ``{name: [seconds per call, ...]}``;
    ``alternate.calls`` holds the calls per timing.
    """
    names = list(contenders)
    calls = dict.fromkeys(names, 1)
    for _ in range(warmup):
        for name in names:
            start = time.perf_counter()
            contenders[name]()
            took = time.perf_counter() - start
            if min_time and took < min_time:
                calls[name] = max(calls[name], int(np.ceil(min_time / took)))
    times = {name: [] for name in names}
    for r in range(repeats):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            start = time.perf_counter()
            for _ in range(calls[name]):
                contenders[name]()
            times[name].append((time.perf_counter() - start) / calls[name])
    alternate.calls = calls
    return times


def median(values):
    return statistics.median(values)


def print_times(times):
    width = max(map(len, times))
    calls = getattr(alternate, "calls", {})
    for name, values in times.items():
        spread = f"{min(values):.4f}..{max(values):.4f}"
        each = calls.get(name, 1)
        print(
            f"  {name:<{width}}  median {median(values):.4f} s  "
            f"(range {spread}, n={len(values)}"
            + (f", {each} calls in a row per timing" if each > 1 else "")
            + ")"
        )


def ratio_line(label, baseline, contender, goal=None):
    """Print ``baseline / contender`` (how many times faster) and the goal."""
    ratio = baseline / contender
    text = f"{label}: {ratio:.1f}x"
    if goal is not None:
        text += f"  (goal >= {goal}x: {'met' if ratio >= goal else 'MISSED'})"
    print(text)
    return ratio
