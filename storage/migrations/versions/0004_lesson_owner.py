"""Lessons name their owner: the account that started them (NULL: no login, or older lessons).

Revision ID: 0004
Revises: 0003
Create Date: 2026-06-02

A nullable column, so every existing lesson stays as it was (owned by nobody: visible to admins
and to the local user of a dashboard without a login). The index serves a teacher's lesson list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
        batch.create_index(op.f("ix_lessons_owner_started"), ["owner", "started_at"])


def downgrade() -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.drop_index(op.f("ix_lessons_owner_started"))
        batch.drop_column("owner")
