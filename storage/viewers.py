"""Who sees which lessons: a teacher sees the lessons they own; an admin sees every lesson.

Every read the dashboard makes (lesson lists, a lesson's report, the live card, the exports) takes
a `Viewer` and puts the condition built here into its SQL, so a lesson the viewer may not see is,
to them, no lesson at all: the same empty result, None or "no lesson with id N" as an id never
used. Lessons without an owner (started with no login in force, or stored before lessons had
owners) are for admins; a dashboard bound to loopback has no login and its user counts as one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true

from storage.schema import OWNER_MAX, Lesson


def owner_name(raw: str | None) -> str | None:
    """The stored form of an owner: trimmed and lower-cased, as account names and OIDC emails are
    kept; None when blank. ValueError when it is longer than the column holds."""
    name = (raw or "").strip().lower()
    if len(name) > OWNER_MAX:
        raise ValueError(f"an owner name is at most {OWNER_MAX} characters, got {len(name)}")
    return name or None


@dataclass(frozen=True)
class Viewer:
    """Whose lessons a read may show.

    name: the account name (a local user name or an OIDC email), None when nobody logged in.
    admin: sees every lesson, those without an owner included; a teacher sees only their own.
    """

    name: str | None
    admin: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", owner_name(self.name))
        if not self.admin and self.name is None:
            raise ValueError("a teacher viewer needs the account name that owns their lessons")

    @classmethod
    def everyone(cls) -> Viewer:
        """Every lesson: the command line, and a dashboard with no login (bound to loopback)."""
        return cls(None, admin=True)

    @classmethod
    def teacher(cls, name: str) -> Viewer:
        """A teacher who sees the lessons `name` owns and nothing else."""
        return cls(name, admin=False)

    def may_see(self, owner: str | None) -> bool:
        """Whether a lesson owned by `owner` (None: nobody) is this viewer's to see."""
        return self.admin or (owner is not None and owner_name(owner) == self.name)


def visible_lessons(viewer: Viewer) -> ColumnElement[bool]:
    """The condition on `lessons` rows that keeps those the viewer may see."""
    if viewer.admin:
        return true()
    return Lesson.owner == viewer.name


def lesson_visible(viewer: Viewer, lesson_id: int) -> ColumnElement[bool]:
    """For reads of one lesson's rows: true when `lesson_id` is a lesson the viewer may see.

    For an admin it is no condition at all: a lesson that does not exist has no rows anyway.
    """
    if viewer.admin:
        return true()
    return select(Lesson.id).where(Lesson.id == lesson_id, Lesson.owner == viewer.name).exists()
