"""Model files: a fitted pipeline as JSON plus ``.npy`` arrays in one zip.

A model file holds ``Pipeline([ImageFlattener, SigmoidNeuronClassifier])``, the
pipeline that ``catneuron train`` fits, and nothing else. It is a zip archive
of five stored (uncompressed) members:

``model.json``
    The format name and version, the class name, step name, parameters and
    scalar fitted attributes of each step, and the dtype and shape of each
    array.
``classes.npy``, ``coef.npy``, ``intercept.npy``, ``loss_curve.npy``
    The neuron's ``classes_``, ``coef_``, ``intercept_`` and ``loss_curve_``,
    in NumPy's ``.npy`` format (version 1.0, little-endian, C order).

Nothing in the file names a function or an importable object, so loading one
cannot run code: the loader knows the two classes it may build, reads the
arrays with ``numpy.load(..., allow_pickle=False)``, and checks every field
(types, ranges, shapes, dtypes, finiteness, sizes) before it allocates or
computes anything with it. See :ref:`model-files` in the user guide.
"""

import io
import json
import math
import os
import re
import stat
import struct
import tempfile
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np

from sklearn_catneuron._atomic import publish

__all__ = ["ModelFileError", "load_model", "save_model"]

FORMAT_NAME = "sklearn-catneuron model"
FORMAT_VERSION = 1

# Bounds: each image side, the number of pixel values, the cost curve.
MAX_IMAGE_SIDE = 4096
MAX_FEATURES = 2**24
MAX_LOSS_CURVE = 2**24
MAX_JSON_BYTES = 64 * 1024
MAX_LABEL_CHARS = 256
_NPY_HEADER_BYTES = 4096  # np.save pads the header to 64 bytes; 4 KB is plenty
MAX_FILE_BYTES = (
    MAX_JSON_BYTES
    + 8 * (MAX_FEATURES + MAX_LOSS_CURVE + 1)
    + 4 * MAX_LABEL_CHARS * 2
    + 16 * _NPY_HEADER_BYTES
)
# Zip directories of files we may look into (ours, or an old skops file).
_MAX_LISTED_MEMBERS = 1024
_MAX_DIRECTORY_BYTES = 1024 * 1024

_JSON_MEMBER = "model.json"
_ARRAYS = {  # attribute of the neuron: member
    "classes_": "classes.npy",
    "coef_": "coef.npy",
    "intercept_": "intercept.npy",
    "loss_curve_": "loss_curve.npy",
}
_MEMBERS = frozenset({_JSON_MEMBER, *_ARRAYS.values()})
_FLOAT_DTYPES = frozenset({"<f4", "<f8"})
_LABEL_DTYPES = frozenset(
    {"|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f4", "<f8"}
)
_STEP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


class ModelFileError(ValueError):
    """A file that is not a model file this version of sklearn-catneuron loads.

    Raised by :func:`load_model` for a missing, unreadable or non-regular file,
    a file in another format (pickle, joblib, an older skops model file), and a
    model file that is damaged or was altered. The message names the file,
    what is wrong with it and what to do. A subclass of ``ValueError``.

    See Also
    --------
    load_model : Read a model file.

    Examples
    --------
    >>> from sklearn_catneuron import ModelFileError, load_model
    >>> try:
    ...     load_model("no-such-model.cnm")
    ... except ModelFileError as exc:
    ...     print(exc)
    model file no-such-model.cnm not found; write one with 'catneuron train \
--model no-such-model.cnm'
    """


# -- writing -----------------------------------------------------------------


def save_model(pipeline, path, *, force=False):
    """Save a fitted ImageFlattener + SigmoidNeuronClassifier pipeline.

    Writes the model file that :func:`load_model` and ``catneuron predict``
    read: a zip of a JSON document (the steps' classes, parameters and image
    shape) and the neuron's arrays as ``.npy`` files, which no reader can
    mistake for code. Arrays of other libraries (for instance fitted with
    the array API on PyTorch tensors) are converted to NumPy first. The file
    is written atomically: to a temporary file in the same folder, flushed
    to the disk, then renamed, so ``path`` is never a half-written file.

    Parameters
    ----------
    pipeline : Pipeline or NeuronPipeline
        A fitted ``Pipeline`` (or :class:`~sklearn_catneuron.NeuronPipeline`)
        of exactly two steps, an
        :class:`~sklearn_catneuron.ImageFlattener` fitted on images
        ``(height, width[, channels])`` with 1 or 3 channels, then a binary
        :class:`~sklearn_catneuron.SigmoidNeuronClassifier` (as
        ``catneuron train`` fits). Its parameters must be plain values
        (``random_state`` an int or None).

    path : str, os.PathLike or binary file object
        Where to write. A file object is written to as it is (not atomically:
        that is up to the caller).

    force : bool, default=False
        Replace ``path`` if it exists. Without it an existing file is never
        replaced, not even one created while this function runs.

    Returns
    -------
    path : pathlib.Path or file object
        ``path``, as a ``Path`` when it was a name.

    Raises
    ------
    TypeError
        If ``pipeline`` is not such a pipeline (another estimator, other
        steps, a subclass).
    sklearn.exceptions.NotFittedError
        If a step is not fitted.
    ValueError
        If the pipeline cannot be saved: images of another shape, more than
        two classes, non-finite weights, a parameter that is not a plain
        value, sizes over the format's bounds.
    FileExistsError
        If ``path`` exists and ``force`` is False.
    OSError
        If the file cannot be written; then nothing is left behind and an
        existing file is unchanged.

    See Also
    --------
    load_model : Read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_catneuron import (
    ...     ImageFlattener, SigmoidNeuronClassifier, load_model, save_model)
    >>> images = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 3))
    >>> labels = images.mean(axis=(1, 2, 3)) > 127
    >>> model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
    >>> model = model.fit(images, labels)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.cnm")
    >>> save_model(model, path).name
    'model.cnm'
    >>> loaded = load_model(path)
    >>> bool(np.array_equal(loaded.predict_proba(images), model.predict_proba(images)))
    True
    >>> save_model(model, path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    FileExistsError: ... already exists; pass force=True to replace it
    """
    data = _model_bytes(pipeline)
    if hasattr(path, "write"):
        path.write(data)
        return path
    path = Path(path)
    _write_atomically(path, data, force=force)
    return path


def _model_bytes(pipeline):
    """The bytes of the model file of ``pipeline``, checked by the loader."""
    flattener, neuron = _check_pipeline(pipeline)
    arrays = {}
    for name in _ARRAYS:
        array = _to_numpy(getattr(neuron, name), name)
        if (
            array.dtype.kind not in "iubfU"
            or array.dtype.itemsize > 4 * MAX_LABEL_CHARS
        ):
            raise ValueError(
                f"The pipeline's {name} has dtype {array.dtype}, which a model "
                "file cannot hold; use integer, boolean, float or string labels "
                "and float32 or float64 weights."
            )
        arrays[name] = array.astype(array.dtype.newbyteorder("<"), copy=False)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "written_by": _versions(),
        "steps": [
            {
                "name": pipeline.steps[0][0],
                "class": "ImageFlattener",
                "params": _plain_params(flattener),
                "image_shape_": [_plain_int(s) for s in flattener.image_shape_],
                "n_features_in_": _plain_int(flattener.n_features_in_),
            },
            {
                "name": pipeline.steps[1][0],
                "class": "SigmoidNeuronClassifier",
                "params": _plain_params(neuron),
                "n_features_in_": _plain_int(neuron.n_features_in_),
                "n_iter_": _plain_int(neuron.n_iter_),
            },
        ],
        "arrays": {
            name: {"dtype": array.dtype.str, "shape": list(array.shape)}
            for name, array in arrays.items()
        },
    }
    members = {_JSON_MEMBER: json.dumps(document, indent=1).encode() + b"\n"}
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(
            buffer, np.ascontiguousarray(array), version=(1, 0), allow_pickle=False
        )
        members[_ARRAYS[name]] = buffer.getvalue()
    data = _zip(members)
    try:  # whatever is written must load: the reader's checks decide
        _build(_zip_members(data))
    except _Damaged as exc:
        raise ValueError(
            f"The pipeline cannot be saved in a model file: {exc}."
        ) from None
    return data


def _check_pipeline(pipeline):
    """The two fitted steps of a pipeline as ``catneuron train`` fits it."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    from sklearn_catneuron._neuron import SigmoidNeuronClassifier
    from sklearn_catneuron._pipeline import NeuronPipeline
    from sklearn_catneuron._preprocessing import ImageFlattener

    kinds = (ImageFlattener, SigmoidNeuronClassifier)
    containers = (Pipeline, NeuronPipeline)  # the same steps, faster predictions
    if not (
        type(pipeline) in containers
        and len(pipeline.steps) == 2
        and all(
            type(step) is kind
            for (_, step), kind in zip(pipeline.steps, kinds, strict=True)
        )
    ):
        if type(pipeline) in containers:
            what = f"a {type(pipeline).__name__} of " + ", ".join(
                type(step).__name__ for _, step in pipeline.steps
            )
        else:
            what = f"a {type(pipeline).__name__}"
        raise TypeError(
            f"save_model saves a Pipeline of exactly an ImageFlattener then a "
            f"SigmoidNeuronClassifier, got {what}; build it with "
            "make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())."
        )
    flattener, neuron = (step for _, step in pipeline.steps)
    check_is_fitted(flattener)
    check_is_fitted(neuron)
    return flattener, neuron


def _to_numpy(value, name):
    """``value`` as a NumPy array: NumPy, array API (e.g. torch) or DLPack."""
    if isinstance(value, np.ndarray):
        return value
    errors = []
    for convert in (np.asarray, np.from_dlpack, _via_cpu):
        try:
            array = np.asarray(convert(value))
        except Exception as exc:  # each library fails its own way
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        if array.dtype != object:
            return array
    raise ValueError(
        f"The pipeline's {name} ({type(value).__name__}) cannot be converted to "
        f"a NumPy array ({'; '.join(errors) or 'object dtype'}); move it to "
        "NumPy first."
    )


def _via_cpu(value):
    """Arrays on an accelerator: copied to the host first (torch, CuPy)."""
    if hasattr(value, "cpu"):
        return np.from_dlpack(value.cpu())
    return value.get()


def _plain_int(value):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _plain_params(estimator):
    """``estimator.get_params()`` as JSON values (dicts as pairs)."""
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, dict):
            params[key] = {
                "pairs": [
                    [_plain_value(k, key), _plain_value(v, key)]
                    for k, v in value.items()
                ]
            }
        else:
            params[key] = _plain_value(value, key)
    return params


def _plain_value(value, key):
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"The parameter {key}={value!r} cannot be saved in a model file, which "
        "holds only None, booleans, numbers and strings; set it to one (for "
        "random_state an int or None)."
    )


def _versions():
    import sklearn

    from sklearn_catneuron import __version__

    return {
        "sklearn-catneuron": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _zip(members):
    """A zip of stored members, with fixed dates: the same model, the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _write_atomically(path, data, *, force):
    """Write ``data`` to a temporary file beside ``path``, sync it, rename it."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass force=True to replace it")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            publish(tmp_name, path, force=force)
        except FileExistsError:
            raise FileExistsError(
                f"{path} already exists; pass force=True to replace it"
            ) from None
    finally:
        Path(tmp_name).unlink(missing_ok=True)


# -- reading -----------------------------------------------------------------


def load_model(path):
    """Load a model file written by ``catneuron train`` or :func:`save_model`.

    Loading cannot run code: the file holds a JSON document and ``.npy``
    arrays, never pickles, and only an ``ImageFlattener`` followed by a
    ``SigmoidNeuronClassifier`` can come out of it. Every field is checked
    before it is used: the zip's members (exactly five, stored, their sizes
    within the bounds the JSON implies), each parameter (through the
    estimators' own parameter validation), ``image_shape_`` (two or three
    positive ints, each side at most 4096, at most 2**24 pixel values,
    channels 1 or 3), and each array's dtype, shape and finiteness. The file
    is opened once, without following it into a FIFO or a device, and its
    bytes are read once.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    pipeline : NeuronPipeline
        The fitted ``NeuronPipeline(ImageFlattener, SigmoidNeuronClassifier)``:
        a scikit-learn ``Pipeline`` whose predictions run in blocks of rows
        (see :class:`NeuronPipeline`).

    Raises
    ------
    ModelFileError
        If the file is missing, not a regular file (a folder, a FIFO, a
        device), unreadable, larger than a model file can be, not a model
        file (a pickle, a joblib file, an older skops model file, any other
        zip), written by a newer version of the format, or damaged or
        altered (any field of the wrong type, out of its range, inconsistent
        with the others, or arrays that do not match their description).

    See Also
    --------
    save_model : Write a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_catneuron import (
    ...     ImageFlattener, SigmoidNeuronClassifier, load_model, save_model)
    >>> images = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 3))
    >>> labels = np.where(images.mean(axis=(1, 2, 3)) > 127, "cat", "non-cat")
    >>> path = os.path.join(tempfile.mkdtemp(), "model.cnm")
    >>> fitted = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())
    >>> _ = save_model(fitted.fit(images, labels), path)
    >>> model = load_model(path)
    >>> [type(step).__name__ for step in model], model[0].image_shape_
    (['ImageFlattener', 'SigmoidNeuronClassifier'], (4, 4, 3))
    >>> model.classes_
    array(['cat', 'non-cat'], dtype='<U7')
    >>> with open(path, "r+b") as f:  # one byte of the cost curve changed
    ...     _ = f.seek(os.path.getsize(path) // 2)
    ...     _ = f.write(b"!")
    >>> load_model(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sklearn_catneuron._model_file.ModelFileError: ... is a damaged or altered \
model file (...); train a new one with 'catneuron train --model ...'
    """
    path = Path(path)
    data = _read_regular_file(path)
    return _read_model(data, str(path))


def _read_regular_file(path):
    """The bytes of ``path``: a regular file, opened once, read once."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO does not block the open
    except FileNotFoundError:
        raise ModelFileError(
            f"model file {path} not found; write one with "
            f"'catneuron train --model {path}'"
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        kind = _kind(path)
        if kind is not None:
            raise ModelFileError(_not_regular(path, kind)) from None
        raise ModelFileError(
            f"cannot read the model file {path} ({_reason(exc)}); check its "
            "permissions, or give a model file you can read"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(_not_regular(path, _kind_of_mode(info.st_mode)))
        if info.st_size > MAX_FILE_BYTES:
            raise ModelFileError(
                _not_a_model(
                    path,
                    f"it is {info.st_size} bytes, more than a model file can be "
                    f"({MAX_FILE_BYTES})",
                )
            )
        chunks, size = [], 0
        while size <= info.st_size:  # one byte more than expected: it grew
            try:
                chunk = os.read(fd, info.st_size + 1 - size)
            except OSError as exc:
                raise ModelFileError(
                    f"cannot read the model file {path} ({_reason(exc)}); give a "
                    "model file you can read"
                ) from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size != info.st_size:
        raise ModelFileError(
            f"the model file {path} changed while it was read ({size} bytes "
            f"read, {info.st_size} expected); read it again once it is written"
        )
    return b"".join(chunks)


def _kind(path):
    try:
        return _kind_of_mode(os.stat(path).st_mode)
    except (OSError, ValueError):
        return None


def _kind_of_mode(mode):
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, kind in kinds:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def _not_regular(path, kind):
    fix = "give the file" if kind == "a folder" else "give a regular file"
    return f"{path} is {kind}, not a model file; {fix} written by 'catneuron train'"


def _reason(exc):
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _not_a_model(where, detail):
    return (
        f"{where} is not a model file written by 'catneuron train' ({detail}); "
        f"train one with 'catneuron train --model {where}'"
    )


class _Damaged(Exception):
    """A check failed on a file that is in the model format: says which."""


def _read_model(data, where):
    """The pipeline in the bytes ``data`` of a model file named ``where``."""
    if not data:
        raise ModelFileError(_not_a_model(where, "it is empty"))
    if data.startswith(b"\x93NUMPY"):
        raise ModelFileError(_not_a_model(where, "it is a bare .npy array"))
    if not data.startswith(b"PK\x03\x04"):
        raise ModelFileError(
            _not_a_model(where, f"it is not a zip archive; it starts with {data[:8]!r}")
        )
    try:
        members = _zip_members(data)
    except _Damaged as exc:
        raise ModelFileError(_not_a_model(where, str(exc))) from None
    names = [info.filename for info in members.infolist()]
    if "schema.json" in names:
        raise ModelFileError(
            f"{where} was written by an older version of sklearn-catneuron in "
            "the skops format, which is no longer loaded because such files can "
            "run code; train the model again with 'catneuron train' (or save it "
            "with sklearn_catneuron.save_model)"
        )
    if _JSON_MEMBER not in names:
        shown = ", ".join(repr(name)[:40] for name in names[:5])
        raise ModelFileError(
            _not_a_model(where, f"a zip archive without {_JSON_MEMBER}: {shown}")
        )
    try:
        return _build(members)
    except _Damaged as exc:
        raise ModelFileError(
            f"{where} is a damaged or altered model file ({exc}); train a new one "
            f"with 'catneuron train --model {where}'"
        ) from None


def _zip_members(data):
    """A ZipFile over ``data`` once its directory is checked to be small."""
    eocd = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if eocd < 0 or len(data) - eocd < 22:
        raise _Damaged("no zip directory: truncated?")
    (_, disk, cd_disk, n_here, n_total, cd_size, cd_offset, comment) = struct.unpack(
        "<4s4H2LH", data[eocd : eocd + 22]
    )
    if eocd + 22 + comment != len(data):
        raise _Damaged("bytes after the zip directory")
    if disk or cd_disk or n_here != n_total:
        raise _Damaged("a zip archive split over several disks")
    if data[max(0, eocd - 20) : eocd].startswith(b"PK\x06\x07") or 0xFFFF == n_total:
        raise _Damaged("a zip64 archive")
    if n_total > _MAX_LISTED_MEMBERS or cd_size > _MAX_DIRECTORY_BYTES:
        raise _Damaged(f"a zip archive of {n_total} members, {cd_size} bytes of index")
    if cd_offset + cd_size != eocd:
        raise _Damaged("the zip directory is not where its end record says")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile's own parse errors, whatever their type
        raise _Damaged(f"{type(exc).__name__}: {exc}") from None
    if len(archive.infolist()) != n_total:
        raise _Damaged("the zip directory does not hold the members it counts")
    return archive


def _build(archive):
    """Check the members and the document, then build the pipeline."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        duplicated = sorted({repr(n)[:40] for n in names if names.count(n) > 1})
        raise _Damaged(f"members named twice: {', '.join(duplicated)}")
    if set(names) != _MEMBERS:
        extra = sorted(repr(n)[:40] for n in set(names) - _MEMBERS)
        missing = sorted(_MEMBERS - set(names))
        raise _Damaged(
            "members "
            + ", ".join(extra or ["none"])
            + " not expected, "
            + ", ".join(missing or ["none"])
            + " missing"
        )
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise _Damaged(f"{info.filename} is compressed or encrypted")
        if info.file_size != info.compress_size:
            raise _Damaged(
                f"{info.filename} declares {info.file_size} bytes stored in "
                f"{info.compress_size}"
            )
    infos = {info.filename: info for info in infos}

    document = _parse_json(_member(archive, infos[_JSON_MEMBER], MAX_JSON_BYTES))
    flattener_doc, neuron_doc, arrays_doc = _check_document(document)
    flattener = _estimator("ImageFlattener", flattener_doc)
    neuron = _estimator("SigmoidNeuronClassifier", neuron_doc)
    image_shape = _image_shape(flattener_doc["image_shape_"])
    n_features = math.prod(image_shape)
    for step in (flattener_doc, neuron_doc):
        n_in = _count(step["n_features_in_"], f"{step['class']}.n_features_in_")
        if n_in != n_features:
            raise _Damaged(
                f"{step['class']}.n_features_in_={n_in} does not match "
                f"image_shape_={image_shape} ({n_features} pixel values)"
            )
    n_iter = _count(neuron_doc["n_iter_"], "n_iter_")

    specs = _array_specs(arrays_doc, n_features)
    arrays = {}
    for name, (dtype, shape) in specs.items():
        info = infos[_ARRAYS[name]]
        arrays[name] = _npy(archive, info, dtype, shape, name)
    _check_arrays(arrays)

    from sklearn_catneuron._pipeline import NeuronPipeline

    flattener.image_shape_ = image_shape
    flattener.n_features_in_ = n_features
    for name, array in arrays.items():
        setattr(neuron, name, array)
    neuron.n_features_in_ = n_features
    neuron.n_iter_ = n_iter
    names = (flattener_doc["name"], neuron_doc["name"])
    return NeuronPipeline(list(zip(names, (flattener, neuron), strict=True)))


def _member(archive, info, limit):
    """The bytes of a member, reading at most ``limit`` bytes."""
    if info.file_size > limit:
        raise _Damaged(
            f"{info.filename} declares {info.file_size} bytes, more than the "
            f"{limit} it may have"
        )
    try:
        with archive.open(info) as f:
            data = f.read(limit + 1)  # a hard cap, and the CRC check at the end
    except Exception as exc:  # zipfile's own errors: bad CRC, header, offsets
        raise _Damaged(f"{info.filename}: {type(exc).__name__}: {exc}") from None
    if len(data) != info.file_size:
        raise _Damaged(f"{info.filename} holds {len(data)} bytes, not {info.file_size}")
    return data


def _parse_json(raw):
    def pairs(items):
        keys = [key for key, _ in items]
        if len(set(keys)) != len(keys):
            raise _Damaged("a key appears twice in an object of model.json")
        return dict(items)

    def constant(name):
        raise _Damaged(f"model.json holds {name}, which is not JSON")

    def number(text):
        value = float(text)
        if not math.isfinite(value):
            raise _Damaged(f"model.json holds the number {text[:20]}, out of range")
        return value

    def integer(text):
        if len(text) > 20:
            raise _Damaged(f"model.json holds an integer of {len(text)} digits")
        return int(text)

    try:
        text = raw.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=pairs,
            parse_constant=constant,
            parse_float=number,
            parse_int=integer,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _Damaged(f"model.json is not valid JSON: {exc}") from None


def _keys(obj, keys, where):
    """Check that ``obj`` is an object with exactly ``keys``."""
    if not isinstance(obj, dict):
        raise _Damaged(f"{where} is {_describe(obj)}, not an object")
    if set(obj) != set(keys):
        extra = sorted(repr(k)[:40] for k in set(obj) - set(keys))
        missing = sorted(set(keys) - set(obj))
        raise _Damaged(
            f"{where} has keys {', '.join(extra) or 'none'} not expected and "
            f"{', '.join(missing) or 'none'} missing"
        )
    return obj


def _describe(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_document(document):
    _keys(
        document,
        ("format", "format_version", "written_by", "steps", "arrays"),
        "model.json",
    )
    if document["format"] != FORMAT_NAME:
        raise _Damaged(
            f"format is {_describe(document['format'])}, not {FORMAT_NAME!r}"
        )
    version = document["format_version"]
    if type(version) is not int:
        raise _Damaged(f"format_version is {_describe(version)}, not an integer")
    if version != FORMAT_VERSION:
        raise _Damaged(
            f"format version {version}, this sklearn-catneuron reads version "
            f"{FORMAT_VERSION} only; use the version that wrote it"
        )
    written_by = document["written_by"]
    if not isinstance(written_by, dict) or not all(
        isinstance(v, str) and len(v) <= 64 for v in written_by.values()
    ):
        raise _Damaged("written_by is not an object of version strings")
    steps = document["steps"]
    if not isinstance(steps, list) or len(steps) != 2:
        raise _Damaged(
            f"steps is {_describe(steps)}, not a list of two steps: "
            "ImageFlattener then SigmoidNeuronClassifier"
        )
    layouts = (
        (
            "ImageFlattener",
            ("name", "class", "params", "image_shape_", "n_features_in_"),
        ),
        (
            "SigmoidNeuronClassifier",
            ("name", "class", "params", "n_features_in_", "n_iter_"),
        ),
    )
    for index, (step, (kind, keys)) in enumerate(zip(steps, layouts, strict=True)):
        if not isinstance(step, dict) or step.get("class") != kind:
            found = step.get("class") if isinstance(step, dict) else step
            raise _Damaged(
                f"step {index} is {_describe(found)}; a model holds only "
                "ImageFlattener then SigmoidNeuronClassifier"
            )
        _keys(step, keys, f"step {index} ({kind})")
        name = step["name"]
        if not (isinstance(name, str) and _STEP_NAME.fullmatch(name)) or "__" in name:
            raise _Damaged(f"step {index} has the name {_describe(name)}")
    if steps[0]["name"] == steps[1]["name"]:
        raise _Damaged("both steps have the same name")
    return steps[0], steps[1], document["arrays"]


def _estimator(kind, step):
    """A new estimator of ``kind`` with the step's parameters, validated."""
    from sklearn_catneuron._neuron import SigmoidNeuronClassifier
    from sklearn_catneuron._preprocessing import ImageFlattener

    cls = {
        "ImageFlattener": ImageFlattener,
        "SigmoidNeuronClassifier": SigmoidNeuronClassifier,
    }[kind]
    estimator = cls()
    params = step["params"]
    if not isinstance(params, dict):
        raise _Damaged(f"the parameters of {kind} are {_describe(params)}")
    defaults = estimator.get_params(deep=False)
    values = {}
    for key, value in params.items():
        if key not in defaults:
            raise _Damaged(f"{kind} has no parameter {_describe(key)}")
        if isinstance(value, dict):
            _keys(value, ("pairs",), f"{kind}.{key}")
            pairs = value["pairs"]
            if not (
                isinstance(pairs, list)
                and len(pairs) <= 16
                and all(
                    isinstance(p, list) and len(p) == 2 and all(_scalar(v) for v in p)
                    for p in pairs
                )
            ):
                raise _Damaged(f"{kind}.{key} is {_describe(value)}")
            value = dict((k, v) for k, v in pairs)
            if len(value) != len(pairs):
                raise _Damaged(f"{kind}.{key} names a key twice")
        elif not _scalar(value):
            raise _Damaged(f"{kind}.{key} is {_describe(value)}, not a plain value")
        elif isinstance(value, bool) and not isinstance(defaults[key], bool):
            raise _Damaged(f"{kind}.{key} is {value!r}, not a number or a string")
        elif isinstance(value, str) and len(value) > 64:
            raise _Damaged(f"{kind}.{key} is a string of {len(value)} characters")
        values[key] = value
    estimator.set_params(**values)
    try:
        estimator._validate_params()
    except (ValueError, TypeError) as exc:  # InvalidParameterError is both
        raise _Damaged(" ".join(str(exc).split())[:300]) from None
    return estimator


def _scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _count(value, name, limit=2**62):
    if type(value) is not int or not 0 <= value <= limit:
        raise _Damaged(f"{name} is {_describe(value)}, not a count")
    return value


def _image_shape(value):
    if (
        not isinstance(value, list)
        or len(value) not in (2, 3)
        or not all(type(side) is int for side in value)
    ):
        raise _Damaged(
            f"image_shape_ is {_describe(value)}, not a list of two or three "
            "integers (height, width[, channels])"
        )
    shape = tuple(value)
    if not all(1 <= side <= MAX_IMAGE_SIDE for side in shape[:2]):
        raise _Damaged(
            f"image_shape_ is {shape}: height and width must be 1 to "
            f"{MAX_IMAGE_SIDE} pixels"
        )
    if len(shape) == 3 and shape[2] not in (1, 3):
        raise _Damaged(f"image_shape_ is {shape}: 1 or 3 channels, not {shape[2]}")
    if math.prod(shape) > MAX_FEATURES:
        raise _Damaged(
            f"image_shape_ is {shape}: more than {MAX_FEATURES} pixel values"
        )
    return shape


def _array_specs(arrays_doc, n_features):
    """The dtype and shape of each array, as the document must declare them."""
    _keys(arrays_doc, tuple(_ARRAYS), "arrays")
    specs = {}
    for name in _ARRAYS:
        spec = _keys(arrays_doc[name], ("dtype", "shape"), f"arrays.{name}")
        dtype, shape = spec["dtype"], spec["shape"]
        if not isinstance(shape, list) or not all(
            type(n) is int and n >= 0 for n in shape
        ):
            raise _Damaged(f"arrays.{name}.shape is {_describe(shape)}")
        shape = tuple(shape)
        if not isinstance(dtype, str):
            raise _Damaged(f"arrays.{name}.dtype is {_describe(dtype)}, not a string")
        if name == "classes_":
            allowed = dtype in _LABEL_DTYPES or (
                re.fullmatch(r"<U[1-9][0-9]{0,2}", dtype) is not None
                and int(dtype[2:]) <= MAX_LABEL_CHARS
            )
            expected = (2,)
        else:
            allowed = dtype in _FLOAT_DTYPES
            expected = {
                "coef_": (1, n_features),
                "intercept_": (1,),
                "loss_curve_": shape[:1] if len(shape) == 1 else None,
            }[name]
        if not allowed:
            raise _Damaged(f"arrays.{name} has the dtype {_describe(dtype)}")
        if shape != expected:
            if name == "classes_":
                raise _Damaged(
                    f"classes_ has shape {shape}: a model file holds a classifier "
                    "of exactly two classes"
                )
            raise _Damaged(f"{name} has shape {shape}, expected {expected}")
        if name == "loss_curve_" and shape[0] > MAX_LOSS_CURVE:
            raise _Damaged(f"loss_curve_ has {shape[0]} values, over {MAX_LOSS_CURVE}")
        specs[name] = (np.dtype(dtype), shape)
    if specs["coef_"][0] != specs["intercept_"][0]:
        raise _Damaged("coef_ and intercept_ have different dtypes")
    return specs


def _npy(archive, info, dtype, shape, name):
    """A member's array, checked against ``dtype`` and ``shape`` before reading."""
    nbytes = dtype.itemsize * math.prod(shape)
    raw = _member(archive, info, _NPY_HEADER_BYTES + nbytes)
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version != (1, 0):
            raise ValueError(f".npy format version {version}, not (1, 0)")
        header = np.lib.format.read_array_header_1_0(
            stream, max_header_size=_NPY_HEADER_BYTES
        )
    except Exception as exc:  # numpy's own header parse errors, whatever type
        raise _Damaged(f"{info.filename}: {type(exc).__name__}: {exc}") from None
    found_shape, fortran_order, found_dtype = header
    if found_dtype != dtype or found_dtype.str != dtype.str or found_shape != shape:
        raise _Damaged(
            f"{info.filename} holds an array of dtype {_describe(str(found_dtype))} "
            f"and shape {_describe(found_shape)}; model.json says {dtype.str} and "
            f"{shape}"
        )
    if fortran_order or len(raw) - stream.tell() != nbytes:
        raise _Damaged(f"{info.filename} does not hold exactly its {nbytes} bytes")
    stream.seek(0)
    try:
        array = np.load(stream, allow_pickle=False)
    except Exception as exc:  # cannot happen after the checks above; say so
        raise _Damaged(f"{info.filename}: {type(exc).__name__}: {exc}") from None
    if array.dtype != dtype or array.shape != shape:
        raise _Damaged(f"{info.filename} does not hold the {name} it declares")
    return array


def _check_arrays(arrays):
    for name in ("coef_", "intercept_", "loss_curve_"):
        n_bad = int(np.count_nonzero(~np.isfinite(arrays[name])))
        if n_bad:
            raise _Damaged(f"{name} holds {n_bad} NaN or infinite values")
    classes = arrays["classes_"]
    if classes.dtype.kind == "f" and not np.all(np.isfinite(classes)):
        raise _Damaged("classes_ holds NaN or infinite labels")
    if not classes[0] < classes[1]:
        raise _Damaged(
            f"classes_ is {_describe(classes.tolist())}: two different labels, "
            "sorted, expected"
        )
