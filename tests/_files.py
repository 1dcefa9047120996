"""Bad files for the tests: damaged data files, hostile pictures and models.

Shared by ``test_datasets.py``, ``test_bad_input.py`` and ``test_cli.py`` (a
helper module, not a test module: pytest puts ``tests/`` on ``sys.path``).
"""

import os
import pickle
import struct
import zlib
from pathlib import Path

import h5py
import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# -- damaged data files (each takes the path of a copy of train_catvnoncat.h5) --


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def not_hdf5(path):
    path.write_text("<!DOCTYPE html><title>404</title>" * 100)


def empty(path):
    path.write_bytes(b"")


def signature_only(path):
    path.write_bytes(b"\x89HDF\r\n\x1a\n")


def folder(path):
    path.unlink()
    path.mkdir()


def flip_a_pixel(path):
    with h5py.File(path, "r+") as f:
        f["train_set_x"][0, 0, 0, 0] ^= 1


def drop_key(path):
    with h5py.File(path, "r+") as f:
        del f["train_set_y"]


def replace_dataset(key, data):
    def damage(path):
        with h5py.File(path, "r+") as f:
            del f[key]
            f[key] = data

    return damage


def key_as_group(path):
    with h5py.File(path, "r+") as f:
        del f["train_set_y"]
        f.create_group("train_set_y")


def huge_images(path):
    """Declare 10**9 images: 12 TB if read, a few KB on disk (nothing written)."""
    with h5py.File(path, "r+") as f:
        del f["train_set_x"]
        f.create_dataset(
            "train_set_x", shape=(10**9, 64, 64, 3), dtype=np.uint8, chunks=True
        )


def fifo(path):
    """A named pipe in place of the file: opening it for reading would block."""
    path.unlink()
    os.mkfifo(path)


def corrupt_superblock(path):
    """Flip bytes of the HDF5 superblock, keeping the signature and the size."""
    data = bytearray(path.read_bytes())
    for position in (8, 9, 24, 40):
        data[position] ^= 0x5A
    path.write_bytes(bytes(data))


# The fetcher never parses a file whose bytes are not the recorded ones, so a
# rewritten file is described by its size or its checksum, not its contents.
_NOT_THE_FILE = (
    r"has (SHA-256 [0-9a-f]{64}, expected fbe56ab6[0-9a-f]{56}|"
    r"\d+ bytes, expected 2572022)"
)

# name: (damage, fragment of the error message)
DAMAGES = {
    "folder": (folder, "is a folder, not a file"),
    "fifo": (fifo, r"is a FIFO \(named pipe\), not a file"),
    "truncated": (truncate, r"is truncated \(1286011 of 2572022 bytes\)"),
    "not-hdf5": (
        not_hdf5,
        r"is not an HDF5 file \(it has 3300 bytes and starts with b'<!DOCTYP'\)",
    ),
    "empty": (empty, "is empty"),
    "signature-only": (
        signature_only,
        r"is truncated \(8 of 2572022 bytes\)",
    ),
    "checksum": (flip_a_pixel, "has SHA-256 [0-9a-f]{64}, expected fbe56ab6"),
    "corrupt-superblock": (
        corrupt_superblock,
        "has SHA-256 [0-9a-f]{64}, expected fbe56ab6",
    ),
    "missing-key": (drop_key, _NOT_THE_FILE),
    "key-is-a-group": (key_as_group, _NOT_THE_FILE),
    "wrong-shape": (
        replace_dataset("train_set_x", np.zeros((209, 32, 32, 3), np.uint8)),
        _NOT_THE_FILE,
    ),
    "wrong-dtype": (
        replace_dataset("train_set_x", np.zeros((209, 64, 64, 3), np.float32)),
        _NOT_THE_FILE,
    ),
    "labels-as-floats": (
        replace_dataset("train_set_y", np.zeros(209, np.float64)),
        _NOT_THE_FILE,
    ),
    "labels-2-D": (
        replace_dataset("train_set_y", np.zeros((1, 209), np.int64)),
        _NOT_THE_FILE,
    ),
    "class-names-as-ints": (
        replace_dataset("list_classes", np.array([0, 1])),
        _NOT_THE_FILE,
    ),
    "billion-images": (huge_images, _NOT_THE_FILE),
}


# -- pictures ----------------------------------------------------------------


def png_header(width, height):
    """A PNG that declares ``width`` x ``height`` RGB pixels and holds none.

    Enough for Pillow's decompression-bomb check, which reads only the header.
    """

    def chunk(kind, data):
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# -- model files that would run code -----------------------------------------


class _TouchOnLoad:
    """Unpickling this creates the file ``marker``: a stand-in for any code."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return Path.touch, (self.marker,)


def code_running_pickle(marker):
    """Pickle bytes whose loading creates ``marker`` (and would run anything)."""
    return pickle.dumps(_TouchOnLoad(marker))
