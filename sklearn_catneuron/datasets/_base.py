"""What every fetcher shares: the data home, verified reads and safe downloads.

The rules, each enforced here once:

- A data file's bytes are read once, from one open file descriptor (regular
  files only, never more than the file's known size), hashed, and only bytes
  whose SHA-256 matches are handed to a parser, from memory. Nothing that was
  not verified ever reaches h5py, and a file swapped on disk while it is being
  loaded cannot slip in.
- Downloads go into memory (at most the file's known size), are verified the
  same way, and only then written to a temporary file in the data home and
  renamed into place. The data home is created only then.
- A download follows only http:// and https:// redirects (at most
  ``_MAX_REDIRECTS``), stops at a deadline that bounds the whole transfer, and
  never shows the credentials of a URL in a message.
"""

import base64
import hashlib
import http.client
import io
import logging
import os
import re
import socket
import ssl
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import namedtuple
from pathlib import Path

logger = logging.getLogger(__name__)

DATA_HOME_ENV = "CATNEURON_DATA"
DATA_URL_ENV = "CATNEURON_DATA_URL"
OFFLINE_ENV = "CATNEURON_OFFLINE"

_CHUNK_SIZE = 1 << 16
_URL_SCHEMES = ("http", "https", "file")
_REDIRECT_SCHEMES = ("http", "https")
_MAX_REDIRECTS = 5
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# A temporary download file older than this is left over by a killed process.
_STALE_AFTER = 600.0
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

RemoteFileMetadata = namedtuple("RemoteFileMetadata", ["filename", "checksum", "size"])
RemoteFileMetadata.__doc__ = """A file of a data set: name, SHA-256 and size in bytes.

The URL is not part of the record: the file is ``mirror + "/" + filename`` for
each mirror tried in turn. The size bounds every read and download.
"""


class DataFileError(ValueError, OSError):
    """A data file is damaged or is not the file the data set expects.

    Raised for every file in the data home, behind a ``file://`` URL or
    downloaded, whose bytes do not match the recorded size and SHA-256 (or, for
    matching bytes, whose HDF5 content is not what the data set records). The
    message names the file, what is wrong with it, and how to fix it. Inherits
    from :class:`ValueError` (the content is wrong) and :class:`OSError` (what
    a damaged file raised before this class existed).

    See Also
    --------
    fetch_catvnoncat : The fetcher that raises it.

    Examples
    --------
    >>> from sklearn_catneuron.datasets import DataFileError
    >>> issubclass(DataFileError, ValueError), issubclass(DataFileError, OSError)
    (True, True)
    """


class _MirrorFailure(Exception):
    """Why one download attempt failed; ``transient`` failures are retried."""

    def __init__(self, reason, *, transient):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


# -- the data home -----------------------------------------------------------


def _resolve_data_home(data_home):
    """The data home's path (``~`` expanded) and where its name came from.

    Nothing is created; see :func:`get_data_home`.
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
    return os.path.expanduser(os.fspath(data_home)), source


def _folder_fix(source):
    fix = (
        f"Give a folder you can write to (data_home, or {DATA_HOME_ENV}), or "
        "create it first."
    )
    if source != "data_home":
        fix = f"The folder comes from {source}. {fix}"
    return fix


def get_data_home(data_home=None):
    """Return the folder that holds the data sets, creating it if missing.

    :func:`fetch_catvnoncat` does not call this: it creates the folder only
    when it is about to save a verified download into it.

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
    data_home, source = _resolve_data_home(data_home)
    try:
        os.makedirs(data_home, exist_ok=True)
    except OSError as exc:
        raise _unusable_folder(exc, data_home, _folder_fix(source)) from exc
    return data_home


def _check_data_home(data_home, source):
    """Refuse a data home that is a file (or under one); create nothing."""
    try:
        is_dir = stat.S_ISDIR(os.stat(data_home).st_mode)
    except FileNotFoundError:
        return  # created when a verified download is saved into it
    except OSError as exc:
        raise _unusable_folder(exc, data_home, _folder_fix(source)) from exc
    if not is_dir:
        exc = NotADirectoryError(f"{data_home} is not a folder")
        raise _unusable_folder(exc, data_home, _folder_fix(source))


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


def _offline():
    """Whether ``$CATNEURON_OFFLINE`` forbids downloads."""
    value = os.environ.get(OFFLINE_ENV, "")
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ValueError(
        f"{OFFLINE_ENV}={value!r} is not a yes/no value; set it to 1 to never "
        "download, or unset it."
    )


def _remove_stale_parts(data_home, filenames):
    """Delete temporary download files left in ``data_home`` by killed runs.

    Only names this package creates (``.<filename>.<8 characters>.part``) and
    only files older than ``_STALE_AFTER`` seconds: a younger one may belong to
    a download that another process is saving right now.
    """
    names = "|".join(map(re.escape, filenames))
    owned = re.compile(rf"\.(?:{names})\.[a-z0-9_]{{8}}\.part")
    try:
        names = os.listdir(data_home)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not owned.fullmatch(name):
            continue
        path = os.path.join(data_home, name)
        try:
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > _STALE_AFTER:
                os.unlink(path)
                logger.info("Removed %s, left over by an interrupted download", path)
        except OSError:
            pass  # gone already, or not ours to delete


# -- reading and verifying bytes ---------------------------------------------


def _read_regular_file(path, limit):
    """The bytes of the regular file at ``path``, at most ``limit + 1`` of them.

    The file is opened once without blocking (a FIFO or a device cannot stall
    the open), checked to be a regular file on the open descriptor, and read
    from that same descriptor: whatever the path points at afterwards, these
    are the bytes of the file that was checked.

    Returns
    -------
    data : bytes or None
        None if the file's size differs from ``limit``: then only its first
        bytes are read, see ``head``.
    size : int
    head : bytes
        The first bytes, to describe a file of the wrong size.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    _NotRegular
        If it is a folder, a FIFO, a device or a socket.
    OSError
        If it cannot be opened or read (permissions, I/O error).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except (FileNotFoundError, PermissionError):
        raise
    except OSError:
        # A folder (on some systems) or a socket cannot be opened at all.
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _NotRegular(_kind_of(mode)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(_kind_of(info.st_mode))
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", buffering=0) as f:
        size = info.st_size
        if size != limit:
            return None, size, f.read(len(_HDF5_SIGNATURE))
        parts, n_read = [], 0
        while n_read <= limit and (chunk := f.read(limit + 1 - n_read)):
            parts.append(chunk)
            n_read += len(chunk)
    data = b"".join(parts)
    if len(data) != limit:  # the file changed size while it was read
        return None, len(data), data[: len(_HDF5_SIGNATURE)]
    return data, size, data[: len(_HDF5_SIGNATURE)]


class _NotRegular(Exception):
    """The path names something other than a regular file."""


def _kind_of(mode):
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _content_problem(data, size, head, remote):
    """Say why these bytes are not the file ``remote`` describes, or None.

    Only the size, the first bytes and the SHA-256 are looked at: a damaged
    file is described without parsing it.
    """
    if size == 0:
        return "is empty"
    if size != remote.size:
        if head.startswith(_HDF5_SIGNATURE[:4]):
            if size < remote.size:
                return f"is truncated ({size} of {remote.size} bytes)"
            return f"has {size} bytes, expected {remote.size}"
        return f"is not an HDF5 file (it has {size} bytes and starts with {head!r})"
    checksum = hashlib.sha256(data).hexdigest()
    if checksum != remote.checksum:
        return f"has SHA-256 {checksum}, expected {remote.checksum}"
    return None


def _damaged_local_file(path, remote, problem):
    return DataFileError(
        f"The data file {path} {problem}: it is damaged or not the cat / "
        f"non-cat file. Delete it and fetch again, or put the original "
        f"{remote.filename} (SHA-256 {remote.checksum}) in its place."
    )


def _read_verified(path, remote):
    """The verified bytes of the data file at ``path``.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path`` (the caller may download it).
    DataFileError
        If it is not a regular file, or its bytes are not the recorded ones.
    OSError
        If it cannot be read.
    """
    try:
        data, size, head = _read_regular_file(path, remote.size)
    except _NotRegular as exc:
        raise _damaged_local_file(path, remote, f"is {exc}, not a file") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        error = PermissionError if isinstance(exc, PermissionError) else OSError
        raise error(
            f"Cannot read the data file {path}: {exc.strerror or exc}. Make it "
            f"readable, or delete it and fetch again."
        ) from exc
    problem = _content_problem(data, size, head, remote)
    if problem is not None:
        raise _damaged_local_file(path, remote, problem)
    return data


def _load_hdf5(data, remote, datasets, where):
    """Read the arrays ``datasets`` names from the verified HDF5 bytes ``data``.

    The bytes were verified, so these checks cannot fail for the recorded
    files; they keep the parser honest should a record ever be wrong: each key
    must be a dataset stored inside the file (a hard link, no external or
    virtual storage, so nothing outside these bytes is ever opened), of the
    expected shape and dtype, before a single value is read.

    Parameters
    ----------
    data : bytes
    remote : RemoteFileMetadata
    datasets : dict of str to (tuple, callable, str)
        For each key: the expected shape, a predicate on the dtype and the
        dtype's description for messages.
    where : str
        The file or URL the bytes came from, for messages.
    """
    import h5py

    arrays = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            for key, (shape, dtype_ok, dtype_name) in datasets.items():
                link = f.get(key, getlink=True)
                if link is None:
                    problem = f"has no dataset {key!r}"
                elif not isinstance(link, h5py.HardLink):
                    problem = f"holds {key!r} as a {type(link).__name__}"
                elif not isinstance(node := f[key], h5py.Dataset):
                    problem = f"holds {key!r} as a {type(node).__name__}"
                elif node.external or node.is_virtual:
                    problem = f"stores {key!r} outside the file"
                elif node.shape != shape or not dtype_ok(node.dtype):
                    problem = (
                        f"has dataset {key!r} of shape {node.shape} and dtype "
                        f"{node.dtype}, expected shape {shape} and dtype {dtype_name}"
                    )
                else:
                    arrays[key] = node[()]
                    continue
                raise DataFileError(
                    f"The data file {where} {problem}, although its SHA-256 "
                    f"matches the record for {remote.filename}: report this "
                    "to the sklearn-catneuron developers."
                )
    except DataFileError:
        raise
    except Exception as exc:  # h5py's errors on a file that is not what it says
        raise DataFileError(
            f"The data file {where} cannot be read as HDF5 ({exc}), although its "
            f"SHA-256 matches the record for {remote.filename}: report this to "
            "the sklearn-catneuron developers."
        ) from exc
    return arrays


# -- saving ------------------------------------------------------------------


def _save(data, data_home, remote, source):
    """Write verified ``data`` into ``data_home`` atomically; return its path.

    The folder is created here, the first time it is needed. The bytes go to a
    temporary file in the folder that is flushed to the disk and renamed to its
    final name; on any failure, interruption included, it is removed.
    """
    path = os.path.join(data_home, remote.filename)
    fix = (
        f"The download was verified but not saved. Give a folder you can write "
        f"to, or put {remote.filename} in it by hand."
    )
    try:
        os.makedirs(data_home, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{remote.filename}.", suffix=".part", dir=data_home
        )
    except OSError as exc:
        if source != "data_home":
            fix = f"The folder comes from {source}. {fix}"
        raise _unusable_folder(exc, data_home, fix) from exc
    try:
        with open(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    logger.info("Saved %s", path)
    return path


# -- URLs --------------------------------------------------------------------


def _redact(url):
    """``url`` with its user name and password, if any, replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))


def _secrets(url):
    """The credential strings of ``url``, to scrub from any message.

    The whole ``user:password`` (as written and decoded) and a password of 4
    characters or more; shorter strings would garble ordinary words.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    if not userinfo:
        return []
    found = {userinfo, urllib.parse.unquote(userinfo)}
    if parts.password and len(parts.password) >= 4:
        found |= {parts.password, urllib.parse.unquote(parts.password)}
    return sorted(found, key=len, reverse=True)


def _scrub(text, secrets):
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _resolve_base_url(base_url):
    """The user's mirror: the argument, else ``$CATNEURON_DATA_URL``, or None."""
    source = "base_url"
    if base_url is None:
        base_url = os.environ.get(DATA_URL_ENV) or None
        source = DATA_URL_ENV
    if base_url is None:
        return None
    scheme = urllib.parse.urlsplit(base_url).scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise ValueError(
            f"The download address {_redact(base_url)!r} has scheme {scheme!r}; "
            f"use an http://, https:// or file:// URL of the folder holding the "
            f"files (set {source})."
        )
    return base_url.rstrip("/")


def _file_url(base_url, filename):
    """The URL of ``filename`` in the folder ``base_url``."""
    parts = urllib.parse.urlsplit(base_url)
    path = parts.path.rstrip("/") + "/" + urllib.parse.quote(filename)
    return urllib.parse.urlunsplit(parts._replace(path=path))


# -- downloading -------------------------------------------------------------


class _Deadline:
    """A wall-clock bound on one download attempt, connection set-up included.

    Every socket the attempt opens is registered; when the time is up, a timer
    thread shuts them down, which wakes any read blocked on them. A server that
    sends one byte a second, in the headers or in the body, is cut off.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def check(self):
        if time.monotonic() >= self._end:
            self._expire()
        if self.expired:
            raise TimeoutError("timed out")

    def watch(self, sock):
        # A duplicate descriptor of the same connection: shutting it down ends
        # the connection even after TLS has wrapped (and detached) ``sock``.
        dup = sock.dup()
        with self._lock:
            self._sockets.append(dup)
            expired = self.expired
        if expired:
            _shutdown(dup)
        return sock

    def _expire(self):
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def close(self):
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watched(connection_class, deadline):
    """``connection_class`` whose sockets are registered with ``deadline``."""

    class Connection(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            create = self._create_connection

            def create_and_watch(*args, **kwargs):
                return deadline.watch(create(*args, **kwargs))

            self._create_connection = create_and_watch

    return Connection


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline

    def https_open(self, req):
        return self.do_open(
            _watched(http.client.HTTPSConnection, self._deadline),
            req,
            context=self._context,
        )


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow at most ``_MAX_REDIRECTS`` redirects, to http(s) URLs only.

    Credentials in a redirect's target are dropped, and the request's own
    credentials (an unredirected header) are not sent on.
    """

    max_redirections = _MAX_REDIRECTS
    max_repeats = 1

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            scheme = urllib.parse.urlsplit(target).scheme.lower()
            if scheme not in _REDIRECT_SCHEMES:
                fp.close()
                shown = _printable(_redact(target))
                raise _MirrorFailure(
                    f"it redirects (HTTP {code}) to '{shown}'; only http:// and "
                    "https:// redirects are followed",
                    transient=False,
                )
            if "@" in urllib.parse.urlsplit(target).netloc:
                del headers["location"], headers["uri"]
                headers["location"] = _without_credentials(target)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_302
    http_error_308 = http_error_302


def _without_credentials(url):
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def _http_request(url):
    """A request for ``url`` with its credentials moved to a header.

    The header is not sent on to where the server redirects.
    """
    parts = urllib.parse.urlsplit(url)
    from sklearn_catneuron import __version__

    request = urllib.request.Request(
        _without_credentials(url),
        headers={
            "User-Agent": f"sklearn-catneuron/{__version__}",
            "Accept-Encoding": "identity",
        },
    )
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_unredirected_header("Authorization", f"Basic {token}")
    return request


def _printable(text, limit=200):
    """Text a server chose, safe to print: escapes for control characters
    (no terminal escape sequences reach the user's screen), and bounded."""
    text = "".join(
        char if char.isprintable() else repr(char)[1:-1] for char in str(text)
    )
    return text if len(text) <= limit else text[:limit] + "..."


def _http_get(url, remote, timeout):
    """The body at the http(s) ``url``: at most ``remote.size`` bytes.

    Raises
    ------
    _MirrorFailure
        On any failure, saying whether trying again may help.
    """
    deadline = _Deadline(timeout)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTPHandler(deadline),
        _HTTPSHandler(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    body, announced = bytearray(), None
    try:
        with opener.open(_http_request(url), timeout=timeout) as response:
            length = response.headers.get("Content-Length", "").strip()
            announced = int(length) if length.isdigit() else None
            if announced is not None and announced > remote.size:
                raise _MirrorFailure(
                    f"it announces {announced} bytes, more than the {remote.size} "
                    f"bytes of {remote.filename}: a different file",
                    transient=False,
                )
            while True:
                deadline.check()
                chunk = response.read1(_CHUNK_SIZE)
                if not chunk:
                    break
                body += chunk
                if len(body) > remote.size:
                    raise _MirrorFailure(
                        f"it sends more than the {remote.size} bytes of "
                        f"{remote.filename}: a different file",
                        transient=False,
                    )
        deadline.check()
    except _MirrorFailure:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()
        if 300 <= exc.code < 400:
            raise _MirrorFailure(
                f"more than {_MAX_REDIRECTS} redirects, or a redirect loop "
                f"(HTTP {exc.code})",
                transient=False,
            ) from None
        transient = exc.code >= 500 or exc.code in (408, 429)
        raise _MirrorFailure(
            f"HTTP error {exc.code}: {_printable(exc.reason)}", transient=transient
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired or isinstance(exc, TimeoutError | socket.timeout):
            reason = f"timed out: no complete file within timeout={timeout} s"
        elif isinstance(exc, urllib.error.URLError):
            reason = _printable(exc.reason)
        else:
            reason = _printable(str(exc) or type(exc).__name__)
        # A malformed address or a certificate that does not verify would fail
        # the same way again.
        cause = getattr(exc, "reason", exc)
        transient = not isinstance(
            cause, http.client.InvalidURL | ssl.SSLCertVerificationError
        )
        raise _MirrorFailure(reason, transient=transient) from None
    finally:
        deadline.close()
    if announced is not None and len(body) < announced:
        raise _MirrorFailure(
            f"the connection closed after {len(body)} of {announced} bytes",
            transient=True,
        )
    return bytes(body)


def _local_get(url, remote):
    """The bytes of the file behind the ``file://`` ``url`` (not verified)."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise _MirrorFailure(
            f"file:// URLs name a local file; host {parts.netloc!r} is not local",
            transient=False,
        )
    path = urllib.request.url2pathname(parts.path)
    try:
        data, size, head = _read_regular_file(path, remote.size)
    except _NotRegular as exc:
        raise _MirrorFailure(f"it is {exc}, not a file", transient=False) from None
    except OSError as exc:
        raise _MirrorFailure(exc.strerror or str(exc), transient=False) from None
    return data, size, head


def _fetch_once(url, remote, timeout):
    """Download ``url`` and verify it: the verified bytes, or _MirrorFailure."""
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        data, size, head = _local_get(url, remote)
    else:
        data = _http_get(url, remote, timeout)
        size, head = len(data), data[: len(_HDF5_SIGNATURE)]
    problem = _content_problem(data, size, head, remote)
    if problem is not None:
        # The same address would send the same bytes: not worth a retry.
        raise _MirrorFailure(f"the file it served {problem}", transient=False)
    return data


def _download(url, remote, *, timeout, n_retries, delay):
    """The verified bytes of ``url``, trying again after transient failures.

    Network errors, timeouts, connections cut short and HTTP 5xx, 408 and 429
    are tried again, up to ``n_retries`` times, ``delay`` seconds apart. An
    HTTP 4xx, a refused redirect or a wrong file is not: the same address would
    answer the same way.
    """
    for attempt in range(n_retries + 1):
        try:
            return _fetch_once(url, remote, timeout)
        except _MirrorFailure as failure:
            if not failure.transient or attempt == n_retries:
                raise
            logger.info(
                "Downloading %s failed (%s); trying again in %s s",
                _redact(url),
                failure.reason,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_from_mirrors(remote, mirrors, *, timeout, n_retries, delay):
    """The verified bytes of ``remote`` from the first mirror that has them.

    Returns
    -------
    data : bytes
    url : str
        The address, credentials redacted, the bytes came from.
    failures : list of str
        Why each mirror before it failed (empty on the first one's success).
    """
    failures, secrets = [], []
    for mirror in mirrors:
        url = _file_url(mirror, remote.filename)
        secrets += _secrets(url)
        logger.info("Downloading %s from %s", remote.filename, _redact(url))
        try:
            data = _download(
                url, remote, timeout=timeout, n_retries=n_retries, delay=delay
            )
        except _MirrorFailure as failure:
            failures.append(_scrub(f"{_redact(url)}: {failure.reason}", secrets))
            continue
        return data, _redact(url), failures
    return None, None, failures
