"""open_database: URL resolution, SQLite pragmas, and one-line StorageErrors without passwords."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import (
    DEFAULT_URL,
    SQLITE_CACHE_KIB,
    StorageError,
    dispose_engines,
    head_revision,
    open_database,
    resolve_url,
)


def test_resolve_url_prefers_argument_then_environment_then_default(monkeypatch):
    monkeypatch.delenv("CLASSPULSE_DATA_DIR", raising=False)
    monkeypatch.setenv("CLASSPULSE_DB_URL", "sqlite:///env.db")
    assert resolve_url("sqlite:///arg.db") == "sqlite:///arg.db"
    assert resolve_url(None) == "sqlite:///env.db"
    monkeypatch.delenv("CLASSPULSE_DB_URL")
    assert resolve_url(None) == DEFAULT_URL == "sqlite:///data/classpulse.db"


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "sqlite:///data/classpulse.db"),
        ({"CLASSPULSE_DATA_DIR": "/srv/classpulse"}, "sqlite:////srv/classpulse/classpulse.db"),
        ({"CLASSPULSE_DATA_DIR": "school data"}, "sqlite:///school data/classpulse.db"),
        ({"CLASSPULSE_DATA_DIR": "/srv/cp", "CLASSPULSE_DB_URL": "postgresql+psycopg://h/db"},
         "postgresql+psycopg://h/db"),
        ({"CLASSPULSE_DATA_DIR": "  "}, "sqlite:///data/classpulse.db"),
    ],
)
def test_the_default_database_moves_with_the_data_folder_unless_a_url_is_given(environ, url):
    assert resolve_url(None, environ) == url


def test_default_database_file_and_folder_are_created_on_first_use(monkeypatch, tmp_path):
    monkeypatch.delenv("CLASSPULSE_DB_URL", raising=False)
    monkeypatch.delenv("CLASSPULSE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        engine = open_database()
        assert (tmp_path / "data" / "classpulse.db").is_file()
        assert open_database() is engine
    finally:
        dispose_engines()


def test_sqlite_connections_use_wal_foreign_keys_normal_sync_and_busy_timeout(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    finally:
        dispose_engines()


def test_every_pooled_sqlite_connection_gets_the_small_page_cache(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with engine.connect() as first, engine.connect() as second:  # two connections of the pool
            caches = [c.execute(text("PRAGMA cache_size")).scalar() for c in (first, second)]
            assert first.connection.driver_connection is not second.connection.driver_connection
        assert caches == [-SQLITE_CACHE_KIB, -SQLITE_CACHE_KIB] == [-8192, -8192]
    finally:
        dispose_engines()


def _assert_one_line(message: str) -> None:
    assert message and "\n" not in message


def test_malformed_url_gives_one_line_without_password():
    with pytest.raises(StorageError, match="not a valid database URL") as info:
        open_database("postgresql+psycopg://teacher:s3cret@::bad::")
    _assert_one_line(str(info.value))
    assert "s3cret" not in str(info.value)


def test_unknown_database_kind_gives_storage_error():
    with pytest.raises(StorageError, match="unknown database kind"):
        open_database("nosuchdb://user:s3cret@host/db")


def test_unreachable_postgres_names_the_server_but_not_the_password():
    url = "postgresql+psycopg://classpulse:s3cret-pw@127.0.0.1:1/classpulse?connect_timeout=2"
    with pytest.raises(StorageError, match="cannot open database postgresql") as info:
        open_database(url)
    message = str(info.value)
    _assert_one_line(message)
    assert "s3cret-pw" not in message
    assert "127.0.0.1:1" in message and "***" in message


def test_newer_schema_revision_is_refused_with_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    open_database(url)
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zz99_from_the_future'"))
    dispose_engines()
    with pytest.raises(StorageError, match="schema revision zz99_from_the_future, newer") as info:
        open_database(url)
    _assert_one_line(str(info.value))
    assert "zz99_from_the_future" in str(info.value) and "newer" in str(info.value)
    dispose_engines()


def test_without_migrate_an_empty_database_is_reported_not_upgraded(tmp_path):
    with pytest.raises(StorageError, match="python -m storage upgrade"):
        open_database(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
    dispose_engines()


def test_migrate_false_accepts_a_database_at_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    open_database(url)
    dispose_engines()
    engine = open_database(url, migrate=False)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
    dispose_engines()


def test_path_under_a_file_gives_storage_error(tmp_path):
    (tmp_path / "not-a-folder").write_text("x")
    with pytest.raises(StorageError, match="cannot create the database folder"):
        open_database(f"sqlite:///{tmp_path / 'not-a-folder' / 'data' / 'c.db'}")


@pytest.fixture
def read_only_folder(tmp_path) -> Iterator[Path]:
    """A folder nobody may write to: chmod 555, or `chattr +i` when running as root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    # root ignores permission bits; the immutable attribute still stops it.
    made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"running as root and cannot make a read-only folder: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.mark.parametrize("relative", ["c.db", "data/c.db"], ids=["in-folder", "new-subfolder"])
def test_read_only_folder_gives_one_line_storage_error(read_only_folder, relative):
    expected = "database .* cannot be created: its folder .* is not writable|cannot create the database folder"
    with pytest.raises(StorageError, match=expected) as info:
        open_database(f"sqlite:///{read_only_folder / relative}")
    message = str(info.value)
    _assert_one_line(message)
    assert str(read_only_folder) in message
    dispose_engines()
