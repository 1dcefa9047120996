"""Benchmark 7: start-up and wall clock of the ``catneuron`` command line.

Whole processes, as a user waits for them: ``catneuron --help`` and
``--version``, ``catneuron predict`` of one photo, ``catneuron train`` on the
cat data (2,000 steps, no progress bar), and the imports behind them, each
against a bare ``python -c "import sklearn"`` timed in the same rounds. The
contenders alternate their order from round to round (``_bench.alternate``);
medians and ranges are printed.

    python benchmarks/bench_cli.py [--repeats 5] [--data DIR] [--baseline-checkout DIR]

``--baseline-checkout DIR`` adds ``predict`` and ``train`` run from another
checkout (for instance ``main``'s worktree), in the same rounds: a before and
after of a change under the same load.

Every process runs with a bytecode cache, as an installed package has one:
``PYTHONDONTWRITEBYTECODE`` is dropped from the environment and
``PYTHONPYCACHEPREFIX`` points at a temporary folder, which the untimed
warm-up round fills (for scikit-learn as for this checkout, so the baseline
and the contenders read the same kind of cache). Without it every process
compiles the package's modules again (about 0.1 s for ``predict``, more for
``train``); ``--no-bytecode-cache`` measures that instead.

``train`` draws its plot in a second process (``cli._PlotProcess``), which
imports matplotlib while the first imports scikit-learn: that gains only when
the second core is free. On a loaded machine the two processes share the
cores, and ``train`` takes about as long as drawing in one process.

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
    p.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep the environment's PYTHONDONTWRITEBYTECODE and PYTHONPYCACHEPREFIX",
    )
    p.add_argument(
        "--baseline-checkout",
        metavar="DIR",
        help="also time predict and train from the package in this checkout",
    )
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
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        print(
            "bytecode cache: "
            + (env.get("PYTHONPYCACHEPREFIX") or "the interpreter's default")
            + (", not written" if env.get("PYTHONDONTWRITEBYTECODE") else "")
        )
        # One model and one photo (a test image, saved as a PNG) for predict.
        subprocess.run(
            [*CATNEURON, "train", "--quiet", "--model", "model.cnm"],
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
        train += ["--model", "again.cnm", "--plot", "again.png"]
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
                "model.cnm",
                "photo.png",
            ],
            "catneuron train": train,
        }
        other_env = env
        if args.baseline_checkout:
            other = Path(args.baseline_checkout).resolve()
            if not (other / "sklearn_catneuron" / "cli.py").is_file():
                sys.exit(f"error: {other} is not a checkout of sklearn-catneuron")
            other_env = {**env, "PYTHONPATH": str(other)}
            base_train = [*CATNEURON, "train", "--quiet", "--force"]
            base_train += ["--model", "base.cnm", "--plot", "base.png"]
            extra = {
                "catneuron predict photo.png [baseline]": contenders[
                    "catneuron predict photo.png"
                ],
                "catneuron train [baseline]": base_train,
            }
            contenders.update(extra)
        commands = {
            name: process(cmd, folder, other_env if "[baseline]" in name else env)
            for name, cmd in contenders.items()
        }
        times = alternate(
            commands,
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
    goals["catneuron predict photo.png [baseline]"] = 2.0
    goals["catneuron train [baseline]"] = 3.0
    width = max(map(len, times))
    for name, values in times.items():
        seconds = median(values)
        line = f"  {name:<{width}} {seconds:7.3f} s  {seconds / base:5.2f}x"
        line += " import sklearn"
        if name in goals:
            met = "met" if seconds < goals[name] else "MISSED"
            line += f"  (goal < {goals[name]:g} s: {met})"
        print(line)
    for name in ("catneuron predict photo.png", "catneuron train"):
        if f"{name} [baseline]" in times:
            before = median(times[f"{name} [baseline]"])
            after = median(times[name])
            print(
                f"  {name}: {after - before:+.3f} s against the baseline checkout "
                f"({after:.3f} s against {before:.3f} s)"
            )
    added = median(times["import sklearn + the estimators"]) - base
    print(
        f"  the estimators add {added:.3f} s to import sklearn "
        f"(goal < 0.3 s: {'met' if added < 0.3 else 'MISSED'})"
    )
    print_load("load average at end")


if __name__ == "__main__":
    main()
