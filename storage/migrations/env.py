"""Alembic environment: run on the connection ClassPulse hands over, or on -x url=... from the CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import storage.accounts  # noqa: F401  (registers the accounts table on Base)
from storage.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
