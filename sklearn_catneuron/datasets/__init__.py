"""Data sets: the cat / non-cat images, fetched, checked and cached on disk."""

from sklearn_catneuron.datasets._base import get_data_home
from sklearn_catneuron.datasets._catvnoncat import fetch_catvnoncat

__all__ = ["fetch_catvnoncat", "get_data_home"]
