"""Benchmark 7: start-up and wall clock of the ``catneuron`` command line.

Whole processes, as a user waits for them: ``catneuron --help`` and
``--version``, ``catneuron predict`` of one photo, ``catneuron train`` on the
cat data (2,000 steps, no progress bar), and the imports behind them, each
against a bare ``python -c "import sklearn"`` timed in the same rounds. The
contenders alternate their order from round to round (``_bench.alternate``);
medians and ranges are printed.

    python benchmarks/bench_cli.py [--repeats 5] [--data DIR]

Goals (issue 12): ``--help`` under 1 s, ``predict`` of one photo under 2 s,
``train`` under 3 s, and ``import sklearn_catneuron`` adding less than 0.3 s to
``import sklearn``. ``-X importtime`` lists what each import costs:

    python -X importtime -c "import sklearn_catneuron.cli" 2>&1 | sort -t'|' -k2 -n
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import (
    ROOT,
    add_data_option,
    alternate,
    machine_report,
    median,
    print_load,
    print_times,
)

PYTHON = sys.executable
CATNEURON = [PYTHON, "-m", "sklearn_catneuron"]


def process(argv, cwd, env):
    """A contender: run ``argv`` to completion, checking its exit status."""

    def run():
        result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
        if result.returncode != 0:
            sys.exit(f"error: {argv} failed:\n{result.stderr.decode()}")

    return run


def main(argv=None):
    from _bench import parser

    p = parser(__doc__.splitlines()[0])
    add_data_option(p)
    args = p.parse_args(argv)
    machine_report()
    env = {**os.environ, "CATNEURON_DATA": str(Path(args.data).resolve())}
    env.pop("CATNEURON_DATA_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        # One model and one photo (a test image, saved as a PNG) for predict.
        subprocess.run(
            [*CATNEURON, "train", "--quiet", "--model", "model.skops"],
            cwd=folder,
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                PYTHON,
                "-c",
                "import sys; from PIL import Image; "
                "from sklearn_catneuron.datasets import fetch_catvnoncat; "
                "X, _ = fetch_catvnoncat(subset='test', return_X_y=True); "
                "Image.fromarray(X[0]).save(sys.argv[1])",
                "photo.png",
            ],
            cwd=folder,
            env=env,
            check=True,
        )
        train = [*CATNEURON, "train", "--quiet", "--force"]
        train += ["--model", "again.skops", "--plot", "again.png"]
        contenders = {
            "python -c 'import sklearn'": [PYTHON, "-c", "import sklearn"],
            "python -c 'import sklearn_catneuron'": [
                PYTHON,
                "-c",
                "import sklearn_catneuron",
            ],
            "import sklearn + the estimators": [
                PYTHON,
                "-c",
                "from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier",
            ],
            "catneuron --help": [*CATNEURON, "--help"],
            "catneuron --version": [*CATNEURON, "--version"],
            "catneuron predict photo.png": [
                *CATNEURON,
                "predict",
                "--model",
                "model.skops",
                "photo.png",
            ],
            "catneuron train": train,
        }
        times = alternate(
            {name: process(cmd, folder, env) for name, cmd in contenders.items()},
            args.repeats,
        )
    print("\nwall clock of whole processes:")
    print_times(times)
    base = median(times["python -c 'import sklearn'"])
    print(f"\nagainst python -c 'import sklearn' ({base:.3f} s):")
    goals = {
        "catneuron --help": 1.0,
        "catneuron predict photo.png": 2.0,
        "catneuron train": 3.0,
    }
    for name, values in times.items():
        seconds = median(values)
        line = f"  {name:<36} {seconds:7.3f} s  {seconds / base:5.2f}x import sklearn"
        if name in goals:
            met = "met" if seconds < goals[name] else "MISSED"
            line += f"  (goal < {goals[name]:g} s: {met})"
        print(line)
    added = median(times["import sklearn + the estimators"]) - base
    print(
        f"  the estimators add {added:.3f} s to import sklearn "
        f"(goal < 0.3 s: {'met' if added < 0.3 else 'MISSED'})"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
