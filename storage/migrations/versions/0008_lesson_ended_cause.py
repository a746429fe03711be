"""Why a lesson ended, when its status alone does not say it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

- `lessons.ended_cause` (text, NULL): the cause of a `failed` (or `interrupted`) lesson in a few
  words — `disk full`, `database file removed` — so it reads "failed: disk full". Written by the
  engine when the database takes it, else by whoever settles the dead engine's lesson from its
  last event (`storage.lessons.record_cause`). NULL for every lesson stored before, and whenever
  the status says it all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.add_column(sa.Column("ended_cause", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.drop_column("ended_cause")
