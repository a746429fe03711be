"""Lesson statuses say how a lesson ended: finished, source_lost, failed, interrupted.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-20

Widens the lessons.status CHECK constraint (ck_lessons_status). SQLite cannot alter a constraint,
so batch mode copies the table; the constraint's stable name (the naming convention) lets it be
dropped. The values are written out here: a migration keeps the schema of its own day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BEFORE = ("running", "finished", "interrupted")
_AFTER = ("running", "finished", "source_lost", "failed", "interrupted")


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{v}'" for v in values))


def _replace_status_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("lessons") as batch:
        batch.drop_constraint(op.f("ck_lessons_status"), type_="check")
        batch.create_check_constraint(op.f("ck_lessons_status"), _status_check(values))


def upgrade() -> None:
    _replace_status_check(_AFTER)


def downgrade() -> None:
    # The older schema has no word for a lesson that ended early: it reads as interrupted.
    lessons = sa.table("lessons", sa.column("status", sa.String))
    op.execute(
        lessons.update()
        .where(lessons.c.status.in_(("source_lost", "failed")))
        .values(status="interrupted")
    )
    _replace_status_check(_BEFORE)
