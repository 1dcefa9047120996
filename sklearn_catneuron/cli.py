"""The ``catneuron`` command line: train the neuron, classify photos, compare rates.

``catneuron train`` runs the reference experiment end to end (fetch the data,
flatten and scale, train with the test images as validation set, report, plot
the training and test costs); ``catneuron predict`` classifies your own
pictures with the saved model; ``catneuron sweep`` compares learning rates, all
trained in one batched descent of the engine. Run ``catneuron COMMAND --help``
for the options, or ``python -m sklearn_catneuron``.

Needs matplotlib, tqdm and Pillow: from a checkout of the project,
``pip install -e ".[cli]"``.

Start-up is kept short: this module imports only the standard library at the
top; NumPy, scikit-learn, the estimators, Pillow and tqdm are imported inside
the commands that use them, so ``catneuron --help`` and ``--version`` need none
of them. ``train`` and ``sweep`` draw their plot in a second Python process
(``_PlotProcess``), started before the data is read, which imports matplotlib
on the other core while this one imports scikit-learn and trains.
"""

import argparse
import contextlib
import importlib.util
import io
import math
import os
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

from sklearn_catneuron import __version__

__all__ = ["build_parser", "main"]

DEFAULT_MODEL = "catneuron-model.cnm"
DEFAULT_PLOT = "cost.png"
DEFAULT_SWEEP_PLOT = "sweep.png"
DEFAULT_LEARNING_RATES = (0.01, 0.001, 0.0001)

# The most steps the command line runs: about an hour of training here.
_MAX_ITER = 10**7
# Plot file suffix -> matplotlib format: formats matplotlib writes itself.
_PLOT_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".eps": "eps"}
_PLOT_FORMATS[".ps"] = "ps"
# Picture file suffix (any case) -> the format its bytes must have; inside a
# folder, files with other suffixes are passed over.
_PICTURE_SUFFIXES = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_PICTURE_KINDS = "PNG, JPEG, WEBP, BMP, GIF or TIFF"
# Bounds on one picture: its file, and its pixels once decoded (64 megapixels,
# about 200 MB as RGB; Pillow refuses more, see Image.MAX_IMAGE_PIXELS).
_MAX_PICTURE_BYTES = 256 * 2**20
_MAX_PICTURE_PIXELS = 2**26
# Pictures decoded, resized and classified at a time: memory stays bounded
# (a batch is 256 x 64 x 64 x 3 bytes) whatever the number of pictures.
_BATCH_SIZE = 256
_PIP_NAMES = {"PIL": "Pillow"}
# Exit statuses: a picture could not be classified; usage or any problem the
# user can fix; interrupted (Control-c); terminated (SIGTERM), as shells report.
_EXIT_SKIPPED = 1
_EXIT_ERROR = 2
_EXIT_INTERRUPTED = 130
_EXIT_TERMINATED = 128 + signal.SIGTERM
# Whoever read the output stopped reading (as for a process killed by SIGPIPE).
_EXIT_BROKEN_PIPE = 128 + 13


class CommandError(Exception):
    """A problem the user can fix: printed on one line, exit status 2."""


class _PictureError(Exception):
    """A picture that cannot be classified: one line on stderr, then the next."""


class _Terminated(BaseException):
    """Raised by the SIGTERM handler: unwinds like Control-c, cleaning up."""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (exit status 2, as argparse)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:  # also "1e24", "1.5" and numbers of over 4300 digits
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _max_iter(text):
    value = _positive_int(text)
    if value > _MAX_ITER:
        raise argparse.ArgumentTypeError(
            f"at most {_MAX_ITER} steps (about an hour), got {text}; to train "
            "longer, use SigmoidNeuronClassifier from Python"
        )
    return value


def build_parser():
    """Build the argument parser of the ``catneuron`` command.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with one subcommand each for ``train``, ``predict`` and
        ``sweep``.

    See Also
    --------
    main : Parse the arguments and run the command.

    Examples
    --------
    >>> from sklearn_catneuron.cli import build_parser
    >>> args = build_parser().parse_args(["train", "--max-iter", "100"])
    >>> args.command, args.learning_rate, args.max_iter, str(args.model)
    ('train', 0.005, 100, 'catneuron-model.cnm')
    """
    parser = _ArgumentParser(
        prog="catneuron",
        description=(
            "A single sigmoid neuron, trained by gradient descent, that tells "
            "cats from non-cats in 64x64 pictures."
        ),
        epilog=(
            "The data comes from --data-home, else $CATNEURON_DATA, else "
            "~/catneuron_data; missing files are downloaded from "
            "$CATNEURON_DATA_URL when it is set."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )

    train = commands.add_parser(
        "train",
        help="train on the cat / non-cat images, report, save model and plot",
        description=(
            "Train ImageFlattener + SigmoidNeuronClassifier on the training "
            "images, with the test images as validation set (their cost is "
            "recorded before every step; they take no part in training), print "
            "train and test accuracy, final training and test cost, the step "
            "with the lowest test cost, steps and time, save the fitted pipeline "
            "(a model file, see 'catneuron predict') and the plot of both "
            "costs. The defaults reproduce the reference result: 207/209 "
            "train, 35/50 test."
        ),
    )
    _add_data_home(train)
    train.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=0.005,
        metavar="RATE",
        help="step size of gradient descent (default: %(default)s)",
    )
    train.add_argument(
        "--max-iter",
        type=_max_iter,
        default=2000,
        metavar="N",
        help=(
            f"number of gradient-descent steps, at most {_MAX_ITER} "
            "(default: %(default)s)"
        ),
    )
    train.add_argument(
        "--model",
        type=Path,
        default=Path(DEFAULT_MODEL),
        metavar="FILE",
        help="where to save the fitted pipeline (default: %(default)s)",
    )
    _add_plot(train, DEFAULT_PLOT, "the cost curve")
    _add_force_quiet(train)
    train.set_defaults(func=_train)

    predict = commands.add_parser(
        "predict",
        help="classify your own pictures (PNG, JPEG, WEBP, BMP, GIF, TIFF)",
        description=(
            f"Read {_PICTURE_KINDS} pictures of any size (the first frame of an "
            "animation), convert them to RGB, resize them to the model's image "
            "shape and print one row per picture: file, cat or non-cat, and "
            "the probabilities. A folder stands for every picture in it, by "
            "suffix (.png, .jpg, .jpeg, .webp, .bmp, .gif, .tif, .tiff, any "
            "case); other files in it are passed over. A picture that cannot "
            "be read is reported on one line of standard error and skipped; the "
            "exit status is then 1."
        ),
    )
    predict.add_argument(
        "--model",
        type=Path,
        default=Path(DEFAULT_MODEL),
        metavar="FILE",
        help="a model file written by 'catneuron train' (default: %(default)s)",
    )
    predict.add_argument(
        "--format",
        choices=("text", "csv", "json"),
        default="text",
        help=(
            "text: aligned columns, file, label and its probability; csv and "
            "json: file, label and the probability of each class "
            "(default: %(default)s)"
        ),
    )
    predict.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the results to FILE instead of standard output",
    )
    predict.add_argument(
        "--force", action="store_true", help="replace the --output file if it exists"
    )
    predict.add_argument(
        "images",
        nargs="+",
        type=Path,
        metavar="IMAGE_OR_FOLDER",
        help="picture files, or folders of pictures",
    )
    predict.set_defaults(func=_predict)

    sweep = commands.add_parser(
        "sweep",
        help="compare learning rates: one model each, a table and their costs",
        description=(
            "Train one model per learning rate, all in one batched gradient "
            "descent (each rate's numbers are those of a separate fit), print a "
            "table of the final training and test cost and the train and test "
            "accuracy, and draw all training cost curves on one figure."
        ),
    )
    _add_data_home(sweep)
    sweep.add_argument(
        "--learning-rates",
        type=_positive_float,
        nargs="+",
        default=list(DEFAULT_LEARNING_RATES),
        metavar="RATE",
        help="learning rates to compare (default: 0.01 0.001 0.0001)",
    )
    sweep.add_argument(
        "--max-iter",
        type=_max_iter,
        default=1500,
        metavar="N",
        help=(
            f"number of gradient-descent steps per model, at most {_MAX_ITER} "
            "(default: %(default)s)"
        ),
    )
    _add_plot(sweep, DEFAULT_SWEEP_PLOT, "the cost curves")
    _add_force_quiet(sweep)
    sweep.set_defaults(func=_sweep)
    return parser


def _add_data_home(parser):
    parser.add_argument(
        "--data-home",
        metavar="DIR",
        help=(
            "folder holding train_catvnoncat.h5 and test_catvnoncat.h5 "
            "(default: $CATNEURON_DATA, else ~/catneuron_data)"
        ),
    )


def _add_plot(parser, default, what):
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path(default),
        metavar="FILE",
        help=(
            f"where to save {what}; the suffix gives the format: .png, .pdf, "
            ".svg, .eps or .ps (default: %(default)s)"
        ),
    )


def _add_force_quiet(parser):
    parser.add_argument(
        "--force", action="store_true", help="replace output files that exist"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal)",
    )


def main(argv=None):
    """Run the ``catneuron`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; ``sys.argv[1:]`` if None.

    Returns
    -------
    status : int
        0 on success; 1 when ``predict`` skipped a picture it could not read
        (after one line on stderr for each); 2 on a usage error or any other
        problem the user can fix (missing data, bad model file, existing
        output), after one line on stderr; 130 when interrupted (Control-c)
        and 143 when terminated (SIGTERM), after removing any half-written
        file; 141, silently, when the reader of stdout has gone (as ``ls``
        killed by SIGPIPE in ``ls | head``).

    See Also
    --------
    build_parser : The parser, with every option.

    Notes
    -----
    Warnings from the libraries never reach stderr on their own: a warning
    about a picture that cannot be read is part of that picture's one line;
    a warning about a picture that was read (Pillow's notes on metadata it
    passes over, such as EXIF or an invalid animation chunk) is dropped, as it
    does not change the pixels classified; any other warning during a command
    is dropped, since the command's outcome is what its report or one-line
    error says.

    Examples
    --------
    The console script ``catneuron`` calls this function; it can also be
    called from Python. Problems are reported on stderr, not raised:

    >>> import contextlib
    >>> import io
    >>> from sklearn_catneuron.cli import main
    >>> stderr = io.StringIO()
    >>> with contextlib.redirect_stderr(stderr):
    ...     status = main(["train", "--learning-rate", "-1"])
    >>> status
    2
    >>> print(stderr.getvalue().strip())
    catneuron train: error: argument --learning-rate: must be a positive number, \
got '-1' (see 'catneuron train --help')
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error
        return exc.code
    _tolerate_file_names(sys.stdout)
    with _sigterm_unwinds(), warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # recorded, then dropped (see Notes)
        try:
            return args.func(args)
        except BrokenPipeError:  # e.g. 'catneuron predict photos/ | head'
            _silence_stdout()
            return _EXIT_BROKEN_PIPE
        except (CommandError, OSError, ImportError) as exc:
            message = " ".join(str(exc).split())
            _say(f"catneuron {args.command}: error: {message}")
            return _EXIT_ERROR
        except KeyboardInterrupt:
            _say(f"catneuron {args.command}: interrupted")
            return _EXIT_INTERRUPTED
        except _Terminated:
            _say(f"catneuron {args.command}: terminated")
            return _EXIT_TERMINATED


def _script_main():
    """The ``catneuron`` script and ``python -m sklearn_catneuron``: ``main()``.

    The process ends right after: the objects of the libraries loaded (NumPy,
    SciPy, pandas, scikit-learn) are then frozen out of the garbage collector
    (``gc.freeze``), so the interpreter's shutdown does not walk them all to
    free memory the system takes back anyway (about 0.3 s here, a fifth of a
    ``predict``). Shutdown still runs as usual otherwise (``atexit``, stdout
    and stderr flushed); every output file is written, synced and closed
    before ``main`` returns. Not for use inside a longer-running program: call
    ``main`` there.

    Returns
    -------
    status : int
        The exit status ``main`` returns.
    """
    import gc

    status = main()
    gc.freeze()
    return status


def _silence_stdout():
    """Point stdout at the null device, so exiting does not fail to flush it."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


@contextlib.contextmanager
def _sigterm_unwinds():
    """Turn SIGTERM into ``_Terminated``, so ``finally`` blocks clean up.

    By default SIGTERM ends the process at once, leaving half-written
    temporary files; raised as an exception, it unwinds like Control-c. Only
    the main thread can install a handler; elsewhere SIGTERM keeps its default.
    """

    def terminate(signum, frame):
        raise _Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _say(line):
    """One line on stderr; characters it cannot encode are escaped."""
    stream = sys.stderr
    encoding = getattr(stream, "encoding", None) or "utf-8"
    line = line.encode(encoding, "backslashreplace").decode(encoding)
    print(line, file=stream, flush=True)


# -- the commands ------------------------------------------------------------


def _train(args):
    _require(args.command, "matplotlib", "tqdm")
    plot_format = _plot_format(args.plot)
    _check_outputs([args.model, args.plot], force=args.force)
    with _PlotProcess(plot_format) as plots:
        return _train_with(args, plot_format, plots)


def _train_with(args, plot_format, plots):
    """``_train``, once the outputs are checked and the plot process started."""
    data_home, (X_train, y_train), (X_test, y_test) = _load_data(args.data_home)
    import numpy as np

    start = time.perf_counter()
    model = _fit_pipeline(
        X_train,
        y_train,
        X_test,
        y_test,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        show_progress=_show_progress(args),
    )
    seconds = time.perf_counter() - start
    neuron = model[-1]
    # Drawn by the plot process while this one scores and saves the model.
    figure = plots.figure(
        "train",
        [neuron.loss_curve_, neuron.validation_loss_curve_],
        best_iteration=int(neuron.best_iteration_),
        learning_rate=args.learning_rate,
        n_test=len(y_test),
    )
    n_train = int(np.sum(model.predict(X_train) == y_train))
    n_test = int(np.sum(model.predict(X_test) == y_test))

    _atomic_write(args.model, lambda f: _dump_model(model, f), force=args.force)
    _atomic_write(
        args.plot,
        lambda f: _save_figure(figure, f, plot_format),
        force=args.force,
    )

    height, width, channels = X_train.shape[1:]
    print(
        f"Trained ImageFlattener + SigmoidNeuronClassifier on {len(y_train)} "
        f"images of {height}x{width}x{channels} from {data_home}"
    )
    print(_report_line("train accuracy", _accuracy(n_train, len(y_train))))
    print(_report_line("test accuracy", _accuracy(n_test, len(y_test))))
    print(_report_line("final cost", _cost_text(neuron.loss_curve_[-1])))
    print(
        _report_line(
            "test cost",
            f"{_cost_text(neuron.validation_loss_curve_[-1])} (lowest: "
            f"{_cost_text(neuron.best_validation_loss_)} after "
            f"{neuron.best_iteration_} steps)",
        )
    )
    print(
        _report_line(
            "steps", f"{neuron.n_iter_} (learning rate {args.learning_rate:g})"
        )
    )
    print(_report_line("time", f"{seconds:.1f} s"))
    print(_report_line("model", args.model))
    print(_report_line("cost curve", args.plot))
    return 0


def _predict(args):
    """Classify the pictures batch by batch, writing rows as they come.

    Only one batch of pictures is in memory at a time, and the folders are
    listed lazily, so memory stays bounded whatever the number of pictures.
    """
    _require(args.command, "PIL")
    if args.output is not None:
        _check_outputs([args.output], force=args.force)
    model = _load_model(args.model)
    classes = model.classes_
    binary = len(classes) == 2 and all(
        c == k for c, k in zip(classes, (0, 1), strict=True)
    )
    names = ["non-cat", "cat"] if binary else [str(c) for c in classes]
    failures = []

    def classify(stream):
        table = _TABLES[args.format](stream, names)
        for paths, images in _picture_batches(
            args.images, model[0].image_shape_, failures
        ):
            table.write(paths, _predict_proba(model, images, args.model))
        table.close()

    if args.output is None:
        _tolerate_file_names(sys.stdout)
        classify(sys.stdout)
        sys.stdout.flush()
    else:

        def write(f):
            stream = io.TextIOWrapper(
                f, encoding="utf-8", errors="surrogateescape", newline=""
            )
            classify(stream)
            stream.flush()
            stream.detach()

        _atomic_write(args.output, write, force=args.force)
    return _EXIT_SKIPPED if failures else 0


def _predict_proba(model, images, model_path):
    import numpy as np

    def damaged(reason):
        return CommandError(
            f"the model in {model_path} cannot classify pictures ({reason}); it is "
            "damaged: train a new one with 'catneuron train'"
        )

    try:
        proba = model.predict_proba(images)
    except (ValueError, TypeError, AttributeError) as exc:  # a tampered file
        raise damaged(exc) from exc
    if not np.isfinite(proba).all():
        raise damaged("it gives probabilities that are NaN")
    return proba


def _sweep(args):
    _require(args.command, "matplotlib", "tqdm")
    plot_format = _plot_format(args.plot)
    _check_outputs([args.plot], force=args.force)
    with _PlotProcess(plot_format) as plots:
        return _sweep_with(args, plot_format, plots)


def _sweep_with(args, plot_format, plots):
    """``_sweep``, once the output is checked and the plot process started."""
    _, (X_train, y_train), (X_test, y_test) = _load_data(args.data_home)
    start = time.perf_counter()
    rows = _sweep_descent(
        X_train,
        y_train,
        X_test,
        y_test,
        learning_rates=args.learning_rates,
        max_iter=args.max_iter,
        show_progress=_show_progress(args),
    )
    seconds = time.perf_counter() - start
    figure = plots.figure(
        "sweep",
        [row.loss_curve for row in rows],
        learning_rates=[row.learning_rate for row in rows],
    )
    _atomic_write(
        args.plot, lambda f: _save_figure(figure, f, plot_format), force=args.force
    )

    print(
        f"{args.max_iter} gradient-descent steps per learning rate, all rates in "
        f"one descent ({seconds:.1f} s)"
    )
    print(
        f"{'learning rate':>13}  {'train cost':>10}  {'test cost':>10}  "
        f"{'train acc':>9}  {'test acc':>8}"
    )
    for row in rows:
        print(
            f"{row.learning_rate:>13g}  {_cost_text(row.loss_curve[-1]):>10}  "
            f"{_cost_text(row.test_cost):>10}  {row.train_acc:>9.4f}  "
            f"{row.test_acc:>8.4f}"
        )
    print(f"cost curves: {args.plot}")
    return 0


# -- training ----------------------------------------------------------------


class _StepBar:
    """A scikit-learn callback (``sklearn.callback``) that moves a tqdm bar.

    Set on the neuron with ``set_callbacks``: the fit is its root task, of
    ``max_subtasks = max_iter`` subtasks, and each gradient step is one of
    them; the bar moves by one at the end of each step. It never stops the
    descent, and it asks for no ``fitted_estimator``, so scikit-learn builds
    none (building one forms ``coef_`` at every step).
    """

    def __init__(self, bar):
        self.bar = bar

    def setup(self, estimator, context):
        self.bar.reset(total=context.max_subtasks)

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        if context.parent is not None and context.task_name == "gradient step":
            self.bar.update()
        return False

    def teardown(self, estimator, context):
        self.bar.refresh()


def _progress_bar(show_progress, desc, total):
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="step", file=sys.stderr, disable=not show_progress
    )


def _fit_pipeline(X, y, X_test, y_test, *, learning_rate, max_iter, show_progress):
    """One fit of ``make_neuron_pipeline(ImageFlattener(), SigmoidNeuronClassifier())``.

    The test images are the neuron's validation set (``X_val``, ``y_val``), so
    the fit records their cost before each step next to the training cost
    (``validation_loss_curve_`` beside ``loss_curve_``); they take no part in
    the descent. The progress bar is a callback on the neuron
    (:class:`_StepBar`), set for this fit only: the fit itself is the plain
    one, and so is the pipeline returned (nothing is rewritten after it).
    """
    from sklearn_catneuron import (
        ImageFlattener,
        SigmoidNeuronClassifier,
        make_neuron_pipeline,
    )

    neuron = SigmoidNeuronClassifier(learning_rate=learning_rate, max_iter=max_iter)
    model = make_neuron_pipeline(ImageFlattener(), neuron)
    # The flattener is stateless: fitted here, it is the one the pipeline fits.
    X_val = ImageFlattener().fit(X).transform(X_test)
    with _progress_bar(show_progress, "training", max_iter) as bar:
        if show_progress:
            neuron.set_callbacks(_StepBar(bar))
        try:
            model.fit(
                X,
                y,
                sigmoidneuronclassifier__X_val=X_val,
                sigmoidneuronclassifier__y_val=y_test,
            )
        except ValueError as exc:
            raise CommandError(
                f"training diverged with learning rate {learning_rate:g}; use a "
                f"smaller --learning-rate ({exc})"
            ) from exc
        except MemoryError as exc:
            raise _out_of_memory(max_iter) from exc
        finally:
            neuron.set_callbacks()  # the model file holds no callback
    return model


def _out_of_memory(max_iter):
    return CommandError(
        f"not enough memory to train {max_iter} steps; give a smaller --max-iter"
    )


class _SweepResult:
    """Per learning rate: loss curve, final train and test cost and accuracy."""

    def __init__(self, learning_rate, loss_curve, test_cost, train_acc, test_acc):
        self.learning_rate, self.loss_curve = learning_rate, loss_curve
        self.test_cost, self.train_acc, self.test_acc = test_cost, train_acc, test_acc


def _sweep_descent(X_train, y_train, X_test, y_test, *, learning_rates, max_iter,
                   show_progress):  # fmt: skip
    """Fit every learning rate at once: one batched descent of the engine.

    The neurons of all rates are the columns of one weight matrix (the
    engine's ``make_path``), so a step is one product with ``X`` (or its Gram
    matrix) for all of them, and one progress bar counts the steps. Each
    column's iterates are those of a separate ``SigmoidNeuronClassifier`` fit
    at the defaults (to rounding): the same start, targets, weights and
    update. The final costs are, as ``loss_curve_[-1]``, those of the weights
    before the last step, on the training and on the test images; the
    accuracies are those of the final weights.
    """
    import numpy as np

    from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier
    from sklearn_catneuron._engine import (
        DIVERGED,
        choose_solver,
        descend,
        make_path,
        neg_log_sigmoid,
    )
    from sklearn_catneuron._neuron import _encode_targets

    defaults = SigmoidNeuronClassifier(max_iter=max_iter)
    flattener = ImageFlattener().fit(X_train)
    X, X_val = flattener.transform(X_train), flattener.transform(X_test)
    classes, Y = _encode_targets(y_train, "catneuron sweep", X.dtype)
    n_rates, (n_samples, n_features) = len(learning_rates), X.shape
    solver = choose_solver(defaults.solver, n_samples, n_features, n_rates, max_iter)
    path = make_path(
        X,
        Y,
        np.ones(n_samples, dtype=X.dtype),
        coef=np.zeros((n_rates, 1, n_features), dtype=X.dtype),
        intercept=np.zeros((n_rates, 1), dtype=X.dtype),
        learning_rates=learning_rates,
        alpha=defaults.alpha,
        fit_intercept=defaults.fit_intercept,
        solver=solver,
    )
    with _progress_bar(show_progress, "learning rates", max_iter) as bar:
        watcher = _SweepWatcher(bar, max_iter - 1)
        try:
            result = descend(path, max_iter=max_iter, observers=[watcher])
        except MemoryError as exc:
            raise _out_of_memory(max_iter) from exc
    for rate, status, n_iter in zip(
        learning_rates, result.status, result.n_iter, strict=True
    ):
        if status == DIVERGED:
            raise CommandError(
                f"training diverged at step {n_iter - 1} with learning rate "
                f"{rate:g}; leave out that rate or use smaller ones"
            )

    signs = np.where(y_test == classes[1], 1.0, -1.0)

    def accuracy(X, y, coef, intercept):
        scores = X @ coef[0] + intercept[0]
        return float(np.mean(classes[(scores > 0).astype(np.intp)] == y))

    rows = []
    for model, rate in enumerate(learning_rates):
        coef, intercept = watcher.last[model]
        scores = X_val @ coef[0] + intercept[0]
        test_cost = float(np.mean(neg_log_sigmoid(signs * scores)))
        rows.append(
            _SweepResult(
                rate,
                result.loss_curves[model].mean(axis=1),
                test_cost,
                accuracy(X, y_train, result.coef[model], result.intercept[model]),
                accuracy(X_val, y_test, result.coef[model], result.intercept[model]),
            )
        )
    return rows


class _SweepWatcher:
    """An observer of the engine's descent (``_engine.Observer``'s interface).

    Moves the progress bar at every step, and keeps each model's weights
    after ``last_step`` steps (the weights whose cost ends the loss curve).
    """

    needs_costs = False

    def __init__(self, bar, last_step):
        self.bar, self.last_step = bar, last_step
        self.last = {}

    def begin(self, view):
        self.bar.reset(total=self.last_step + 1)
        if self.last_step == 0:
            self._keep(view)

    def on_step(self, view):
        self.bar.update()
        if view.n_iter == self.last_step:
            self._keep(view)
        return False

    def on_costs(self, steps, costs):
        pass

    def end(self, view):
        self.bar.refresh()

    def _keep(self, view):
        for model in view.active:
            self.last[int(model)] = view.params(model)


def _show_progress(args):
    return not args.quiet and sys.stderr.isatty()


def _load_data(data_home):
    """The training and test images and labels, and the folder they came from."""
    from sklearn_catneuron.datasets import fetch_catvnoncat, get_data_home

    try:
        # Fetch first: get_data_home creates the folder, which a failed fetch
        # must not leave behind.
        train = fetch_catvnoncat(subset="train", data_home=data_home, return_X_y=True)
        test = fetch_catvnoncat(subset="test", data_home=data_home, return_X_y=True)
        data_home = get_data_home(data_home)
    except ValueError as exc:  # e.g. a $CATNEURON_DATA_URL that is not a URL
        raise CommandError(str(exc)) from exc
    return data_home, train, test


def _cost_text(cost):
    """Six decimals; in powers of ten from a million (a far too large step)."""
    return f"{cost:.6f}" if abs(cost) < 1e6 else f"{cost:.6e}"


def _accuracy(n_correct, n_total):
    return f"{n_correct / n_total:.4f} ({n_correct} of {n_total} images)"


def _report_line(label, value):
    return f"{label + ':':<16}{value}"


# -- files -------------------------------------------------------------------


def _require(command, *modules):
    """Check that the optional packages a command needs are installed.

    Only looked up (``importlib.util.find_spec``), not imported: each is
    imported where it is used.
    """
    for module in modules:
        # The top-level package only: finding "a.b" would import "a".
        if importlib.util.find_spec(module.partition(".")[0]) is None:
            package = _PIP_NAMES.get(module, module)
            raise CommandError(
                f"catneuron {command} needs {package}, which is not installed; "
                f"install it with 'pip install {package}', or install all the "
                "command line needs with 'pip install -e \".[cli]\"' in the "
                "sklearn-catneuron folder"
            )


def _plot_format(path):
    """The matplotlib format for a plot file name, from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in _PLOT_FORMATS:
        kinds = ", ".join(_PLOT_FORMATS)
        raise CommandError(
            f"cannot save a plot as {path}: the file name must end in one of "
            f"{kinds} (the suffix gives the format)"
        )
    return _PLOT_FORMATS[suffix]


def _check_outputs(paths, *, force):
    """Refuse, before any work, outputs that cannot or should not be written."""
    resolved = [Path(path).resolve() for path in paths]
    if len(set(resolved)) != len(resolved):
        raise CommandError(
            "the model and the plot would go to the same file; give them "
            "different names"
        )
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise CommandError(f"{path} is a folder; give a file name")
        folder = path.parent
        if not folder.is_dir():
            blocking = next(
                (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()),
                None,
            )
            if blocking is not None:
                raise CommandError(
                    f"cannot write {path}: {blocking} is a file, not a folder; "
                    "choose another place"
                )
            raise CommandError(
                f"cannot write {path}: the folder {folder} does not exist; "
                "create it first"
            )
        if path.exists() and not force:
            raise CommandError(
                f"{path} already exists; pass --force to replace it, or choose "
                "another file name"
            )
        try:  # permission bits do not tell (root ignores them): try it
            fd, probe = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".tmp", dir=folder
            )
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise CommandError(
                f"cannot write {path}: the folder {folder} is not writable "
                f"({_reason(exc)}); choose another folder"
            ) from exc


def _atomic_write(path, write, *, force):
    """Write a file through a temporary file in the same folder, then rename.

    ``write(fileobj)`` fills the temporary file, which is flushed to disk
    before it takes the final name, so ``path`` is at every moment either the
    old file or the complete new one. An existing ``path`` is only replaced
    when ``force`` is true; otherwise the new file is linked into place, which
    fails if a file of that name appeared meanwhile. On any failure, or
    Control-c, or SIGTERM (see ``_sigterm_unwinds``), the temporary file is
    removed and ``path`` is left as it was.
    """
    from sklearn_catneuron._atomic import publish

    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise CommandError(
            f"cannot write {path} ({_reason(exc)}); choose another folder"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp_name, path, force=force)
    except FileExistsError:
        raise CommandError(
            f"{path} already exists; pass --force to replace it, or choose "
            "another file name"
        ) from None
    except OSError as exc:
        kept = "the existing file is unchanged" if path.exists() else "nothing written"
        raise CommandError(f"could not write {path} ({_reason(exc)}); {kept}") from exc
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _reason(exc):
    """The OS's words for an OSError, without the errno and file name."""
    return exc.strerror or str(exc) or type(exc).__name__


def _dump_model(model, f):
    """Write the model file of ``model`` to the open binary file ``f``."""
    from sklearn_catneuron._model_file import save_model

    try:
        save_model(model, f)
    except (TypeError, ValueError) as exc:  # beyond the format's bounds
        raise CommandError(f"cannot save the model: {exc}") from exc


def _load_model(path):
    """Load a model file written by ``catneuron train`` (see ``load_model``).

    The file holds JSON and ``.npy`` arrays, never code; every field is
    checked before use, and any file that is not such a model (a pickle, an
    older skops file, a FIFO, a damaged file) is one ``CommandError``.
    """
    from sklearn_catneuron._model_file import ModelFileError, load_model

    try:
        return load_model(path)
    except ModelFileError as exc:
        raise CommandError(str(exc)) from exc


# -- pictures ------------------------------------------------------------------


def _picture_batches(items, image_shape, failures):
    """Yield ``(paths, images)``: up to ``_BATCH_SIZE`` pictures at a time.

    ``images`` is a uint8 array of shape ``(len(paths), *image_shape)``. The
    paths are found lazily (see ``_picture_paths``) and each picture is read
    only when its batch is filled, so memory holds one batch whatever the
    number of pictures. A picture that cannot be read is reported on one line
    of stderr, its message appended to ``failures``, and skipped.
    """
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = _MAX_PICTURE_PIXELS
    batch = np.empty((_BATCH_SIZE, *image_shape), dtype=np.uint8)
    paths = []
    for path in _picture_paths(items, failures):
        try:
            batch[len(paths)] = _read_picture(path, image_shape)
        except _PictureError as exc:
            _skip(failures, str(exc))
            continue
        paths.append(path)
        if len(paths) == _BATCH_SIZE:
            yield paths, batch
            batch = np.empty_like(batch)
            paths = []
    if paths:
        yield paths, batch[: len(paths)]


def _skip(failures, message):
    failures.append(message)
    _say(f"catneuron predict: error: {message}; skipped")


def _picture_paths(items, failures):
    """The picture files named on the command line, folders expanded, lazily.

    A folder stands for the files in it (not in its subfolders) whose suffix
    is a picture's (``_PICTURE_SUFFIXES``, any case), in name order; other
    files and hidden files (names starting with a dot) are passed over
    silently. A name that is not a file or folder, or a folder without
    pictures, is reported and skipped.
    """
    import stat

    for item in items:
        item = Path(item)
        try:
            mode = item.stat().st_mode
        except FileNotFoundError:
            _skip(failures, f"{item} does not exist; give picture files or folders")
            continue
        except OSError as exc:
            _skip(failures, f"cannot read {item} ({_reason(exc)})")
            continue
        if stat.S_ISDIR(mode):
            try:
                with os.scandir(item) as entries:
                    names = sorted(
                        entry.name
                        for entry in entries
                        if not entry.name.startswith(".")
                        and Path(entry.name).suffix.lower() in _PICTURE_SUFFIXES
                        and not entry.is_dir()
                    )
            except OSError as exc:
                _skip(failures, f"cannot list the folder {item} ({_reason(exc)})")
                continue
            if not names:
                suffixes = ", ".join(_PICTURE_SUFFIXES)
                _skip(
                    failures,
                    f"the folder {item} holds no pictures (files ending in {suffixes})",
                )
            for name in names:
                yield item / name
        elif stat.S_ISREG(mode):
            yield item
        else:
            _skip(
                failures,
                f"{item} is neither a file nor a folder; give picture files or folders",
            )


def _picture_format(data):
    """The Pillow format of a picture's bytes, by signature, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM":
        return "BMP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def _read_picture(path, image_shape):
    """A picture file as a uint8 array of ``image_shape``, or ``_PictureError``.

    The file is read once, at most ``_MAX_PICTURE_BYTES``, without following
    it if it is a pipe or a device; its first bytes must be those of a PNG,
    JPEG, WEBP, BMP, GIF or TIFF file, whatever its name says, and Pillow then
    decodes these bytes with that format's decoder only.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise _PictureError(f"cannot read {path} ({_reason(exc)})") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _PictureError(
                f"{path} is neither a file nor a folder; give picture files or folders"
            )
        if info.st_size > _MAX_PICTURE_BYTES:
            raise _PictureError(
                f"refusing to read the picture {path}: {info.st_size} bytes, over "
                f"the limit of {_MAX_PICTURE_BYTES}"
            )
        try:
            data = f.read(_MAX_PICTURE_BYTES + 1)
        except OSError as exc:
            raise _PictureError(f"cannot read {path} ({_reason(exc)})") from exc
    if len(data) > _MAX_PICTURE_BYTES:  # it grew meanwhile
        raise _PictureError(
            f"refusing to read the picture {path}: over the limit of "
            f"{_MAX_PICTURE_BYTES} bytes"
        )
    if not data:
        raise _PictureError(
            f"cannot read the picture {path}: the file is empty; give "
            f"{_PICTURE_KINDS} pictures"
        )
    kind = _picture_format(data)
    if kind is None:
        raise _PictureError(
            f"cannot read the picture {path}: it is not a {_PICTURE_KINDS} "
            f"picture (it starts with {data[:8]!r})"
        )
    return _decode_picture(path, data, kind, image_shape)


def _decode_picture(path, data, kind, image_shape):
    """Decode ``data``, a ``kind`` picture, into a uint8 array of ``image_shape``.

    Pillow's warnings are recorded: the decompression-bomb one refuses the
    picture; the others are part of the message when the picture cannot be
    decoded, and dropped when it can (they are about metadata, such as EXIF
    or an animation chunk, that does not change the pixels used).
    """
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    height, width = image_shape[:2]
    mode = "RGB" if len(image_shape) == 3 and image_shape[2] == 3 else "L"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Over MAX_IMAGE_PIXELS Pillow only warns, then decodes it all.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=(kind,)) as image:
                image = _as_mode(ImageOps.exif_transpose(image), mode)
                image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _PictureError(
                f"refusing to read the picture {path}: {exc} Give a picture of at "
                f"most {Image.MAX_IMAGE_PIXELS} pixels"
            ) from exc
        except Exception as exc:  # any failure to decode untrusted bytes
            if isinstance(exc, UnidentifiedImageError):
                reason = f"it is not a valid {kind} file"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            notes = list(dict.fromkeys(str(w.message) for w in caught))
            if notes:
                reason += f"; Pillow warned: {'; '.join(notes)}"
            raise _PictureError(
                f"cannot read the picture {path} ({reason}); the file is damaged, "
                "replace it"
            ) from exc
    return pixels.reshape(image_shape)


def _as_mode(image, mode):
    """``image`` converted to ``mode`` ("RGB" or "L"), with 8 bits a channel.

    16-bit grayscale (Pillow's modes "I;16*", and "I", taken as 16-bit) keeps
    its high byte, so 0-65535 maps onto 0-255 (mid-grey stays mid-grey);
    values outside 0-65535 are clipped first. Transparency is dropped: the
    colours are kept as stored, not blended onto a background. Palette images
    go through RGBA, CMYK and the others through Pillow's own conversion.
    """
    import numpy as np
    from PIL import Image

    if image.mode == "I" or image.mode.startswith("I;16"):
        values = np.asarray(image).astype(np.int64)
        image = Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8))
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    elif image.mode == "F":
        image = image.convert("L")
    return image.convert(mode)


def _tolerate_file_names(stream):
    """Let ``stream`` print any file name: exact bytes in UTF-8, else escaped.

    File names that are not valid UTF-8 are decoded by Python with lone
    surrogates (PEP 383); ``surrogateescape`` writes back their original
    bytes, as ``ls`` and ``find`` do, and other encodings get ``\\x..``
    escapes instead of an error.
    """
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    errors = "surrogateescape" if encoding in ("utf8", "utf_8") else "backslashreplace"
    with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
        stream.reconfigure(errors=errors)


# -- result tables -------------------------------------------------------------


class _TextTable:
    """Aligned columns (within each batch): file, label, its probability."""

    def __init__(self, stream, class_names):
        self.stream = stream
        self.class_names = class_names

    def write(self, paths, proba):
        files = [str(path) for path in paths]
        width = max(len(file) for file in files)
        for file, row in zip(files, proba, strict=True):
            best = int(row.argmax())
            label = self.class_names[best]
            self.stream.write(f"{file:<{width}}  {label:<7}  {row[best]:.4f}\n")
        self.stream.flush()

    def close(self):
        pass


class _CsvTable:
    """A header, then one row a picture: file, label, each class's probability.

    Probabilities are written in full (``repr``), so they read back exactly.
    """

    def __init__(self, stream, class_names):
        import csv

        self.stream = stream
        self.class_names = class_names
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(
            ["file", "label", *(f"probability_{name}" for name in class_names)]
        )

    def write(self, paths, proba):
        for path, row in zip(paths, proba, strict=True):
            label = self.class_names[int(row.argmax())]
            self.writer.writerow([str(path), label, *(repr(float(p)) for p in row)])
        self.stream.flush()

    def close(self):
        self.stream.flush()


class _JsonTable:
    """A JSON list of ``{"file", "label", "probabilities": {class: p}}``.

    Written object by object as batches come; file names that are not valid
    UTF-8 appear as ``\\udcXX`` escapes (``os.fsencode`` gives the bytes back).
    """

    def __init__(self, stream, class_names):
        self.stream = stream
        self.class_names = class_names
        self.separator = "\n  "
        stream.write("[")

    def write(self, paths, proba):
        import json

        for path, row in zip(paths, proba, strict=True):
            record = {
                "file": str(path),
                "label": self.class_names[int(row.argmax())],
                "probabilities": dict(
                    zip(self.class_names, map(float, row), strict=True)
                ),
            }
            self.stream.write(self.separator + json.dumps(record))
            self.separator = ",\n  "
        self.stream.flush()

    def close(self):
        self.stream.write("]\n" if self.separator == "\n  " else "\n]\n")
        self.stream.flush()


_TABLES = {"text": _TextTable, "csv": _CsvTable, "json": _JsonTable}


# -- figures -------------------------------------------------------------------
#
# matplotlib takes 0.3 to 0.5 s to import and 0.1 to 0.2 s to draw and save the
# plot, on top of scikit-learn's start-up. ``train`` and ``sweep`` hand the
# plot to a second Python process (``_PlotProcess``), started before the data
# is read: it imports matplotlib on the other core while this process imports
# scikit-learn and trains, and draws while this one writes the model file. This
# process never imports matplotlib (unless no second process can be started).

_PLOT_DPI = 100
# The second process: the parent's module search path, then ``_plot_worker``.
_WORKER_CODE = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from sklearn_catneuron.cli import _plot_worker; sys.exit(_plot_worker())"
)
# At most this many bytes of the worker's stderr are read for an error line.
_MAX_WORKER_ERROR = 64 * 1024


def _figure():
    """A matplotlib Figure detached from pyplot (no GUI backend needed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    figure.add_subplot()
    return figure


def _train_figure(
    loss_curve, validation_loss_curve, *, best_iteration, learning_rate, n_test
):
    """``train``'s plot: the training and test costs before each step.

    The test images are the neuron's validation set: ``CostCurveDisplay``
    draws their curve dashed and marks its lowest point (in orange here).
    The arguments are the neuron's ``loss_curve_``, ``validation_loss_curve_``
    and ``best_iteration_`` (as ``CostCurveDisplay.from_estimator`` takes
    them), so that the figure can be drawn in another process.
    """
    from sklearn_catneuron._plotting import CostCurveDisplay

    figure = _figure()
    ax = figure.gca()
    display = CostCurveDisplay(
        loss_curve=loss_curve,
        validation_loss_curve=validation_loss_curve,
        best_iteration=best_iteration,
    ).plot(ax=ax)
    # In the first steps the test cost swings widely: a colour of its own
    # keeps the training curve visible there.
    display.validation_line_.set_color("tab:orange")
    if display.best_marker_ is not None:  # None: lowest after the last step
        display.best_marker_.set_color("tab:orange")
    ax.legend(loc="upper right")
    ax.set_title(
        f"learning rate {learning_rate:g}; validation: the {n_test} test images"
    )
    return figure


def _sweep_figure(*loss_curves, learning_rates):
    """``sweep``'s plot: the training cost curve of each learning rate."""
    from sklearn_catneuron._plotting import CostCurveDisplay

    figure = _figure()
    ax = figure.gca()
    for loss_curve, rate in zip(loss_curves, learning_rates, strict=True):
        CostCurveDisplay(loss_curve=loss_curve, name=f"learning rate {rate:g}").plot(
            ax=ax
        )
    return figure


# Figure name -> the function that draws it from arrays and plain parameters.
_FIGURES = {"train": _train_figure, "sweep": _sweep_figure}


def _save_figure(figure, f, plot_format):
    """Write ``figure`` (a Figure, or a ``_RemoteFigure``) to the binary file ``f``."""
    if isinstance(figure, _RemoteFigure):  # drawn in the format it was sent
        figure.copy_to(f)
    else:
        figure.savefig(f, format=plot_format, dpi=_PLOT_DPI)


class _PlotProcess:
    """A second Python process that imports matplotlib now, to draw one figure later.

    ``with _PlotProcess(plot_format) as plots:`` starts ``_plot_worker`` in a
    new interpreter (the same executable and module search path), which
    imports matplotlib while this process goes on. ``plots.figure(kind,
    arrays, **params)`` sends it the arrays, so it draws
    ``_FIGURES[kind](*arrays, **params)`` while this process goes on again;
    ``_save_figure`` on the result copies the file the worker wrote, byte for
    byte what ``savefig`` writes here. The worker is ended on leaving the
    block, whatever happened (an error, Control-c, SIGTERM); if this process
    is killed, the worker finds its input closed and exits. When this process
    may run on one CPU only (nothing to gain) or no process can be started,
    ``figure`` draws here instead: the same function, the same file.
    """

    def __init__(self, plot_format):
        self.plot_format = plot_format
        self.process = None
        self.errors = None

    def __enter__(self):
        import json
        import subprocess

        if getattr(sys, "frozen", False):  # sys.executable runs no "-c"
            return self
        if _usable_cpus() < 2:  # the two processes would take turns: no gain
            return self
        try:
            self.errors = tempfile.TemporaryFile()
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, json.dumps(sys.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
            )
        except (OSError, ValueError):  # no interpreter to start: draw here
            self.process = None
        return self

    def __exit__(self, *exc_info):
        process = self.process
        if process is not None:
            if process.poll() is None:
                process.kill()
            for stream in (process.stdin, process.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            process.wait()
        if self.errors is not None:
            self.errors.close()
        return False

    def figure(self, kind, arrays, **params):
        """Have ``_FIGURES[kind](*arrays, **params)`` drawn; see the class.

        Returns a matplotlib Figure if there is no worker, else a
        ``_RemoteFigure``. A worker draws one figure only.
        """
        if self.process is None:
            return _FIGURES[kind](*arrays, **params)
        import json

        import numpy as np

        request = {
            "kind": kind,
            "params": params,
            "format": self.plot_format,
            "n_arrays": len(arrays),
        }
        payload = io.BytesIO()
        payload.write(json.dumps(request).encode("ascii") + b"\n")
        for array in arrays:
            np.lib.format.write_array(
                payload, np.asarray(array, dtype=np.float64), allow_pickle=False
            )
        try:
            self.process.stdin.write(payload.getbuffer())
            self.process.stdin.close()
        except BrokenPipeError:  # the worker has ended; its status says why
            pass
        return _RemoteFigure(self)

    def error_line(self):
        """The last line the worker wrote on stderr, or how it ended."""
        self.errors.seek(0, os.SEEK_END)
        self.errors.seek(max(0, self.errors.tell() - _MAX_WORKER_ERROR))
        lines = self.errors.read().decode("utf-8", "replace").splitlines()
        lines = [line.strip() for line in lines if line.strip()]
        if lines:
            return lines[-1]
        status = self.process.returncode
        if status is not None and status < 0:
            return f"the drawing process was killed by signal {-status}"
        return f"the drawing process ended with status {status}"


def _usable_cpus():
    """How many CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _RemoteFigure:
    """A figure that ``_plot_worker`` is drawing: see ``_PlotProcess``."""

    def __init__(self, plots):
        self.plots = plots

    def copy_to(self, f):
        """Copy the plot file the worker writes into the binary file ``f``."""
        import shutil

        process = self.plots.process
        shutil.copyfileobj(process.stdout, f)
        if process.wait() != 0:
            raise CommandError(f"could not draw the plot ({self.plots.error_line()})")


def _plot_worker():
    """The second process of ``_PlotProcess``: import matplotlib, then draw.

    Reads one request on stdin, as ``_RemoteFigure`` writes it (a JSON line,
    then the arrays in ``.npy`` format), draws ``_FIGURES[kind]`` and writes
    the plot file's bytes on stdout. An error is one line on stderr and exit
    status 1; an empty input (the parent needed no plot) ends it at once.

    Returns
    -------
    status : int
        The exit status.
    """
    import json

    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # only the plot's bytes go to stdout
    warnings.simplefilter("ignore")  # the file or the error line tells
    try:
        # The slow imports first: the parent is busy meanwhile.
        import matplotlib.backends.backend_agg  # noqa: F401
        import numpy as np
        from matplotlib.figure import Figure  # noqa: F401

        import sklearn_catneuron._plotting  # noqa: F401

        data = io.BytesIO(sys.stdin.buffer.read())
        line = data.readline()
        if not line:
            return 0
        request = json.loads(line)
        arrays = [
            np.lib.format.read_array(data, allow_pickle=False)
            for _ in range(request["n_arrays"])
        ]
        figure = _FIGURES[request["kind"]](*arrays, **request["params"])
        image = io.BytesIO()
        _save_figure(figure, image, request["format"])
    except Exception as exc:  # one line for the parent's error message
        message = " ".join(str(exc).split())
        print(f"{type(exc).__name__}: {message}", file=sys.stderr, flush=True)
        return 1
    out.write(image.getbuffer())
    out.flush()
    return 0
