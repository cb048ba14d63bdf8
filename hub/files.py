"""Private files: what the hub keeps on disk (the SQLite database and its WAL, which
hold phone numbers and WeChat ids; development secrets; run locks) is readable by
the hub's user only — directories 0700, files 0600 — whatever the umask.

:func:`private_dir` creates a directory so, and tightens one an older version left
group- or world-readable; :func:`private_file` does the same for a file. SQLite
gives its ``-wal`` and ``-shm`` files the mode of the database file, so a database
created 0600 keeps its journal 0600 too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "private_tree"]

log = logging.getLogger("hub.files")

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path) -> None:
    """Drop the group and other bits of ``path`` (the owner's stay as they are)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o077:
        return
    if st.st_uid != os.geteuid() or (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
        # not ours, or a shared sticky directory such as /tmp: leave it, say so
        log.warning(
            "%s is readable by other users (mode %o); restrict it", path, st.st_mode & 0o777
        )
        return
    mode = stat.S_IMODE(st.st_mode) & ~0o077
    try:
        os.chmod(path, mode)
    except OSError as exc:
        log.warning("cannot restrict %s (mode %o): %s", path, st.st_mode & 0o777, exc.strerror)
        return
    log.info("restricted %s to mode %o", path, mode)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory only the hub's user can enter (created with its parents)."""
    p = Path(path)
    if not p.is_dir():
        os.makedirs(p, mode=DIR_MODE, exist_ok=True)  # the mode applies to the leaf only
    _tighten(p)
    return p


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600 if missing; restrict it if it exists."""
    p = Path(path)
    try:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(p)
    return p


def private_tree(path: str | os.PathLike[str]) -> None:
    """Restrict the data directory and its entries (what an older version wrote: the
    database and its journal, dev secrets, the run-lock directory). Only one level:
    the directory itself being 0700 already keeps others out of anything deeper."""
    root = private_dir(path)
    with os.scandir(root) as entries:
        for entry in entries:
            _tighten(Path(entry.path))
