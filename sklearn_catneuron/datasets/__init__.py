"""Data sets: the cat / non-cat images, fetched, verified and cached on disk."""

from sklearn_catneuron.datasets._base import DataFileError, get_data_home
from sklearn_catneuron.datasets._catvnoncat import fetch_catvnoncat

__all__ = ["DataFileError", "fetch_catvnoncat", "get_data_home"]
