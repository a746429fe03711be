"""Lesson markers and teacher display settings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- `lesson_markers`: moments a teacher marked in a lesson ("quiz", "break"), with an optional label.
- `teacher_settings`: each teacher's time zone, alert level and default class, kept across browser
  sessions ("" is the one local user of a dashboard without a login).

New tables only: existing lessons are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lesson_markers",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], ondelete="CASCADE",
                                name=op.f("fk_lesson_markers_lesson_id_lessons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_markers")),
    )
    op.create_index("ix_lesson_markers_lesson_t", "lesson_markers", ["lesson_id", "t_ms"])
    op.create_table(
        "teacher_settings",
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("alert_level", sa.Float(), nullable=True),
        sa.Column("default_class", sa.String(200), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_teacher_settings")),
    )


def downgrade() -> None:
    op.drop_table("teacher_settings")
    op.drop_index("ix_lesson_markers_lesson_t", table_name="lesson_markers")
    op.drop_table("lesson_markers")
