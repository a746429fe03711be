"""Still pictures and tracks that are not students.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

- observations.state may be `camera_off` (a face that does not change: a profile photo, a frozen
  video); rollups count such rows in `n_camera_off`, apart from `n`.
- `excluded_tracks`: the tracks a teacher marked "not a student", left out of the lesson's
  aggregates.

The values are written out here: a migration keeps the schema of its own day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BEFORE = ("attentive", "looking_away", "eyes_closed", "absent")
_AFTER = (*_BEFORE, "camera_off")


def _state_check(values: tuple[str, ...]) -> str:
    return "state IN ({})".format(", ".join(f"'{v}'" for v in values))


def _replace_state_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_constraint(op.f("ck_observations_state"), type_="check")
        batch.create_check_constraint(op.f("ck_observations_state"), _state_check(values))


def upgrade() -> None:
    _replace_state_check(_AFTER)
    with op.batch_alter_table("observation_rollups") as batch:
        batch.add_column(sa.Column("n_camera_off", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "excluded_tracks",
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("excluded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], ondelete="CASCADE",
                                name=op.f("fk_excluded_tracks_lesson_id_lessons")),
        sa.PrimaryKeyConstraint("lesson_id", "track_id", name=op.f("pk_excluded_tracks")),
    )


def downgrade() -> None:
    op.drop_table("excluded_tracks")
    with op.batch_alter_table("observation_rollups") as batch:
        batch.drop_column("n_camera_off")
    # The older schema has no word for a still picture: its rows go, as a photo is no student.
    observations = sa.table("observations", sa.column("state", sa.String))
    op.execute(observations.delete().where(observations.c.state == "camera_off"))
    _replace_state_check(_BEFORE)
