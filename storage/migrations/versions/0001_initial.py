"""Initial schema: lessons, samples, observations.

Revision ID: 0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STATE_NAMES = ("attentive", "looking_away", "eyes_closed", "absent")
_EXPRESSION_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_STATES = "'attentive', 'looking_away', 'eyes_closed', 'absent'"
_EXPRESSIONS = "'angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'"


def upgrade() -> None:
    op.create_table(
        "lessons",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sample_rate_hz", sa.Float(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=True),
        sa.Column("attention_only", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lessons")),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'interrupted')", name=op.f("ck_lessons_status")
        ),
        sa.CheckConstraint("sample_rate_hz > 0", name=op.f("ck_lessons_sample_rate_positive")),
    )
    op.create_index("ix_lessons_group_started", "lessons", ["group_name", "started_at"])
    op.create_index("ix_lessons_started", "lessons", ["started_at"])

    op.create_table(
        "samples",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("faces_detected", sa.Integer(), nullable=False),
        sa.Column("processing_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], ondelete="CASCADE",
            name=op.f("fk_samples_lesson_id_lessons"),
        ),
        sa.CheckConstraint("faces_detected >= 0", name=op.f("ck_samples_faces_nonnegative")),
    )
    op.create_index("ix_samples_lesson_ts", "samples", ["lesson_id", "ts"])

    op.create_table(
        "observations",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("engagement", sa.Float(), nullable=False),
        sa.Column("expression", sa.String(16), nullable=True),
        sa.Column("box_x", sa.Integer(), nullable=True),
        sa.Column("box_y", sa.Integer(), nullable=True),
        sa.Column("box_w", sa.Integer(), nullable=True),
        sa.Column("box_h", sa.Integer(), nullable=True),
        sa.Column("p_angry", sa.Float(), nullable=True),
        sa.Column("p_disgust", sa.Float(), nullable=True),
        sa.Column("p_fear", sa.Float(), nullable=True),
        sa.Column("p_happy", sa.Float(), nullable=True),
        sa.Column("p_sad", sa.Float(), nullable=True),
        sa.Column("p_surprise", sa.Float(), nullable=True),
        sa.Column("p_neutral", sa.Float(), nullable=True),
        sa.Column("yaw_deg", sa.Float(), nullable=True),
        sa.Column("pitch_deg", sa.Float(), nullable=True),
        sa.Column("roll_deg", sa.Float(), nullable=True),
        sa.Column("eye_openness", sa.Float(), nullable=True),
        sa.Column("gaze_offset", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], ondelete="CASCADE",
            name=op.f("fk_observations_lesson_id_lessons"),
        ),
        sa.CheckConstraint(f"state IN ({_STATES})", name=op.f("ck_observations_state")),
        sa.CheckConstraint(
            f"expression IS NULL OR expression IN ({_EXPRESSIONS})",
            name=op.f("ck_observations_expression"),
        ),
        sa.CheckConstraint(
            "engagement >= 0 AND engagement <= 100", name=op.f("ck_observations_engagement_range")
        ),
    )
    op.create_index("ix_observations_lesson_ts", "observations", ["lesson_id", "ts"])
    op.create_index(
        "ix_observations_lesson_track_ts", "observations", ["lesson_id", "track_id", "ts"]
    )

    op.create_table(
        "observation_rollups",
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("slot_ms", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("engagement_sum", sa.Float(), nullable=False),
        *(sa.Column(f"n_{state}", sa.Integer(), nullable=False) for state in _STATE_NAMES),
        sa.Column("n_probabilities", sa.Integer(), nullable=False),
        *(sa.Column(f"p_{name}_sum", sa.Float(), nullable=True) for name in _EXPRESSION_NAMES),
        *(sa.Column(f"n_{name}", sa.Integer(), nullable=False) for name in _EXPRESSION_NAMES),
        sa.PrimaryKeyConstraint("lesson_id", "slot_ms", "track_id", name=op.f("pk_observation_rollups")),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lessons.id"], ondelete="CASCADE",
            name=op.f("fk_observation_rollups_lesson_id_lessons"),
        ),
    )


def downgrade() -> None:
    op.drop_table("observation_rollups")
    op.drop_index("ix_observations_lesson_track_ts", table_name="observations")
    op.drop_index("ix_observations_lesson_ts", table_name="observations")
    op.drop_table("observations")
    op.drop_index("ix_samples_lesson_ts", table_name="samples")
    op.drop_table("samples")
    op.drop_index("ix_lessons_started", table_name="lessons")
    op.drop_index("ix_lessons_group_started", table_name="lessons")
    op.drop_table("lessons")
