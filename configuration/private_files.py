"""Files the service creates that hold personal data (users' e-mails in the SQLite stores, the
development signing key) are readable by the service's own user only: folders 0700, files 0600.

SQLite gives a database's journal, WAL and shared-memory files the mode of the database file,
so creating that file 0600 before SQLite opens it covers them all. A file that already exists
keeps the mode an operator gave it; when others may read it, a warning says how to fix that.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def private_folder(path: Path) -> None:
    """The folder, created 0700 when missing (missing parents get the usual mode)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """The file in a private folder, created empty and 0600 when missing."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s holds personal data and is readable by others (mode %o): chmod 600 it", path, mode)
