"""Shared fixtures: the real cat / non-cat data and a seeded random generator."""

import os
import shutil
from pathlib import Path

# Lets sklearn's check_array_api_input run (it needs this before scipy loads).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklearn_catneuron.datasets import fetch_catvnoncat  # noqa: E402

REFERENCE_COSTS = [
    0.693147, 0.584508, 0.466949, 0.376007, 0.331463, 0.303273, 0.279880,
    0.260042, 0.242941, 0.228004, 0.214820, 0.203078, 0.192544, 0.183033,
    0.174399, 0.166521, 0.159305, 0.152667, 0.146542, 0.140872,
]  # fmt: skip


def pytest_configure(config):
    """Under pytest-xdist, share the cores between the workers' BLAS threads.

    Each of ``-n N`` workers would otherwise start one OpenBLAS thread per
    core, and busy-waiting threads of different workers slow each other down
    several times over. The environment variables reach the processes the
    tests start (the command line, loky and Dask workers).
    """
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not workers:
        return
    from threadpoolctl import threadpool_limits

    threads = max(1, (os.cpu_count() or 1) // int(workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    config.stash[_BLAS_LIMITS] = threadpool_limits(limits=threads)


_BLAS_LIMITS = pytest.StashKey()


def _data_dir():
    """The folder named by CATNEURON_DATA; fail under CI, skip elsewhere."""
    folder = os.environ.get("CATNEURON_DATA")
    names = ("train_catvnoncat.h5", "test_catvnoncat.h5")
    if folder and all((Path(folder) / name).is_file() for name in names):
        return Path(folder)
    reason = (
        f"the cat / non-cat data is not in CATNEURON_DATA={folder!r}; set it to "
        "the folder holding train_catvnoncat.h5 and test_catvnoncat.h5"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _never_download(monkeypatch):
    """No test downloads from the built-in mirrors, here or in a subprocess.

    Tests of downloads serve the files on 127.0.0.1 and lift this themselves
    (``test_datasets.py``).
    """
    monkeypatch.setenv("CATNEURON_OFFLINE", "1")


@pytest.fixture(scope="session")
def catvnoncat_dir():
    """The folder holding the real data (CATNEURON_DATA), as an absolute path."""
    return _data_dir().resolve()


@pytest.fixture(scope="session")
def catvnoncat(catvnoncat_dir):
    """(X_train, y_train, X_test, y_test): uint8 images and 0/1 labels."""
    X_train, y_train = fetch_catvnoncat(
        subset="train",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        return_X_y=True,
    )
    X_test, y_test = fetch_catvnoncat(
        subset="test",
        data_home=catvnoncat_dir,
        download_if_missing=False,
        return_X_y=True,
    )
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="session")
def cat(catvnoncat):
    """The cat data flattened and scaled: (X_train, y_train, X_test, y_test)."""
    from sklearn_catneuron import ImageFlattener

    X_train, y_train, X_test, y_test = catvnoncat
    flatten = ImageFlattener()
    return (
        flatten.fit_transform(X_train),
        y_train,
        flatten.fit_transform(X_test),
        y_test,
    )


@pytest.fixture
def mirror(tmp_path, catvnoncat_dir):
    """A folder in tmp_path holding copies of the two real files (to damage)."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        shutil.copyfile(catvnoncat_dir / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def reference_pipeline(catvnoncat):
    """The reference model: default pipeline fitted on the training images.

    Shared, so do not modify it.
    """
    from sklearn.pipeline import make_pipeline

    from sklearn_catneuron import ImageFlattener, SigmoidNeuronClassifier

    X_train, y_train, _, _ = catvnoncat
    return make_pipeline(ImageFlattener(), SigmoidNeuronClassifier()).fit(
        X_train, y_train
    )


@pytest.fixture(scope="session")
def reference_costs():
    """The reference cost before steps 0, 100, ..., 1900, to six decimals."""
    return np.array(REFERENCE_COSTS)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
