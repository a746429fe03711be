"""What the file system says about a SQLite database: where its file is, and whether this process
may write it. OS facts only; storage.db turns them into one-line errors."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

__all__ = ["read_only_reason", "sqlite_path"]


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for another database, an in-memory one or a `file:` URI."""
    url = make_url(url) if isinstance(url, str) else url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def _user_name() -> str:
    """Who this process runs as (its effective user), for messages."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # Windows, or a uid without a name
        return getpass.getuser()


def read_only_reason(path: Path) -> str | None:
    """Why this process may not write the SQLite file at `path` (or create it), None when it may.

    SQLite writes its -wal and -shm files beside the database, so the folder must be writable too.
    Root may write whatever the file modes say, except on a read-only file system.
    """
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"it is on a read-only file system ({folder})"
    except (AttributeError, OSError):  # no statvfs (Windows), or a folder that is not there
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return f"the file is not writable by user {_user_name()}"
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return (f"its folder {folder} is not writable by user {_user_name()} "
                "(SQLite writes its -wal and -shm files beside the database)")  # fmt: skip
    return None
