"""A teacher's display settings (time zone, alert level, default class), kept in the database so
they survive browser sessions and follow the teacher to any dashboard on the same database.

`owner` is the account name (storage.viewers.owner_name), or LOCAL_OWNER ("") for the one user of
a dashboard without a login. A field left None means "the dashboard's default".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine, delete, select

from storage.db import write_transaction
from storage.schema import TeacherSettings
from storage.viewers import owner_name

LOCAL_OWNER = ""


@dataclass(frozen=True)
class DisplaySettings:
    """What a teacher chose; None where they kept the dashboard's default."""

    timezone: str | None = None
    alert_level: float | None = None
    default_class: str | None = None

    def __post_init__(self) -> None:
        if self.alert_level is not None and not 0.0 <= self.alert_level <= 100.0:
            raise ValueError(f"an alert level is between 0 and 100, got {self.alert_level}")
        if self.default_class is not None:
            object.__setattr__(self, "default_class", self.default_class.strip() or None)


def _key(owner: str | None) -> str:
    return owner_name(owner) or LOCAL_OWNER


def load_settings(engine: Engine, owner: str | None) -> DisplaySettings:
    """The owner's stored choices; all defaults when they never chose any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(TeacherSettings.timezone, TeacherSettings.alert_level,
                   TeacherSettings.default_class).where(TeacherSettings.owner == _key(owner))
        ).first()
    if row is None:
        return DisplaySettings()
    return DisplaySettings(timezone=row.timezone, alert_level=row.alert_level,
                           default_class=row.default_class)


def save_settings(
    engine: Engine, owner: str | None, settings: DisplaySettings, *, at: datetime
) -> None:
    """Store the owner's choices, replacing what was there."""
    key = _key(owner)
    with write_transaction(engine) as conn:
        conn.execute(delete(TeacherSettings).where(TeacherSettings.owner == key))
        conn.execute(TeacherSettings.__table__.insert().values(
            owner=key, timezone=settings.timezone, alert_level=settings.alert_level,
            default_class=settings.default_class, updated_at=at,
        ))


def update_settings(
    engine: Engine, owner: str | None, *, at: datetime, **changes: object
) -> DisplaySettings:
    """Change some of the owner's choices (timezone=, alert_level=, default_class=), keep the rest."""
    settings = replace(load_settings(engine, owner), **changes)  # type: ignore[arg-type]
    save_settings(engine, owner, settings, at=at)
    return settings
