"""The cat / non-cat image set: 259 RGB pictures of 64x64 pixels."""

import logging
from numbers import Real
from pathlib import Path

import h5py
import numpy as np
from sklearn.utils import Bunch

from sklearn_catneuron.datasets._base import (
    DATA_HOME_ENV,
    DATA_URL_ENV,
    RemoteFileMetadata,
    _check_file,
    _download,
    _resolve_base_url,
    get_data_home,
)

logger = logging.getLogger(__name__)

TARGET_NAMES = ("non-cat", "cat")

_IMAGE_SHAPE = (64, 64, 3)
_SUBSETS = {
    "train": (
        RemoteFileMetadata(
            filename="train_catvnoncat.h5",
            checksum="fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
            size=2572022,
        ),
        209,
    ),
    "test": (
        RemoteFileMetadata(
            filename="test_catvnoncat.h5",
            checksum="6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
            size=616958,
        ),
        50,
    ),
}

DESCR = """\
.. _catvnoncat_dataset:

Cat / non-cat images
--------------------

**Data Set Characteristics:**

:Number of images: 259: 209 for training, 50 for testing
:Image shape: 64 x 64 pixels, 3 colour channels (RGB), uint8 values 0..255
:Classes: 2: 0 = non-cat, 1 = cat
:Class balance: train 72 cats and 137 non-cats; test 33 cats and 17 non-cats
:Files: train_catvnoncat.h5 and test_catvnoncat.h5 (HDF5), each checked
    against its SHA-256 before use

The small image set of a well-known deep-learning course's first exercise,
"logistic regression with a neural network mindset": photographs of cats and of
other things (landscapes, buildings, people, other animals), cropped and scaled
down to 64 x 64 pixels. Each HDF5 file holds the images (``train_set_x`` /
``test_set_x``), the labels (``train_set_y`` / ``test_set_y``) and the class
names (``list_classes``).

The set has no official host; it is mirrored in many public repositories. Any
mirror is safe to use, since each file must match its recorded SHA-256.

**Reference result:** flatten each image to 12,288 values, divide by 255, start
from zero weights and bias and run 2,000 steps of full-batch gradient descent on
the mean cross-entropy with learning rate 0.005:
``make_pipeline(ImageFlattener(), SigmoidNeuronClassifier())``. It reaches
207 of 209 (99.04 %) on the training set and 35 of 50 (70 %) on the test set;
the cost falls from 0.693147 before the first step to 0.140872 before step 1900.
The gap between the two is the lesson of the exercise: a single neuron on raw
pixels overfits.
"""


def _datasets(subset, n_images):
    """Keys, shapes and dtypes the file of ``subset`` must hold."""

    def is_bytes(dtype):
        return dtype.kind in "SOU"

    def is_int(dtype):
        return dtype.kind in "iu"

    def is_uint8(dtype):
        return dtype == np.uint8

    return {
        f"{subset}_set_x": ((n_images, *_IMAGE_SHAPE), is_uint8, "uint8"),
        f"{subset}_set_y": ((n_images,), is_int, "integer"),
        "list_classes": ((2,), is_bytes, "bytes"),
    }


def fetch_catvnoncat(
    *,
    subset="train",
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    base_url=None,
    timeout=30.0,
):
    """Load the cat / non-cat images, downloading them if needed.

    =================   ==========================
    Classes                                      2
    Images (train)                   209 (72 cats)
    Images (test)                     50 (33 cats)
    Image shape            (64, 64, 3), uint8 RGB
    =================   ==========================

    Read more in the data set description, ``fetch_catvnoncat().DESCR``.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which images to load; "all" is the training images followed by the
        test images.

    data_home : str or path-like, default=None
        The folder holding ``train_catvnoncat.h5`` and ``test_catvnoncat.h5``
        (downloads go there too). If None, ``$CATNEURON_DATA``, else
        ``~/catneuron_data``; see :func:`get_data_home`.

    download_if_missing : bool, default=True
        If a file is missing, download it from ``base_url``; if False, raise
        ``FileNotFoundError`` instead.

    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    base_url : str, default=None
        URL of the folder (``http://``, ``https://`` or ``file://``) that serves
        the two files, e.g. the raw-file URL of a public repository's
        ``datasets`` folder. If None, ``$CATNEURON_DATA_URL``. There is no
        default: the set has no official host, and no mirror is vouched for
        here. Any mirror is safe, since each download must match its SHA-256.

    timeout : float, default=30.0
        Seconds to wait for the server to connect or send data.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the attributes:

        images : ndarray of shape (n_images, 64, 64, 3), dtype uint8
            The RGB pictures.
        target : ndarray of shape (n_images,), dtype int64
            1 for a cat, 0 otherwise.
        target_names : ndarray of shape (2,), dtype str
            ``["non-cat", "cat"]``, indexed by ``target``.
        DESCR : str
            Description of the set and its reference result.

    (images, target) : tuple
        If ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If ``subset``, ``timeout`` or the scheme of ``base_url`` is not one of
        the values above.
    TypeError
        If ``download_if_missing`` or ``return_X_y`` is not a bool, ``base_url``
        not a string or ``data_home`` not a path.
    FileNotFoundError
        If a file is missing and cannot be downloaded (``download_if_missing``
        is False, or no ``base_url`` is set); the message says where to put it.
    OSError
        If a file (on disk or downloaded) is damaged or not the expected one:
        wrong SHA-256, truncated, not HDF5, a key, shape or dtype that does not
        match; or if the download fails or times out. Nothing is written then.
        A ``NotADirectoryError`` or ``PermissionError`` if ``data_home`` cannot
        be created or written to (see :func:`get_data_home`).

    See Also
    --------
    get_data_home : The folder the files are read from.
    sklearn_catneuron.ImageFlattener : Flatten and scale the images for the
        neuron.

    Notes
    -----
    Every file is checked against its SHA-256 each time it is loaded (about
    3 MB to hash). Downloads are streamed to a temporary file in ``data_home``,
    checked, then renamed, so an interrupted or corrupt download leaves
    nothing behind.

    Examples
    --------
    With ``CATNEURON_DATA`` naming the folder that holds the two files:

    >>> from sklearn_catneuron.datasets import fetch_catvnoncat
    >>> train = fetch_catvnoncat(download_if_missing=False)
    >>> train.images.shape, train.images.dtype
    ((209, 64, 64, 3), dtype('uint8'))
    >>> int(train.target.sum()), train.target_names.tolist()
    (72, ['non-cat', 'cat'])
    >>> images, target = fetch_catvnoncat(
    ...     subset="test", return_X_y=True, download_if_missing=False
    ... )
    >>> images.shape, int(target.sum())
    ((50, 64, 64, 3), 33)
    """
    if not isinstance(subset, str) or subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    for name, value in (
        ("download_if_missing", download_if_missing),
        ("return_X_y", return_X_y),
    ):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(
                f"{name} must be True or False, got {type(value).__name__} {value!r}."
            )
    if base_url is not None and not isinstance(base_url, str):
        raise TypeError(
            f"base_url must be a URL (str) or None, got {type(base_url).__name__} "
            f"{base_url!r}."
        )
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, Real)
        or not 0 < timeout < float("inf")
    ):
        raise ValueError(
            f"timeout must be a positive number of seconds, got {timeout!r}."
        )
    data_home = get_data_home(data_home)
    parts = ("train", "test") if subset == "all" else (subset,)
    images, targets = [], []
    for part in parts:
        remote, n_images = _SUBSETS[part]
        datasets = _datasets(part, n_images)
        path = Path(data_home) / remote.filename
        if path.exists():
            _check_file(path, remote, datasets)
        else:
            path = _fetch_missing(
                remote, data_home, datasets, download_if_missing, base_url, timeout
            )
        with h5py.File(path, "r") as f:
            images.append(f[f"{part}_set_x"][:])
            targets.append(f[f"{part}_set_y"][:].astype(np.int64))
    images = np.concatenate(images) if len(images) > 1 else images[0]
    target = np.concatenate(targets) if len(targets) > 1 else targets[0]
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.array(TARGET_NAMES),
        DESCR=DESCR,
    )


def _fetch_missing(remote, data_home, datasets, download_if_missing, base_url, timeout):
    """Download a missing file, or say how to get it."""
    by_hand = (
        f"put train_catvnoncat.h5 and test_catvnoncat.h5 in {data_home} by hand "
        f"(or point {DATA_HOME_ENV} or data_home at the folder that holds them)"
    )
    if not download_if_missing:
        raise FileNotFoundError(
            f"{remote.filename} is not in {data_home} and download_if_missing="
            f"False; {by_hand}."
        )
    base_url = _resolve_base_url(base_url)
    if base_url is None:
        raise FileNotFoundError(
            f"{remote.filename} is not in {data_home} and there is no address to "
            f"download it from: the cat / non-cat set has no official host. Set "
            f"{DATA_URL_ENV} (or base_url) to the URL of a folder that serves "
            f"both files (any mirror: each file is checked against its SHA-256), "
            f"or {by_hand}."
        )
    return _download(remote, base_url, data_home, datasets=datasets, timeout=timeout)
