"""Opening the database: URL resolution, one Engine per URL, SQLite pragmas, migrations on start."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from storage.masking import mask_secrets, mask_url
from storage.sqlite_files import read_only_reason, sqlite_path

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///data/classpulse.db"
URL_ENV = "CLASSPULSE_DB_URL"
# The data folder (engine logs, uploads, the running-engine file) holds the default database too:
# CLASSPULSE_DB_URL wins over it; CLASSPULSE_DATA_DIR alone moves the SQLite file with the folder.
DATA_DIR_ENV = "CLASSPULSE_DATA_DIR"
DEFAULT_DATA_DIR = "data"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Each connection's page cache, in KiB (SQLite's negative cache_size). Every pooled connection keeps
# its own cache, filled as the file grows over a school day, so this is memory each process holds:
# 64 MiB made the engine's writer grow about 20 MB an hour (issue #22). 8 MiB holds the pages a
# lesson's inserts and the live queries touch; the OS page cache keeps the rest of the file.
SQLITE_CACHE_KIB = 8 * 1024
# The recorder's own connection only appends (the right edges of a few B-trees), yet it keeps every
# page it wrote until its cache is full: at 8 MiB an engine grew ~20-30 MB/h for the first half hour
# of each lesson (the soak, docs/engine.md). 1 MiB is full within minutes and costs the writes nothing.
SQLITE_WRITER_CACHE_KIB = 1024

# Execution option that turns a SQLite transaction into BEGIN IMMEDIATE (takes the write lock up front).
_WRITE_OPTION = "classpulse_write"
# Any 64-bit constant; serialises concurrent `upgrade head` runs against one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x436C617373507573

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class StorageError(Exception):
    """A storage problem a person can act on; the message is one line and never holds a password."""


def default_url(environ: Mapping[str, str] | None = None) -> str:
    """The SQLite file in the data folder: $CLASSPULSE_DATA_DIR/classpulse.db, else data/classpulse.db."""
    environ = os.environ if environ is None else environ
    data_dir = (environ.get(DATA_DIR_ENV) or "").strip()
    if not data_dir:
        return DEFAULT_URL
    return f"sqlite:///{Path(data_dir).expanduser().as_posix()}/classpulse.db"


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The database URL to use: the argument, else $CLASSPULSE_DB_URL, else the data folder's SQLite file."""
    if url:
        return url
    environ = os.environ if environ is None else environ
    return environ.get(URL_ENV) or default_url(environ)


def safe_url(url: str | URL) -> str:
    """The URL as text with the password (user info or query) masked, for messages and logs."""
    if isinstance(url, URL):
        return mask_url(url.render_as_string(hide_password=True))
    try:
        return mask_url(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return mask_url(url)


def _one_line(message: str, password: str | None) -> str:
    """First meaningful line of a message, with any password (as typed or percent-encoded) and
    any secret in a URL it quotes masked."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    first = lines[0] if lines else "unknown error"
    return mask_secrets(first, password)


def _reason(exc: BaseException, password: str | None) -> str:
    """A short human reason for a driver or OS error."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return _one_line(str(exc.orig), password)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _one_line(str(exc), password)


def open_database(url: str | None = None, *, migrate: bool = True) -> Engine:
    """The Engine for a URL (created once), checked reachable and brought to the latest schema."""
    raw = resolve_url(url)
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise StorageError(f"not a valid database URL: {safe_url(raw)}") from exc
    key = parsed.render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create_engine(parsed)
            try:
                _check_schema(engine, migrate=migrate)
            except BaseException:
                engine.dispose()
                raise
            _engines[key] = engine
        elif migrate:
            _check_schema(engine, migrate=True)
    return engine


def dispose_engines() -> None:
    """Close every cached Engine (tests, and before a process forks)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_sqlite(engine: Engine | Connection) -> bool:
    """Whether the Engine or Connection talks to SQLite."""
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection inside one write transaction (BEGIN IMMEDIATE on SQLite), committed on exit:
    a new one of an Engine, or the Connection given (held by its caller, e.g. the recorder's).

    A SQLite file this user may not write raises StorageError ("the database ... is read-only: ...").
    """
    try:
        if isinstance(bind, Connection):
            bind.execution_options(**{_WRITE_OPTION: True})
            with bind.begin():
                yield bind
            return
        with bind.connect() as conn:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        readonly = read_only_error(bind.engine.url, exc)
        if readonly is None:
            raise
        raise readonly from exc


def _is_read_only(exc: DBAPIError) -> bool:
    """Whether a SQLite error says the file may not be written (or opened for writing)."""
    name = getattr(exc.orig, "sqlite_errorname", "") or ""
    text = str(exc.orig).lower()
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or any(
        words in text for words in ("readonly database", "unable to open database file")
    )


def read_only_error(url: URL, exc: BaseException) -> StorageError | None:
    """A one-line StorageError when `exc` is SQLite refusing to write a file this user may not
    write; None for anything else."""
    path = sqlite_path(url)
    if path is None or not isinstance(exc, DBAPIError) or not _is_read_only(exc):
        return None
    reason = read_only_reason(path) or _reason(exc, None)
    if not path.exists():
        return StorageError(f"the database {path} cannot be created: {reason}")
    return StorageError(f"the database {path} is read-only: {reason}")


def check_writable(engine: Engine) -> None:
    """Raise StorageError (one line) when this process may not write the engine's SQLite file;
    for a writer that should stop before it starts (the capture engine). Other databases pass."""
    path = sqlite_path(engine.url)
    reason = None if path is None else read_only_reason(path)
    if reason is not None:
        raise StorageError(f"the database {path} is read-only: {reason}")


def sqlite_file_engine(path: Path) -> Engine:
    """A new Engine for a SQLite file with ClassPulse's pragmas, not cached (a recovery file)."""
    return _create_sqlite_engine(make_url(f"sqlite:///{Path(path).as_posix()}"))


def _create_engine(url: URL) -> Engine:
    """A new Engine for the URL, with SQLite's folder created and pragmas installed."""
    password = url.password
    try:
        if url.get_backend_name() == "sqlite":
            return _create_sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise StorageError(f"unknown database kind in URL {safe_url(url)}") from exc
    except (SQLAlchemyError, ImportError) as exc:
        raise StorageError(
            f"cannot use database {safe_url(url)}: {_reason(exc, password)}"
        ) from exc


def _create_sqlite_engine(url: URL) -> Engine:
    """A SQLite Engine: folder created, WAL, foreign keys, busy timeout, explicit BEGIN."""
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the database folder {folder}: {exc.strerror or exc}"
            ) from exc
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection pragmas; hand BEGIN over to SQLAlchemy so we choose DEFERRED or IMMEDIATE."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def set_cache_kib(conn: Connection, kib: int) -> None:
    """Set a SQLite connection's page cache (KiB); outside any transaction, on the driver's connection."""
    conn.connection.driver_connection.execute(f"PRAGMA cache_size = -{int(kib)}")


def _sqlite_on_begin(conn: Connection) -> None:
    """Writes take the lock at BEGIN (no mid-transaction upgrade deadlock); reads stay deferred."""
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic Config pointing at storage/migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision stamped in the database (None when empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _check_schema(engine: Engine, *, migrate: bool) -> None:
    """Refuse newer schemas; upgrade to head (or insist on head when not migrating)."""
    url = engine.url
    try:
        if migrate:
            upgrade_database(engine)
        else:
            _verify_at_head(engine)
    except StorageError:
        raise
    except (SQLAlchemyError, OSError) as exc:
        readonly = read_only_error(url, exc)
        if readonly is not None:
            raise readonly from exc
        raise StorageError(f"cannot open database {safe_url(url)}: {_reason(exc, url.password)}") from exc


def _refuse_unknown_revision(conn: Connection, script: ScriptDirectory, url: URL) -> str | None:
    """Raise StorageError when the database carries a revision this code does not know."""
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return None
    try:
        known = script.get_revision(current)
    except CommandError:
        known = None
    if known is None:
        raise StorageError(
            f"database {safe_url(url)} has schema revision {current}, newer than this ClassPulse "
            f"knows (latest {script.get_current_head()}); update ClassPulse or use another database"
        )
    return current


def _verify_at_head(engine: Engine) -> None:
    """Raise StorageError unless the schema is exactly at head."""
    script = ScriptDirectory.from_config(_alembic_config())
    with engine.connect() as conn:
        current = _refuse_unknown_revision(conn, script, engine.url)
    if current != script.get_current_head():
        raise StorageError(
            f"database {safe_url(engine.url)} is at schema revision {current or 'none'}, "
            f"needs {script.get_current_head()}; run `python -m storage upgrade`"
        )


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction for Alembic; on SQLite with foreign keys off around it.

    Batch mode copies a table and drops the old one, and with foreign keys on that DROP deletes
    every row referencing it (ON DELETE CASCADE): a lesson's samples and observations. So, as
    SQLite's ALTER TABLE procedure asks, they are off (set on the driver's connection: the pragma
    is a no-op inside a transaction), and `foreign_key_check` must pass before the commit.
    """
    with engine.connect() as conn:
        sqlite = is_sqlite(engine)
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
        try:
            conn.execution_options(**{_WRITE_OPTION: True})
            with conn.begin():
                before = MigrationContext.configure(conn).get_current_revision()
                yield conn
                if sqlite and MigrationContext.configure(conn).get_current_revision() != before:
                    _check_foreign_keys(conn, engine.url)
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(conn: Connection, url: URL) -> None:
    """Raise StorageError (so the migration rolls back) when a row references no row."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = ", ".join(sorted({str(row[0]) for row in broken}))
        raise StorageError(
            f"after migrating {safe_url(url)}, {len(broken)} row(s) of {tables} reference no "
            "lesson; the migration was rolled back"
        )


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run Alembic `upgrade` in one write transaction (serialised across processes)."""
    with _migration_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        script = ScriptDirectory.from_config(_alembic_config())
        _refuse_unknown_revision(conn, script, engine.url)
        command.upgrade(_alembic_config(conn), revision)


def downgrade_database(engine: Engine, revision: str) -> None:
    """Run Alembic `downgrade` to a revision (tests and rollbacks)."""
    with _migration_transaction(engine) as conn:
        command.downgrade(_alembic_config(conn), revision)
