"""Atomic file writes: the one way the library puts a file on disk.

A file is written under a hidden temporary name in the destination folder
(same filesystem) and renamed over the destination only when complete, so a
crash or Ctrl-C never leaves a half-written file under the real name.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path):
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    Write the temporary file inside the ``with`` block (by name or by
    opening it). When the block raises, the temporary file is removed and
    ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        The destination file (its folder must exist).

    Yields
    ------
    tmp : Path
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                               prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
