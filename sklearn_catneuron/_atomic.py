"""Giving a finished temporary file its final name, atomically and durably."""

import os

__all__ = ["publish"]


def publish(tmp_name, path, *, force):
    """Rename the synced file ``tmp_name`` to ``path`` in the same folder.

    The file gets the permissions a new file would (``mkstemp`` makes it
    private). An existing ``path`` is replaced only when ``force`` is true;
    otherwise the file is hard-linked into place, which fails if a file of
    that name exists or appeared meanwhile (where hard links are missing, the
    check and the rename are two steps). The folder is synced afterwards, so
    the new name survives a crash where the OS allows it.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False; its message is the path.
    OSError
        If the file cannot be renamed.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    if force:
        os.replace(tmp_name, path)
    else:
        try:
            os.link(tmp_name, path)  # atomic, and fails if path exists
        except FileExistsError:
            raise FileExistsError(str(path)) from None
        except (OSError, AttributeError):  # no hard links on this file system
            if os.path.exists(path):
                raise FileExistsError(str(path)) from None
            os.replace(tmp_name, path)
    _sync_folder(os.path.dirname(os.path.abspath(path)))


def _sync_folder(folder):
    """Make the rename durable where the OS allows syncing a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
