"""Benchmark 8: the command line's training, with and without its progress bar.

In one process, on the cat data, alternating the contenders' order
(``_bench.alternate``), medians of ``--repeats`` runs:

- ``train``: the plain ``make_pipeline(ImageFlattener(),
  SigmoidNeuronClassifier()).fit`` (2,000 steps, the test images as
  validation set) against ``catneuron train``'s fit (``cli._fit_pipeline``)
  with the progress bar hidden and shown (drawn into a fake terminal), and
  against the warm-start chunks of 100 steps that drew the bar before (issue
  11); then whole ``catneuron train`` processes with standard error on a
  pseudo-terminal (the bar shown) and with ``--quiet``.
- ``sweep``: the three default learning rates, 1,500 steps, in one batched
  descent with one bar (``cli._sweep_descent``, the train and test costs and
  accuracies included) against one plain pipeline fit per rate (plus
  ``score`` on both sets), and against the old chunked fit per rate.

    python benchmarks/bench_cli_fit.py [--repeats 5] [--data DIR]

Goal (issue 11): with the bar shown, the fit takes the time it takes hidden,
within the spread of the runs.
"""

import contextlib
import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios
from pathlib import Path

from _bench import (
    ROOT,
    add_data_option,
    alternate,
    load_catvnoncat,
    machine_report,
    median,
    print_load,
    print_times,
)

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier, cli


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def old_chunked_fit(X, y, learning_rate, max_iter, chunk=100):
    """How ``catneuron`` drew its bar before: warm-start fits of 100 steps."""
    from sklearn.pipeline import make_pipeline
    from tqdm import tqdm

    flattener = ImageFlattener()
    X_flat = flattener.fit_transform(X)
    neuron = SigmoidNeuronClassifier(learning_rate=learning_rate, warm_start=True)
    with tqdm(total=max_iter, file=_Terminal()) as bar:
        done = 0
        while done < max_iter:
            steps = min(chunk, max_iter - done)
            neuron.set_params(max_iter=steps).fit(X_flat, y)
            done += steps
            bar.update(steps)
    return make_pipeline(flattener, neuron)


def train_process(data, quiet):
    """A contender: ``catneuron train`` in a new process, stderr a terminal."""
    argv = [sys.executable, "-m", "sklearn_catneuron", "train", "--force"]
    argv += ["--data-home", data, "--model", "m.skops", "--plot", "c.png"]
    argv += ["--quiet"] * quiet
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}

    def run():
        with tempfile.TemporaryDirectory() as folder:
            leader, follower = pty.openpty()
            size = struct.pack("HHHH", 24, 100, 0, 0)
            fcntl.ioctl(follower, termios.TIOCSWINSZ, size)
            process = subprocess.Popen(
                argv, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=follower
            )
            os.close(follower)
            with contextlib.suppress(OSError):  # EIO once the process is done
                while os.read(leader, 65536):
                    pass
            os.close(leader)
            if process.wait() != 0:
                sys.exit(f"error: {argv} failed")

    return run


def main(argv=None):
    from _bench import parser

    p = parser(__doc__.splitlines()[0])
    add_data_option(p)
    args = p.parse_args(argv)
    machine_report()
    X_train, y_train, X_test, y_test = load_catvnoncat(args.data)
    data = str(Path(args.data).resolve())
    from sklearn.pipeline import make_pipeline

    def plain():
        make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()).fit(X_train, y_train)

    def cli_fit(shown):
        def run():
            with contextlib.redirect_stderr(_Terminal()):
                cli._fit_pipeline(
                    X_train,
                    y_train,
                    X_test,
                    y_test,
                    learning_rate=0.005,
                    max_iter=2000,
                    show_progress=shown,
                )

        return run

    times = alternate(
        {
            "plain Pipeline.fit": plain,
            "catneuron train, bar hidden": cli_fit(False),
            "catneuron train, bar shown": cli_fit(True),
            "old: chunks of 100 steps, bar shown": lambda: old_chunked_fit(
                X_train, y_train, 0.005, 2000
            ),
        },
        args.repeats,
    )
    print("\ntrain (2,000 steps, learning rate 0.005):")
    print_times(times)
    base = median(times["plain Pipeline.fit"])
    for name, values in times.items():
        print(f"  {name:<36} {median(values) / base:5.2f}x the plain fit")
    hidden, shown = (
        times["catneuron train, bar hidden"],
        times["catneuron train, bar shown"],
    )
    print(
        f"  bar shown - bar hidden: {median(shown) - median(hidden):+.4f} s "
        f"(spread of the hidden runs {max(hidden) - min(hidden):.4f} s)"
    )

    times = alternate(
        {
            "catneuron train --quiet": train_process(data, quiet=True),
            "catneuron train, bar on a terminal": train_process(data, quiet=False),
        },
        args.repeats,
    )
    print("\nwhole catneuron train processes (wall clock):")
    print_times(times)
    quiet, shown = times.values()
    print(
        f"  bar shown - quiet: {median(shown) - median(quiet):+.3f} s (spread of "
        f"the quiet runs {max(quiet) - min(quiet):.3f} s)"
    )

    rates = cli.DEFAULT_LEARNING_RATES

    def one_descent():
        with contextlib.redirect_stderr(_Terminal()):
            cli._sweep_descent(
                X_train,
                y_train,
                X_test,
                y_test,
                learning_rates=rates,
                max_iter=1500,
                show_progress=True,
            )

    def per_rate():
        for rate in rates:
            model = make_pipeline(
                ImageFlattener(),
                SigmoidNeuronClassifier(learning_rate=rate, max_iter=1500),
            ).fit(X_train, y_train)
            model.score(X_train, y_train), model.score(X_test, y_test)

    def per_rate_chunked():
        for rate in rates:
            model = old_chunked_fit(X_train, y_train, rate, 1500)
            model.score(X_train, y_train), model.score(X_test, y_test)

    times = alternate(
        {
            "one plain fit per rate": per_rate,
            "catneuron sweep: one descent, bar shown": one_descent,
            "old: chunked fit per rate, bars shown": per_rate_chunked,
        },
        args.repeats,
    )
    print(f"\nsweep ({len(rates)} learning rates, 1,500 steps):")
    print_times(times)
    base = median(times["one plain fit per rate"])
    for name, values in times.items():
        print(f"  {name:<40} {median(values) / base:5.2f}x one plain fit per rate")
    print_load("load average at end")


if __name__ == "__main__":
    sys.exit(main())
