"""The ``catneuron`` command line: train the neuron, classify photos, compare rates.

``catneuron train`` runs the reference experiment end to end (fetch the data,
flatten and scale, train, report, plot the cost); ``catneuron predict``
classifies your own pictures with the saved model; ``catneuron sweep`` compares
learning rates. Run ``catneuron COMMAND --help`` for the options, or
``python -m sklearn_catneuron``.

Needs the ``cli`` extra: ``pip install "sklearn-catneuron[cli]"``.
"""

import argparse
import importlib
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from sklearn_catneuron import __version__

__all__ = ["build_parser", "main"]

DEFAULT_MODEL = "catneuron-model.cnm"
DEFAULT_PLOT = "cost.png"
DEFAULT_SWEEP_PLOT = "sweep.png"
DEFAULT_LEARNING_RATES = (0.01, 0.001, 0.0001)

# Steps per chunk of training: the progress bar moves once per chunk.
_CHUNK_STEPS = 100
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PIP_NAMES = {"PIL": "Pillow"}


class CommandError(Exception):
    """A problem the user can fix: printed on one line, exit status 2."""


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
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
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
            "images, print train and test accuracy, final cost, steps and time, "
            "save the fitted pipeline (a model file, see 'catneuron predict') "
            "and the cost curve (PNG). "
            "The defaults reproduce the reference result: 207/209 train, 35/50 "
            "test."
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
        type=_positive_int,
        default=2000,
        metavar="N",
        help="number of gradient-descent steps (default: %(default)s)",
    )
    train.add_argument(
        "--model",
        type=Path,
        default=Path(DEFAULT_MODEL),
        metavar="FILE",
        help="where to save the fitted pipeline (default: %(default)s)",
    )
    train.add_argument(
        "--plot",
        type=Path,
        default=Path(DEFAULT_PLOT),
        metavar="FILE",
        help="where to save the cost curve, a PNG (default: %(default)s)",
    )
    _add_force_quiet(train)
    train.set_defaults(func=_train)

    predict = commands.add_parser(
        "predict",
        help="classify your own PNG / JPEG pictures with a saved model",
        description=(
            "Read PNG or JPEG pictures of any size, convert them to RGB, resize "
            "them to the model's image shape and print one line per picture: "
            "file, cat or non-cat, and the probability the model gives that "
            "label. A folder stands for every .png, .jpg and .jpeg file in it."
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
            "Train one model per learning rate, print a table of the final "
            "cost and the train and test accuracy, and draw all cost curves "
            "on one figure."
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
        type=_positive_int,
        default=1500,
        metavar="N",
        help="number of gradient-descent steps per model (default: %(default)s)",
    )
    sweep.add_argument(
        "--plot",
        type=Path,
        default=Path(DEFAULT_SWEEP_PLOT),
        metavar="FILE",
        help="where to save the cost curves, a PNG (default: %(default)s)",
    )
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
        0 on success; 2 on a usage error or any problem the user can fix
        (missing data, bad image, bad model file, existing output), after one
        line on stderr; 130 when interrupted.

    See Also
    --------
    build_parser : The parser, with every option.

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
    try:
        return args.func(args)
    except (CommandError, OSError, ImportError) as exc:
        message = " ".join(str(exc).split())
        print(f"catneuron {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"catneuron {args.command}: interrupted", file=sys.stderr)
        return 130


# -- the commands ------------------------------------------------------------


def _train(args):
    _require(args.command, "matplotlib", "tqdm")
    _check_outputs([args.model, args.plot], force=args.force)
    data_home, (X_train, y_train), (X_test, y_test) = _load_data(args.data_home)

    start = time.perf_counter()
    model = _fit_with_progress(
        X_train,
        y_train,
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        show_progress=_show_progress(args),
        desc="training",
    )
    seconds = time.perf_counter() - start
    neuron = model[-1]
    n_train = int(np.sum(model.predict(X_train) == y_train))
    n_test = int(np.sum(model.predict(X_test) == y_test))

    _atomic_write(args.model, lambda f: _dump_model(model, f), force=args.force)
    figure = _figure()
    from sklearn_catneuron._plotting import CostCurveDisplay

    CostCurveDisplay.from_estimator(
        model, ax=figure.gca(), name=f"learning rate {args.learning_rate:g}"
    )
    _atomic_write(args.plot, lambda f: _save_png(figure, f), force=args.force)

    height, width, channels = X_train.shape[1:]
    print(
        f"Trained ImageFlattener + SigmoidNeuronClassifier on {len(y_train)} "
        f"images of {height}x{width}x{channels} from {data_home}"
    )
    print(_report_line("train accuracy", _accuracy(n_train, len(y_train))))
    print(_report_line("test accuracy", _accuracy(n_test, len(y_test))))
    print(_report_line("final cost", f"{neuron.loss_curve_[-1]:.6f}"))
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
    _require(args.command, "PIL")
    model = _load_model(args.model)
    image_shape = model[0].image_shape_
    paths = _image_paths(args.images)
    images = np.stack([_read_image(path, image_shape) for path in paths])
    try:
        proba = model.predict_proba(images)
    except (ValueError, TypeError, AttributeError) as exc:  # a tampered file
        raise CommandError(
            f"the model in {args.model} cannot classify pictures ({exc}); it is "
            "damaged: train a new one with 'catneuron train'"
        ) from exc
    classes = model.classes_
    names = (
        ["non-cat", "cat"] if np.array_equal(classes, [0, 1]) else classes.astype(str)
    )
    best = proba.argmax(axis=1)
    width = max(len(str(path)) for path in paths)
    for path, index, row in zip(paths, best, proba, strict=True):
        print(f"{str(path):<{width}}  {names[index]:<7}  {row[index]:.4f}")
    return 0


def _sweep(args):
    _require(args.command, "matplotlib", "tqdm")
    _check_outputs([args.plot], force=args.force)
    _, (X_train, y_train), (X_test, y_test) = _load_data(args.data_home)
    from sklearn_catneuron._plotting import CostCurveDisplay

    figure = _figure()
    ax = figure.gca()
    rows = []
    for learning_rate in args.learning_rates:
        model = _fit_with_progress(
            X_train,
            y_train,
            learning_rate=learning_rate,
            max_iter=args.max_iter,
            show_progress=_show_progress(args),
            desc=f"learning rate {learning_rate:g}",
        )
        CostCurveDisplay.from_estimator(
            model, ax=ax, name=f"learning rate {learning_rate:g}"
        )
        rows.append(
            (
                learning_rate,
                model[-1].loss_curve_[-1],
                model.score(X_train, y_train),
                model.score(X_test, y_test),
            )
        )
    _atomic_write(args.plot, lambda f: _save_png(figure, f), force=args.force)

    print(f"{args.max_iter} gradient-descent steps per learning rate")
    print(
        f"{'learning rate':>13}  {'final cost':>10}  {'train acc':>9}  {'test acc':>8}"
    )
    for learning_rate, cost, train_acc, test_acc in rows:
        print(
            f"{learning_rate:>13g}  {cost:>10.6f}  {train_acc:>9.4f}  {test_acc:>8.4f}"
        )
    print(f"cost curves: {args.plot}")
    return 0


# -- training ----------------------------------------------------------------


def _fit_with_progress(X, y, *, learning_rate, max_iter, show_progress, desc):
    """Fit ImageFlattener + SigmoidNeuronClassifier, showing a progress bar.

    With a progress bar the neuron is trained ``_CHUNK_STEPS`` steps at a time
    with ``warm_start=True``; without one, in one go (each chunk repeats the
    fit's set-up, such as the Gram matrix). Gradient descent carries nothing
    between steps but the weights and the bias, so the iterates, and the
    concatenated cost curve, are those of one ``max_iter``-step fit (to
    rounding); the returned pipeline looks
    like one (``max_iter=max_iter``, ``warm_start=False``, ``n_iter_``,
    ``loss_curve_`` of all steps).
    """
    from sklearn.pipeline import make_pipeline
    from tqdm import tqdm

    from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier

    flattener = ImageFlattener()
    X_flat = flattener.fit_transform(X)
    neuron = SigmoidNeuronClassifier(learning_rate=learning_rate, warm_start=True)
    chunk_steps = _CHUNK_STEPS if show_progress else max_iter
    curves, done = [], 0
    with tqdm(
        total=max_iter,
        desc=desc,
        unit="step",
        file=sys.stderr,
        disable=not show_progress,
    ) as bar:
        while done < max_iter:
            steps = min(chunk_steps, max_iter - done)
            try:
                neuron.set_params(max_iter=steps).fit(X_flat, y)
            except ValueError as exc:
                raise CommandError(
                    f"training diverged after about {done} steps with learning "
                    f"rate {learning_rate:g}; use a smaller --learning-rate ({exc})"
                ) from exc
            curves.append(neuron.loss_curve_)
            done += steps
            bar.update(steps)
    neuron.set_params(max_iter=max_iter, warm_start=False)
    neuron.loss_curve_ = np.concatenate(curves)
    neuron.n_iter_ = done
    return make_pipeline(flattener, neuron)


def _show_progress(args):
    return not args.quiet and sys.stderr.isatty()


def _load_data(data_home):
    """The training and test images and labels, and the folder they came from."""
    from sklearn_catneuron.datasets import fetch_catvnoncat, get_data_home

    try:
        data_home = get_data_home(data_home)
        train = fetch_catvnoncat(subset="train", data_home=data_home, return_X_y=True)
        test = fetch_catvnoncat(subset="test", data_home=data_home, return_X_y=True)
    except ValueError as exc:  # e.g. a $CATNEURON_DATA_URL that is not a URL
        raise CommandError(str(exc)) from exc
    return data_home, train, test


def _accuracy(n_correct, n_total):
    return f"{n_correct / n_total:.4f} ({n_correct} of {n_total} images)"


def _report_line(label, value):
    return f"{label + ':':<16}{value}"


# -- files -------------------------------------------------------------------


def _require(command, *modules):
    """Import the optional packages a command needs, or say how to get them."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            package = _PIP_NAMES.get(module, module)
            raise CommandError(
                f"catneuron {command} needs {package}, which is not installed; "
                "install it with: pip install 'sklearn-catneuron[cli]'"
            ) from exc


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
    fails if a file of that name appeared meanwhile. On any failure the
    temporary file is removed and ``path`` is left as it was.
    """
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
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        if force:
            os.replace(tmp_name, path)
        else:
            _link_new(tmp_name, path)
    except OSError as exc:
        kept = "the existing file is unchanged" if path.exists() else "nothing written"
        raise CommandError(f"could not write {path} ({_reason(exc)}); {kept}") from exc
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _link_new(tmp_name, path):
    """Give ``tmp_name`` the name ``path``, never replacing an existing file."""
    exists = CommandError(
        f"{path} already exists; pass --force to replace it, or choose another "
        "file name"
    )
    try:
        os.link(tmp_name, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise exists from None
    except (OSError, AttributeError):  # no hard links on this file system or OS
        if path.exists():
            raise exists from None
        os.replace(tmp_name, path)


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


def _image_paths(items):
    """The picture files named on the command line, folders expanded."""
    paths = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            found = sorted(
                child
                for child in item.iterdir()
                if child.is_file() and child.suffix.lower() in _IMAGE_SUFFIXES
            )
            if not found:
                raise CommandError(
                    f"the folder {item} holds no .png, .jpg or .jpeg pictures"
                )
            paths.extend(found)
        elif item.is_file():
            paths.append(item)
        elif item.exists():
            raise CommandError(
                f"{item} is neither a file nor a folder; give picture files or folders"
            )
        else:
            raise CommandError(f"{item} does not exist; give picture files or folders")
    return paths


def _read_image(path, image_shape):
    """A PNG or JPEG file as a uint8 array of ``image_shape``."""
    from PIL import Image, ImageOps

    height, width = image_shape[:2]
    mode = "RGB" if len(image_shape) == 3 and image_shape[2] == 3 else "L"
    try:
        with warnings.catch_warnings():
            # Over Image.MAX_IMAGE_PIXELS Pillow only warns, then decodes it all.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=("PNG", "JPEG")) as image:
                image = ImageOps.exif_transpose(image).convert(mode)
                image = image.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CommandError(
            f"refusing to read the picture {path}: {exc} Give a picture of at "
            f"most {Image.MAX_IMAGE_PIXELS} pixels"
        ) from exc
    except (OSError, ValueError) as exc:
        raise CommandError(
            f"cannot read the picture {path} ({exc}); give PNG or JPEG files"
        ) from exc
    return pixels.reshape(image_shape)


def _figure():
    """A matplotlib Figure detached from pyplot (no GUI backend needed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    figure.add_subplot()
    return figure


def _save_png(figure, f):
    figure.savefig(f, format="png", dpi=100)
