"""Students who join from their browser, and a key on every sample so no write stores it twice.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

- `samples.stream`: who measured the sample (0 the capture engine, N the student who joined as
  track N), with UNIQUE (lesson_id, stream, t_ms).
- `observations`: UNIQUE (lesson_id, track_id, t_ms).
  Both keys make a retried write idempotent (the recorder inserts or ignores). Rows already
  stored twice (the engine's retry after a COMMIT lost in flight) are deleted first, keeping the
  lowest id, and the rollups of the lessons that had such rows are recomputed.
- `join_lessons` (a lesson's join code) and `join_students` (who joined, by the SHA-256 of
  their token).

The values are written out here: a migration keeps the schema of its own day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STATES = ("attentive", "looking_away", "eyes_closed", "absent", "camera_off")
_EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_SLOT_MS = 10_000


def _delete_duplicates(table: str, key: tuple[str, ...]) -> None:
    """Delete rows whose key another row with a lower id already holds.

    The keys held twice are found first in one grouping pass (rare: a batch stored twice after a
    lost COMMIT), then only their later copies are deleted. A `NOT IN (SELECT MIN(id) ...)` over a
    school's whole table would not fit PostgreSQL's work_mem and be probed row by row.
    """
    columns = ", ".join(key)
    bind = op.get_bind()
    doubled = bind.execute(sa.text(
        f"SELECT {columns}, MIN(id) FROM {table} GROUP BY {columns} HAVING COUNT(*) > 1"
    )).all()  # fmt: skip
    match = " AND ".join(f"{name} = :{name}" for name in key)
    delete = sa.text(f"DELETE FROM {table} WHERE {match} AND id > :first_id")
    for row in doubled:
        bind.execute(delete, {**dict(zip(key, row[:-1], strict=True)), "first_id": row[-1]})


def _lessons_with_duplicate_observations() -> list[int]:
    rows = op.get_bind().execute(sa.text(
        "SELECT DISTINCT lesson_id FROM observations "
        "GROUP BY lesson_id, track_id, t_ms HAVING COUNT(*) > 1"
    ))  # fmt: skip
    return [int(lesson_id) for (lesson_id,) in rows]


def _rebuild_rollups(lesson_ids: list[int]) -> None:
    """Recompute the rollups of these lessons from their (now unique) observations."""
    if not lesson_ids:
        return
    obs = sa.table("observations", *(sa.column(name) for name in (
        "lesson_id", "t_ms", "track_id", "state", "engagement", "expression",
        *(f"p_{e}" for e in _EXPRESSIONS))))  # fmt: skip
    rollups = sa.table("observation_rollups", sa.column("lesson_id"))
    width = sa.literal_column(str(_SLOT_MS), sa.BigInteger)
    slot = (obs.c.t_ms // width) * width
    live = obs.c.state != "camera_off"

    def count_if(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))

    source = (
        sa.select(
            obs.c.lesson_id, slot, obs.c.track_id, count_if(live),
            sa.func.sum(sa.case((live, obs.c.engagement), else_=0.0)),
            *(count_if(obs.c.state == state) for state in _STATES),
            sa.func.count(obs.c.p_neutral),
            *(sa.func.sum(obs.c[f"p_{e}"]) for e in _EXPRESSIONS),
            *(count_if(obs.c.expression == e) for e in _EXPRESSIONS),
        )
        .where(obs.c.lesson_id.in_(lesson_ids))
        .group_by(obs.c.lesson_id, slot, obs.c.track_id)
    )
    names = ["lesson_id", "slot_ms", "track_id", "n", "engagement_sum",
             *(f"n_{state}" for state in _STATES), "n_probabilities",
             *(f"p_{e}_sum" for e in _EXPRESSIONS), *(f"n_{e}" for e in _EXPRESSIONS)]  # fmt: skip
    target = sa.table("observation_rollups", *(sa.column(name) for name in names))
    op.execute(rollups.delete().where(rollups.c.lesson_id.in_(lesson_ids)))
    op.execute(target.insert().from_select(names, source))


def upgrade() -> None:
    _delete_duplicates("samples", ("lesson_id", "t_ms"))
    doubled = _lessons_with_duplicate_observations()
    _delete_duplicates("observations", ("lesson_id", "track_id", "t_ms"))
    _rebuild_rollups(doubled)
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("stream", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint(op.f("ck_samples_stream_nonnegative"), "stream >= 0")
        batch.create_unique_constraint(
            "uq_samples_lesson_stream_t", ["lesson_id", "stream", "t_ms"]
        )
    with op.batch_alter_table("observations") as batch:
        batch.create_unique_constraint(
            "uq_observations_lesson_track_t", ["lesson_id", "track_id", "t_ms"]
        )
    op.create_table(
        "join_lessons",
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("ask_names", sa.Boolean(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], ondelete="CASCADE",
                                name=op.f("fk_join_lessons_lesson_id_lessons")),
        sa.PrimaryKeyConstraint("lesson_id", name=op.f("pk_join_lessons")),
        sa.UniqueConstraint("code", name=op.f("uq_join_lessons_code")),
    )
    op.create_table(
        "join_students",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(40), nullable=True),
        sa.Column("joined_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("left_at", UTCDateTime(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("track_id >= 1", name=op.f("ck_join_students_track_positive")),
        sa.ForeignKeyConstraint(["lesson_id"], ["join_lessons.lesson_id"], ondelete="CASCADE",
                                name=op.f("fk_join_students_lesson_id_join_lessons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_students")),
        sa.UniqueConstraint("lesson_id", "track_id", name="uq_join_students_lesson_track"),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_join_students_token_sha256")),
    )


def downgrade() -> None:
    op.drop_table("join_students")
    op.drop_table("join_lessons")
    with op.batch_alter_table("observations") as batch:
        batch.drop_constraint("uq_observations_lesson_track_t", type_="unique")
    with op.batch_alter_table("samples") as batch:
        batch.drop_constraint("uq_samples_lesson_stream_t", type_="unique")
        batch.drop_constraint(op.f("ck_samples_stream_nonnegative"), type_="check")
        batch.drop_column("stream")
