"""Atomic file writes: the one way the library puts a file on disk.

A file is written under a hidden temporary name in the destination folder
(same filesystem) and renamed over the destination only when complete, so a
crash or Ctrl-C never leaves a half-written file under the real name.

A process killed outright (SIGKILL, power loss) cannot remove its temporary
file, so every temporary name carries the writer's machine and process id
(``.<name>.<host>-<pid>-<random>.tmp``, temporary folders
``.<tag>-tmp-<host>-<pid>-<random>``; ``<host>`` is a 6-digit hash of the host
name), and the next write into the same folder removes the ones of this
machine whose process no longer runs (:func:`remove_stale_temps`). A
temporary of a live writer is never touched, so two concurrent writers do not
break each other. Temporaries whose process cannot be checked (written by
another machine or container sharing the folder, or names from before this
scheme) are removed only once they are a day old.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_write", "remove_stale_temps", "temp_dir"]

#: temporaries whose writer cannot be checked are stale after this many seconds
STALE_AGE_S = 24 * 3600
#: ``.<name>.<host>-<pid>-<8 random>.tmp`` (atomic_write); the form without host and
#: pid is the older ``tempfile.mkstemp`` name ``.<name>.<8 random>.tmp``
_FILE_TMP = re.compile(r"^\..+\.(?:([0-9a-f]{6})-(\d+)-)?[a-z0-9_]{8}\.tmp$")
#: ``.<tag>-tmp-<host>-<pid>-<12 hex>`` (temp_dir), ``.<tag>-tmp-<12 hex>`` before, and
#: the ``.old-<host>-<pid>-<12 hex>`` folders a replaced output is moved to before removal
_DIR_TMP = re.compile(r"^\.(?:.+-tmp|old)-(?:([0-9a-f]{6})-(\d+)-)?[0-9a-f]{12}$")


def _host():
    """6 hex digits naming this machine (container) in temporary names."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


def _owner():
    """``<host>-<pid>``: the writer part of this process's temporary names."""
    return f"{_host()}-{os.getpid()}"


def _pid_alive(pid):
    """False only when no process ``pid`` runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # it exists (another user's) or cannot be checked: keep it
    return True


def _is_stale(path, host, pid):
    if host == _host() and pid is not None and not _pid_alive(int(pid)):
        return True
    try:
        return time.time() - path.lstat().st_mtime > STALE_AGE_S
    except OSError:
        return False


def remove_stale_temps(folder):
    """Remove temporaries of killed writers from ``folder``; return what was removed.

    Only names this module creates are considered; of those, a file or
    folder is removed when the process named in it ran on this machine and
    no longer runs, or, when that cannot be checked, once it is older than
    :data:`STALE_AGE_S`. Errors (a folder that vanished, no permission) are
    ignored: cleaning is a courtesy, not part of the write.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    removed : list of Path
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _FILE_TMP.match(entry.name)
        is_dir = False
        if m is None:
            m = _DIR_TMP.match(entry.name)
            is_dir = m is not None
        if m is None:
            continue
        path = Path(entry.path)
        try:
            if not _is_stale(path, m.group(1), m.group(2)):
                continue
            if is_dir and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            elif not is_dir and not entry.is_dir(follow_symlinks=False):
                path.unlink()
            else:
                continue
            removed.append(path)
        except OSError:
            pass
    return removed


def temp_dir(parent, tag):
    """Create a hidden temporary folder ``.<tag>-tmp-<host>-<pid>-<random>`` in ``parent``.

    Stale temporaries of killed writers in ``parent`` are removed first
    (:func:`remove_stale_temps`).
    """
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(parent)
    path = parent / f".{tag}-tmp-{_owner()}-{os.urandom(6).hex()}"
    path.mkdir()
    return path


def aside_name(parent):
    """A fresh ``.old-<host>-<pid>-<random>`` path in ``parent`` to move a replaced output to."""
    return Path(parent) / f".old-{_owner()}-{os.urandom(6).hex()}"


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    Write the temporary file inside the ``with`` block (by name or by
    opening it). When the block raises, the temporary file is removed and
    ``path`` is left as it was. Temporaries left in the folder by killed
    writers are removed first (:func:`remove_stale_temps`).

    Parameters
    ----------
    path : str or Path
        The destination file (its folder must exist).

    Yields
    ------
    tmp : Path
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temps(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{_owner()}-", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
