"""The cat / non-cat image set: 259 RGB pictures of 64x64 pixels."""

import functools
import logging
import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch

from sklearn_catneuron.datasets._base import (
    DATA_HOME_ENV,
    DATA_URL_ENV,
    OFFLINE_ENV,
    RemoteFileMetadata,
    _check_data_home,
    _fetch_from_mirrors,
    _load_hdf5,
    _offline,
    _read_verified,
    _remove_stale_parts,
    _resolve_base_url,
    _resolve_data_home,
    _save,
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

# Public copies of the two files, pinned to a commit so that what they serve
# cannot change; tried in this order after $CATNEURON_DATA_URL / base_url. Any
# mirror is safe: a download is kept only if its SHA-256 is the recorded one.
MIRRORS = (
    "https://raw.githubusercontent.com/Hiren2002/Logistic-Regression/"
    "a6139a838a0e624f4ab923377df0c5d3386fdf1f/datasets",
    "https://raw.githubusercontent.com/ramakris/coursera-deeplearning/"
    "c79617ebb9ff38e765e821f80352adee93f19357/neuralnetworks/week2/datasets",
)

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

The set has no official host; it is mirrored in many public repositories.
``fetch_catvnoncat`` downloads a missing file (about 3 MB for both) from
two of them, pinned to a commit (``Hiren2002/Logistic-Regression`` and
``ramakris/coursera-deeplearning`` on GitHub), after any mirror the user names.
Any mirror is safe to use, since each file must match its recorded SHA-256
before it is saved or read.

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


@functools.cache
def _feature_names():
    """``pixel_r{row}_c{column}_ch{channel}``, in the order of ``data``'s columns.

    The names ``ImageFlattener.get_feature_names_out`` gives the same images.
    """
    rows, columns, channels = _IMAGE_SHAPE
    return tuple(
        f"pixel_r{r}_c{c}_ch{k}"
        for r in range(rows)
        for c in range(columns)
        for k in range(channels)
    )


def _check_flag(name, value):
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"{name} must be True or False, got {type(value).__name__} {value!r}."
        )


def _check_parameters(subset, flags, base_url, timeout, n_retries, delay):
    if not isinstance(subset, str) or subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    for name, value in flags.items():
        _check_flag(name, value)
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
    if isinstance(n_retries, bool) or not isinstance(n_retries, Integral):
        raise TypeError(
            f"n_retries must be an integer, got {type(n_retries).__name__} "
            f"{n_retries!r}."
        )
    if not 0 <= n_retries <= 100:
        raise ValueError(f"n_retries must be in 0..100, got {n_retries!r}.")
    if isinstance(delay, bool) or not isinstance(delay, Real) or not 0 <= delay <= 3600:
        raise ValueError(
            f"delay must be a number of seconds in [0, 3600], got {delay!r}."
        )


def fetch_catvnoncat(
    *,
    subset="train",
    data_home=None,
    download_if_missing=True,
    return_X_y=False,
    as_frame=False,
    base_url=None,
    timeout=30.0,
    n_retries=3,
    delay=1.0,
):
    """Load the cat / non-cat images, downloading them if needed.

    =================   ==========================
    Classes                                      2
    Images (train)                   209 (72 cats)
    Images (test)                     50 (33 cats)
    Image shape            (64, 64, 3), uint8 RGB
    Features                 12288 (64 x 64 x 3)
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
        ``~/catneuron_data``; see :func:`get_data_home`. The folder is created
        only when a verified download is saved into it.

    download_if_missing : bool, default=True
        If a file is missing, download it (see Notes); if False, raise
        ``FileNotFoundError`` instead. Setting the environment variable
        ``CATNEURON_OFFLINE=1`` has the same effect.

    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch: the images,
        not the flattened ``data``, since the estimators' pipeline starts with
        :class:`~sklearn_catneuron.ImageFlattener`. With ``as_frame=True``,
        ``(data, target)`` as a DataFrame and a Series.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with one column per pixel
        (``feature_names``), ``target`` a Series named "target", and ``frame``
        a DataFrame holding both. Needs pandas.

    base_url : str, default=None
        URL of a folder (``http://``, ``https://`` or ``file://``) that serves
        the two files, tried before the built-in mirrors. If None,
        ``$CATNEURON_DATA_URL``. A ``user:password@`` in the URL is sent as
        HTTP basic authentication to that host only, and is never shown in a
        message.

    timeout : float, default=30.0
        Seconds that one attempt at downloading one file may take, from
        connecting to the last byte; a slower transfer is cut off and counts
        as a network error.

    n_retries : int, default=3
        How many more times to try a mirror after a network error, a timeout or
        an HTTP 5xx, 408 or 429 answer. A mirror that answers with another HTTP
        error, redirects outside http(s) or serves a file with the wrong size or
        SHA-256 is not tried again (it would answer the same); the next mirror
        is tried instead.

    delay : float, default=1.0
        Seconds to wait before trying again.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With the attributes:

        data : ndarray of shape (n_images, 12288), dtype uint8, or DataFrame
            One row per image, the pixels in row, column, channel order (a
            view of ``images``). A DataFrame if ``as_frame=True``.
        images : ndarray of shape (n_images, 64, 64, 3), dtype uint8
            The RGB pictures.
        target : ndarray of shape (n_images,), dtype int64, or Series
            1 for a cat, 0 otherwise. A Series if ``as_frame=True``.
        feature_names : list of str
            ``pixel_r{row}_c{column}_ch{channel}``, the names
            :class:`~sklearn_catneuron.ImageFlattener` gives the columns.
        target_names : ndarray of shape (2,), dtype str
            ``["non-cat", "cat"]``, indexed by ``target``.
        frame : DataFrame of shape (n_images, 12289) or None
            ``data`` and ``target`` side by side if ``as_frame=True``.
        DESCR : str
            Description of the set and its reference result.

    (images, target) : tuple
        If ``return_X_y`` is True; ``(data, target)`` if ``as_frame`` is True
        too.

    Raises
    ------
    ValueError
        If ``subset``, ``timeout``, ``n_retries``, ``delay`` or the scheme of
        ``base_url`` is not one of the values above.
    TypeError
        If a flag is not a bool, ``n_retries`` not an integer, ``base_url``
        not a string or ``data_home`` not a path.
    DataFileError
        If a file in ``data_home`` is damaged or not the expected one: not a
        regular file (a folder, FIFO or device), wrong size, wrong SHA-256.
        The message names the file, what is wrong and the fix. A subclass of
        both ``ValueError`` and ``OSError``.
    FileNotFoundError
        If a file is missing and may not be downloaded
        (``download_if_missing=False`` or ``CATNEURON_OFFLINE``); the message
        says where to put it.
    OSError
        If a file is missing and no mirror delivers it (network errors, HTTP
        errors, refused redirects, timeouts, or a file of the wrong size or
        SHA-256): the message lists each mirror tried and why it failed.
        Nothing is written then. A
        ``NotADirectoryError`` or ``PermissionError`` if ``data_home`` is a
        file or cannot be written to.
    ImportError
        If ``as_frame=True`` and pandas is not installed.

    See Also
    --------
    get_data_home : The folder the files are read from.
    sklearn_catneuron.ImageFlattener : Flatten and scale the images for the
        neuron.

    Notes
    -----
    **Verified before parsed.** Each file is opened once (only a regular file:
    a FIFO, device or folder is refused without blocking), read whole into
    memory (never more than its known size), and its SHA-256 computed on those
    bytes; only bytes that match are parsed, from memory. A file swapped on
    disk meanwhile cannot slip in, and a damaged file is never given to the
    HDF5 parser: it is described from its size, first bytes and checksum.

    **First run.** A missing file is downloaded (about 3 MB for both) from
    ``base_url`` or ``$CATNEURON_DATA_URL`` if set, then from public copies on
    GitHub pinned to a commit (``MIRRORS`` in this module), in that order.
    Redirects are followed to http(s) addresses only, at most 5. The file is
    kept in memory, checked against its size and SHA-256, and only then
    written to a temporary file in ``data_home`` and renamed into place: an
    interrupted or wrong download leaves nothing behind. Worst case, a fetch
    waits for ``timeout * (n_retries + 1)`` seconds per mirror, plus delays.

    **Offline.** Put the two files in a folder (``sha256sum -c`` against the
    checksums in the README) and name it with ``data_home``, ``--data-home``
    or ``$CATNEURON_DATA``; pass ``download_if_missing=False`` or set
    ``CATNEURON_OFFLINE=1`` so that a missing file fails at once.

    Temporary files that a killed process left in ``data_home`` (hidden
    ``.<file>.<random>.part`` files over 10 minutes old) are removed by the
    next call.

    Examples
    --------
    With ``CATNEURON_DATA`` naming the folder that holds the two files:

    >>> from sklearn_catneuron.datasets import fetch_catvnoncat
    >>> train = fetch_catvnoncat(download_if_missing=False)
    >>> train.images.shape, train.data.shape, train.data.dtype
    ((209, 64, 64, 3), (209, 12288), dtype('uint8'))
    >>> int(train.target.sum()), train.target_names.tolist()
    (72, ['non-cat', 'cat'])
    >>> train.feature_names[:4]
    ['pixel_r0_c0_ch0', 'pixel_r0_c0_ch1', 'pixel_r0_c0_ch2', 'pixel_r0_c1_ch0']
    >>> images, target = fetch_catvnoncat(
    ...     subset="test", return_X_y=True, download_if_missing=False
    ... )
    >>> images.shape, int(target.sum())
    ((50, 64, 64, 3), 33)
    >>> X, y = fetch_catvnoncat(
    ...     subset="test", as_frame=True, return_X_y=True, download_if_missing=False
    ... )
    >>> X.shape, y.name, int(X["pixel_r0_c0_ch0"].iloc[0])
    ((50, 12288), 'target', 158)
    """
    flags = {
        "download_if_missing": download_if_missing,
        "return_X_y": return_X_y,
        "as_frame": as_frame,
    }
    _check_parameters(subset, flags, base_url, timeout, n_retries, delay)
    data_home, source = _resolve_data_home(data_home)
    _check_data_home(data_home, source)
    _remove_stale_parts(data_home, [remote.filename for remote, _ in _SUBSETS.values()])
    download = {
        "download_if_missing": download_if_missing,
        "base_url": base_url,
        "timeout": timeout,
        "n_retries": n_retries,
        "delay": delay,
    }
    parts = ("train", "test") if subset == "all" else (subset,)
    images, targets = [], []
    for part in parts:
        remote, n_images = _SUBSETS[part]
        path = os.path.join(data_home, remote.filename)
        try:
            data, where = _read_verified(path, remote), path
        except FileNotFoundError:
            data, where = _fetch_missing(remote, data_home, source, **download)
        arrays = _load_hdf5(data, remote, _datasets(part, n_images), where)
        images.append(arrays[f"{part}_set_x"])
        targets.append(arrays[f"{part}_set_y"].astype(np.int64))
    images = np.concatenate(images) if len(images) > 1 else images[0]
    target = np.concatenate(targets) if len(targets) > 1 else targets[0]
    flat = images.reshape(len(images), -1)
    feature_names = list(_feature_names())
    frame = None
    if as_frame:
        flat, target, frame = _as_frame(flat, target, feature_names)
    if return_X_y:
        return (flat, target) if as_frame else (images, target)
    return Bunch(
        data=flat,
        images=images,
        target=target,
        feature_names=feature_names,
        target_names=np.array(TARGET_NAMES),
        frame=frame,
        DESCR=DESCR,
    )


def _as_frame(flat, target, feature_names):
    """(data, target, frame) as a DataFrame, a Series and both side by side."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "fetch_catvnoncat(as_frame=True) needs pandas; install it "
            "(pip install pandas), or use as_frame=False for NumPy arrays."
        ) from exc
    X = pd.DataFrame(flat, columns=feature_names, copy=False)
    y = pd.Series(target, name="target")
    return X, y, pd.concat([X, y], axis=1)


def _fetch_missing(
    remote,
    data_home,
    source,
    *,
    download_if_missing,
    base_url,
    timeout,
    n_retries,
    delay,
):
    """Download a missing file from the mirrors, save it; (bytes, URL).

    Says what happened and what to do when it cannot.
    """
    by_hand = (
        f"to work offline, put train_catvnoncat.h5 and test_catvnoncat.h5 in "
        f"{data_home} by hand (or point data_home, catneuron --data-home or "
        f"{DATA_HOME_ENV} at a folder that holds a copy)"
    )
    user_mirror = _resolve_base_url(base_url)
    if not download_if_missing:
        raise FileNotFoundError(
            f"{remote.filename} is not in {data_home} and download_if_missing="
            f"False; {by_hand.removeprefix('to work offline, ')}, or allow the "
            f"download ({_first_run(remote)})."
        )
    if _offline():
        raise FileNotFoundError(
            f"{remote.filename} is not in {data_home} and {OFFLINE_ENV} is set, so "
            f"nothing is downloaded; {by_hand.removeprefix('to work offline, ')}, "
            f"or unset {OFFLINE_ENV} to download it ({_first_run(remote)})."
        )
    mirrors = ([user_mirror] if user_mirror else []) + list(MIRRORS)
    if not mirrors:
        raise FileNotFoundError(
            f"{remote.filename} is not in {data_home} and there is no address to "
            f"download it from. Set {DATA_URL_ENV} (or base_url) to the URL of a "
            f"folder that serves both files, or {by_hand}."
        )
    data, url, failures = _fetch_from_mirrors(
        remote, mirrors, timeout=timeout, n_retries=n_retries, delay=delay
    )
    if data is None:
        tried = "; ".join(
            f"({i}) {failure}" for i, failure in enumerate(failures, start=1)
        )
        raise OSError(
            f"Could not download {remote.filename} ({remote.size / 1e6:.1f} MB, "
            f"SHA-256 {remote.checksum}) into {data_home} from any mirror: "
            f"{tried}. Each mirror had {n_retries + 1} tries on network errors, "
            f"each of at most timeout={timeout} s for the whole file. Check the "
            f"connection, or set {DATA_URL_ENV} (or base_url) to another mirror; "
            f"or, {by_hand}."
        )
    path = _save(data, data_home, remote, source)
    logger.info("Downloaded %s from %s to %s", remote.filename, url, path)
    return data, path


def _first_run(remote):
    """What a download does, in a few words, for messages."""
    return (
        f"{remote.filename} is {remote.size / 1e6:.1f} MB, fetched from "
        f"{DATA_URL_ENV} if set, then from public GitHub copies pinned to a commit, "
        "and kept only if its SHA-256 is the recorded one"
    )
