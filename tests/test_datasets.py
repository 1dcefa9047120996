"""fetch_catvnoncat and get_data_home: loading, checking, downloading.

Downloads only ever talk to servers these tests start on 127.0.0.1. Each bad
argument and damaged local file is a row of the fetcher table in
``test_bad_input.py``; here are the downloads of damaged files.
"""

import functools
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
from _files import flip_a_pixel, not_hdf5, replace_dataset, truncate
from numpy.testing import assert_array_equal

from sklearn_catneuron.datasets import _base as datasets_base
from sklearn_catneuron.datasets import fetch_catvnoncat, get_data_home
from sklearn_catneuron.datasets._catvnoncat import _SUBSETS

NAMES = ("train_catvnoncat.h5", "test_catvnoncat.h5")
SHA256 = {
    "train_catvnoncat.h5": (
        "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242"
    ),
    "test_catvnoncat.h5": (
        "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951"
    ),
}


@pytest.fixture(autouse=True)
def no_proxies_no_mirror(monkeypatch):
    """Keep urllib off any proxy, and downloads off any mirror set outside."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CATNEURON_DATA_URL", raising=False)


@pytest.fixture
def serve():
    """Start an HTTP server on 127.0.0.1 for a folder; return its base URL."""
    servers = []

    def start(folder, handler=None):
        class Quiet(handler or http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
        )
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


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
    for text in ("64 x 64", "72 cats", "33 cats", "207 of 209", "0.140872"):
        assert text in train.DESCR


def test_fetch_returns_the_files_contents(catvnoncat_dir):
    images, target = fetch_catvnoncat(
        subset="test",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        return_X_y=True,
    )
    with h5py.File(catvnoncat_dir / "test_catvnoncat.h5", "r") as f:
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


# -- damaged files (each bad file: tests/test_bad_input.py) --------------------


def test_damaged_test_file_does_not_block_the_train_subset(mirror):
    truncate(mirror / "test_catvnoncat.h5")
    assert fetch_catvnoncat(data_home=mirror).images.shape == (209, 64, 64, 3)
    with pytest.raises(OSError, match="test_catvnoncat.h5 is truncated"):
        fetch_catvnoncat(subset="all", data_home=mirror)


# -- downloads from a loopback server ----------------------------------------


def test_download_from_loopback_mirror(tmp_path, mirror, serve, catvnoncat):
    url = serve(mirror)
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


def test_download_address_from_environment(tmp_path, mirror, serve, monkeypatch):
    monkeypatch.setenv("CATNEURON_DATA_URL", serve(mirror))
    home = tmp_path / "home"
    train = fetch_catvnoncat(data_home=home)
    assert train.images.shape == (209, 64, 64, 3)
    assert listing(home) == ["train_catvnoncat.h5"]


def test_download_from_a_file_url(tmp_path, mirror):
    home = tmp_path / "home"
    test = fetch_catvnoncat(subset="test", data_home=home, base_url=mirror.as_uri())
    assert test.images.shape == (50, 64, 64, 3)
    assert listing(home) == ["test_catvnoncat.h5"]


def test_download_is_renamed_into_place_only_once_verified(
    tmp_path, mirror, serve, monkeypatch
):
    home = tmp_path / "home"
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        assert src.parent == dst.parent == home
        assert src.name.startswith(".test_catvnoncat.h5.")
        assert src.name.endswith(".part")
        assert not dst.exists()
        assert sha256(src) == SHA256["test_catvnoncat.h5"]
        renames.append(dst.name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    fetch_catvnoncat(subset="test", data_home=home, base_url=serve(mirror))
    assert renames == ["test_catvnoncat.h5"]


DOWNLOAD_DAMAGES = {
    "truncated": (truncate, r"is truncated \(1286011 of 2572022 bytes\)"),
    "html-page": (not_hdf5, "is not an HDF5 file"),
    "checksum": (flip_a_pixel, "has SHA-256 [0-9a-f]{64}, expected fbe56ab6"),
    "wrong-shape": (
        replace_dataset("train_set_x", np.zeros((209, 32, 32, 3), np.uint8)),
        r"'train_set_x' of shape \(209, 32, 32, 3\)",
    ),
}


@pytest.mark.parametrize(
    "damage", DOWNLOAD_DAMAGES.values(), ids=DOWNLOAD_DAMAGES.keys()
)
def test_download_of_a_damaged_file_leaves_nothing(tmp_path, mirror, serve, damage):
    damage_file, match = damage
    damage_file(mirror / "train_catvnoncat.h5")
    url = serve(mirror)
    home = tmp_path / "home"
    with pytest.raises(OSError, match=match) as excinfo:
        fetch_catvnoncat(data_home=home, base_url=url)
    message = str(excinfo.value)
    assert message.startswith(f"The file downloaded from {url}/train_catvnoncat.h5 ")
    assert "nothing was saved" in message
    assert "by hand" in message
    assert listing(home) == []


def test_download_of_an_oversized_file_stops(tmp_path, mirror, serve):
    with open(mirror / "train_catvnoncat.h5", "ab") as f:
        f.write(b"\0" * 200_000)
    home = tmp_path / "home"
    with pytest.raises(OSError, match="sends more than the 2572022 bytes"):
        fetch_catvnoncat(data_home=home, base_url=serve(mirror))
    assert listing(home) == []


def test_download_not_found(tmp_path, serve):
    (tmp_path / "empty").mkdir()
    url = serve(tmp_path / "empty")
    home = tmp_path / "home"
    with pytest.raises(OSError, match="HTTP error 404") as excinfo:
        fetch_catvnoncat(data_home=home, base_url=url)
    assert f"Could not download {url}/train_catvnoncat.h5" in str(excinfo.value)
    assert listing(home) == []


class _HalfBody(http.server.SimpleHTTPRequestHandler):
    """Announces the whole file, sends half of it, then hangs up."""

    def do_GET(self):
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


def test_interrupted_download_leaves_nothing(tmp_path, mirror, serve):
    url = serve(mirror, handler=_HalfBody)
    home = tmp_path / "home"
    with pytest.raises(
        OSError, match=r"the connection closed after 1286011 of 2572022 bytes"
    ):
        fetch_catvnoncat(data_home=home, base_url=url)
    assert listing(home) == []


def test_download_timeout(tmp_path):
    # A server that accepts connections (the kernel's backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        home = tmp_path / "home"
        with pytest.raises(OSError, match=r"timed out; timeout 0.3 s"):
            fetch_catvnoncat(data_home=home, base_url=url, timeout=0.3)
    assert listing(home) == []


def test_download_connection_refused(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    home = tmp_path / "home"
    with pytest.raises(OSError, match="Could not download .*put train_catvnoncat.h5"):
        fetch_catvnoncat(data_home=home, base_url=f"http://127.0.0.1:{port}")
    assert listing(home) == []


def test_download_interrupted_by_the_user_leaves_nothing(
    tmp_path, mirror, serve, monkeypatch
):
    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets_base, "_file_problem", interrupt)
    home = tmp_path / "home"
    with pytest.raises(KeyboardInterrupt):
        fetch_catvnoncat(data_home=home, base_url=serve(mirror))
    assert listing(home) == []
