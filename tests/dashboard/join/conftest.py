"""Fixtures of the join tests: storage's databases (a SQLite file, a PostgreSQL schema)."""

from tests.storage.conftest import db_url, engine, pg_schema_url  # noqa: F401  (fixtures)
