"""What every fetcher shares: the data home, checksums and atomic downloads."""

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple
from pathlib import Path

import h5py

logger = logging.getLogger(__name__)

DATA_HOME_ENV = "CATNEURON_DATA"
DATA_URL_ENV = "CATNEURON_DATA_URL"

_CHUNK_SIZE = 1 << 16
_URL_SCHEMES = ("http", "https", "file")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

RemoteFileMetadata = namedtuple("RemoteFileMetadata", ["filename", "checksum", "size"])
RemoteFileMetadata.__doc__ = """A file of a data set: its name, SHA-256 and size.

The URL is not part of the record: the cat / non-cat set has no official
host, so it is ``base_url + "/" + filename`` for whatever mirror the user names.
"""


def get_data_home(data_home=None):
    """Return the folder that holds the data sets, creating it if missing.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder to use. If None, the ``CATNEURON_DATA`` environment variable,
        else ``~/catneuron_data``. ``~`` is expanded.

    Returns
    -------
    data_home : str
        The path of the folder.

    Raises
    ------
    TypeError
        If ``data_home`` is not a path.
    ValueError
        If ``data_home`` is an empty path.
    NotADirectoryError, PermissionError, OSError
        If the folder cannot be created: the path, or a part of it, is a file;
        or it may not be written. The message names the folder and where its
        name came from.

    See Also
    --------
    fetch_catvnoncat : Load the cat / non-cat images from this folder.

    Examples
    --------
    >>> import os
    >>> from tempfile import TemporaryDirectory
    >>> from sklearn_catneuron.datasets import get_data_home
    >>> with TemporaryDirectory() as tmp:
    ...     folder = get_data_home(os.path.join(tmp, "catneuron_data"))
    ...     print(os.path.isdir(folder), os.path.basename(folder))
    True catneuron_data
    """
    source = "data_home"
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or None
        source = f"${DATA_HOME_ENV}" if data_home else "the default data home"
        data_home = data_home or os.path.join("~", "catneuron_data")
    if not isinstance(data_home, str | os.PathLike) or not isinstance(
        os.fspath(data_home), str
    ):
        raise TypeError(
            f"data_home must be the path of a folder (str or path-like) or None, "
            f"got {type(data_home).__name__} {data_home!r}."
        )
    if not os.fspath(data_home):
        raise ValueError(
            f"data_home (from {source}) is an empty path; give the path of a "
            "folder, or None for the default."
        )
    data_home = os.path.expanduser(os.fspath(data_home))
    try:
        os.makedirs(data_home, exist_ok=True)
    except OSError as exc:
        fix = (
            f"Give a folder you can write to (data_home, or {DATA_HOME_ENV}), or "
            "create it first."
        )
        if source != "data_home":
            fix = f"The folder comes from {source}. {fix}"
        raise _unusable_folder(exc, data_home, fix) from exc
    return data_home


def _unusable_folder(exc, folder, fix):
    """An error of the same kind as ``exc`` that names the folder and the fix."""
    if isinstance(exc, FileExistsError | NotADirectoryError):
        error = NotADirectoryError
        reason = (
            "it is a file, not a folder"
            if os.path.isfile(folder)
            else "a part of its path is a file, not a folder"
        )
    else:
        error = PermissionError if isinstance(exc, PermissionError) else OSError
        reason = exc.strerror or str(exc)
    return error(f"Cannot use {folder} as the data folder: {reason}. {fix}")


def _sha256(path):
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _hdf5_problem(path, remote, datasets):
    """Say what is wrong with the HDF5 file at ``path``, or return None.

    Only the file's header is read: shapes and dtypes come from the dataset
    metadata, so a huge or hostile file is never loaded into memory.

    Parameters
    ----------
    path : path-like
    remote : RemoteFileMetadata
        Gives the expected size, to tell a truncated file from a foreign one.
    datasets : dict of str to (tuple, callable, str)
        For each required key: the expected shape, a predicate on the dtype
        and the dtype's description for messages.
    """
    if not os.path.isfile(path):
        return "is not a file"
    size = os.path.getsize(path)
    try:
        f = h5py.File(path, "r")
    except OSError:
        with open(path, "rb") as fh:
            head = fh.read(len(_HDF5_SIGNATURE))
        if size == 0:
            return "is empty"
        if head == _HDF5_SIGNATURE and size < remote.size:
            return f"is truncated ({size} of {remote.size} bytes)"
        return f"is not an HDF5 file (it starts with {head!r})"
    with f:
        for key, (shape, dtype_ok, dtype_name) in datasets.items():
            if key not in f:
                return f"has no dataset {key!r} (it holds {sorted(f.keys())})"
            node = f[key]
            if not isinstance(node, h5py.Dataset):
                return f"holds {key!r} as a {type(node).__name__}, not a dataset"
            if node.shape != shape or not dtype_ok(node.dtype):
                return (
                    f"has dataset {key!r} of shape {node.shape} and dtype "
                    f"{node.dtype}, expected shape {shape} and dtype {dtype_name}"
                )
    return None


def _file_problem(path, remote, datasets):
    """Say why ``path`` is not exactly the file ``remote`` describes, or None.

    The checksum decides; the structural checks come first so that the message
    names the problem (a truncated file, not HDF5, a missing key, a wrong
    shape or dtype) rather than only a checksum.
    """
    problem = _hdf5_problem(path, remote, datasets)
    if problem is None:
        checksum = _sha256(path)
        if checksum != remote.checksum:
            problem = f"has SHA-256 {checksum}, expected {remote.checksum}"
    return problem


def _check_file(path, remote, datasets):
    """Raise OSError unless ``path`` is exactly the file ``remote`` describes."""
    problem = _file_problem(path, remote, datasets)
    if problem is not None:
        raise OSError(
            f"The data file {path} {problem}: it is damaged or not the cat / "
            f"non-cat file. Delete it and fetch again, or put the original "
            f"{remote.filename} (SHA-256 {remote.checksum}) in its place."
        )


def _resolve_base_url(base_url):
    """The mirror to download from: the argument, else ``$CATNEURON_DATA_URL``."""
    if base_url is None:
        base_url = os.environ.get(DATA_URL_ENV) or None
    if base_url is None:
        return None
    scheme = urllib.parse.urlsplit(base_url).scheme
    if scheme not in _URL_SCHEMES:
        raise ValueError(
            f"The download address {base_url!r} has scheme {scheme!r}; use an "
            f"http://, https:// or file:// URL of the folder holding the files."
        )
    return base_url.rstrip("/")


def _download(remote, base_url, data_home, *, datasets, timeout):
    """Download ``remote`` into ``data_home`` atomically and return its path.

    The file is streamed to a temporary file in ``data_home``, checked against
    its size and SHA-256, and only then renamed to its final name. On any
    failure (network error, timeout, damaged file, interruption) the temporary
    file is removed and nothing is left behind.
    """
    url = f"{base_url}/{remote.filename}"
    path = Path(data_home) / remote.filename
    logger.info("Downloading %s to %s", url, path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{remote.filename}.", suffix=".part", dir=data_home
        )
    except OSError as exc:
        raise _unusable_folder(
            exc,
            data_home,
            f"Nothing was downloaded. Give a folder you can write to, or put "
            f"{remote.filename} in it by hand.",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, remote, data_home=data_home, timeout=timeout)
        problem = _file_problem(tmp_name, remote, datasets)
        if problem is not None:
            raise OSError(
                f"The file downloaded from {url} {problem}: that address serves a "
                f"damaged or different file; nothing was saved. Use another mirror "
                f"(set {DATA_URL_ENV}) or put the original {remote.filename} in "
                f"{data_home} by hand."
            )
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _stream(url, out, remote, *, data_home, timeout):
    """Copy ``url`` into the open file ``out``; OSError on any network failure.

    Reading stops past ``remote.size`` bytes (a mirror cannot fill the disk),
    and a body shorter than its announced Content-Length is a failure.
    """
    n_bytes, announced = 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            announced = int(length) if length.isdigit() else None
            while n_bytes <= remote.size and (chunk := response.read(_CHUNK_SIZE)):
                n_bytes += len(chunk)
                out.write(chunk)
        if announced is not None and n_bytes < min(announced, remote.size + 1):
            raise http.client.IncompleteRead(b"", announced - n_bytes)
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP error {exc.code}: {exc.reason}"
        elif isinstance(exc, urllib.error.URLError):
            reason = exc.reason
        elif isinstance(exc, http.client.IncompleteRead):
            reason = f"the connection closed after {n_bytes} of {announced} bytes"
        else:
            reason = str(exc) or type(exc).__name__
        raise OSError(
            f"Could not download {url} ({reason}; timeout {timeout} s). Check the "
            f"address ({DATA_URL_ENV}) and the connection, or put "
            f"{remote.filename} in {data_home} by hand."
        ) from exc
    if n_bytes > remote.size:
        raise OSError(
            f"{url} sends more than the {remote.size} bytes of {remote.filename}: "
            f"that address serves a different file; nothing was saved. Use "
            f"another mirror (set {DATA_URL_ENV})."
        )
