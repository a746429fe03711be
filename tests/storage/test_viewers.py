"""Who sees what on a shared database: two teachers and an admin, on SQLite and PostgreSQL.

A teacher sees the lessons they own, an admin every lesson; to a teacher another teacher's lesson
reads exactly like an id that was never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pytest

from storage import export, queries
from storage.db import StorageError
from storage.lessons import LessonSpec, create_lesson, finish_lesson
from storage.markers import add_marker
from storage.records import AttentionState
from storage.viewers import Viewer, owner_name
from storage.writes import write_samples
from tests.storage.conftest import T0, make_sample

A = AttentionState
LEE = Viewer.teacher("ms.lee")
KHAN = Viewer.teacher("mr.khan")
ADMIN = Viewer("ms.admin", admin=True)
NEVER_USED = 987_654


@dataclass(frozen=True)
class School:
    """One shared database: whose lesson is which id, and when each started."""

    ids: dict[str, int]
    started: dict[str, datetime]


def _lesson(engine, title: str, group: str, started: datetime, owner: str | None, *,
            running: bool = False) -> int:  # fmt: skip
    lesson_id = create_lesson(engine, LessonSpec(title, group, started, owner=owner))
    samples = [
        make_sample(s, {1: (A.ATTENTIVE, 80.0), 2: (A.LOOKING_AWAY, 30.0)}, t0=started)
        for s in range(20)
    ]
    write_samples(engine, lesson_id, samples)
    if not running:
        finish_lesson(engine, lesson_id, ended_at=started + timedelta(seconds=20))
    return lesson_id


@pytest.fixture
def school(engine) -> School:
    plan = {
        "Algebra I": ("7A", T0 - timedelta(days=7), "ms.lee", False),
        "Algebra II": ("7A", T0, "ms.lee", False),
        "Biology": ("7A", T0 - timedelta(days=1), "mr.khan", False),  # the same class name
        "Chemistry": ("9B", T0 + timedelta(hours=1), "mr.khan", True),
        "Old lesson": ("7A", T0 - timedelta(days=30), None, False),  # from before owners
    }
    ids = {
        title: _lesson(engine, title, group, started, owner, running=running)
        for title, (group, started, owner, running) in plan.items()
    }
    return School(ids, {title: started for title, (_, started, _, _) in plan.items()})


@pytest.mark.parametrize(
    ("viewer", "titles"),
    [
        (LEE, ["Algebra II", "Algebra I"]),
        (KHAN, ["Chemistry", "Biology"]),
        (ADMIN, ["Chemistry", "Algebra II", "Biology", "Algebra I", "Old lesson"]),
        (Viewer.everyone(), ["Chemistry", "Algebra II", "Biology", "Algebra I", "Old lesson"]),
    ],
    ids=["teacher-lee", "teacher-khan", "admin", "everyone"],
)
def test_each_teacher_lists_only_their_own_lessons_and_an_admin_every_lesson(
    engine, school, viewer, titles
):
    assert queries.lessons_summary(engine, viewer=viewer)["title"].tolist() == titles


def test_a_class_filter_does_not_reach_another_teachers_lessons_of_that_class(engine, school):
    assert queries.lessons_summary(engine, viewer=LEE, group="7A")["title"].tolist() == [
        "Algebra II",
        "Algebra I",
    ]
    assert queries.lessons_summary(engine, viewer=LEE, group="9B").empty
    assert queries.lessons_summary(engine, viewer=KHAN, group="7A")["title"].tolist() == ["Biology"]


@pytest.mark.parametrize(
    ("viewer", "running"), [(LEE, []), (KHAN, ["Chemistry"]), (ADMIN, ["Chemistry"])]
)
def test_running_lessons_are_the_viewers_own(engine, school, viewer, running):
    frame = queries.lessons_summary(engine, viewer=viewer, status="running")
    assert frame["title"].tolist() == running


@pytest.mark.parametrize(
    ("viewer", "earlier"),
    [(LEE, ["Algebra I"]), (ADMIN, ["Biology", "Algebra I", "Old lesson"])],
)
def test_previous_lessons_of_a_class_are_the_viewers_own(engine, school, viewer, earlier):
    frame = queries.previous_lessons(engine, school.ids["Algebra II"], viewer=viewer)
    assert frame["title"].tolist() == earlier


def test_previous_lessons_of_another_teachers_lesson_are_none(engine, school):
    hidden = queries.previous_lessons(engine, school.ids["Algebra II"], viewer=KHAN)
    never = queries.previous_lessons(engine, NEVER_USED, viewer=KHAN)
    assert hidden.empty and never.empty and list(hidden.columns) == list(never.columns)


# One lesson's reads, each as (engine, lesson id, viewer, the lesson's start) -> DataFrame.
READS = {
    "timeline": lambda e, i, v, t0: queries.lesson_timeline(e, i, 10.0, viewer=v),
    "timeline from rows": lambda e, i, v, t0: queries.lesson_timeline(e, i, 5.0, viewer=v),
    "low moments": lambda e, i, v, t0: queries.low_moments(e, i, 10.0, viewer=v),
    "students": lambda e, i, v, t0: queries.student_summary(e, i, viewer=v),
    "student trends": lambda e, i, v, t0: queries.student_trends(e, i, 10.0, viewer=v),
    "live students": lambda e, i, v, t0: _live(e, i, v, t0).students,
    "live trend": lambda e, i, v, t0: _live(e, i, v, t0).trend,
    "live student trends": lambda e, i, v, t0: _live(e, i, v, t0).student_trends,
}


def _live(engine, lesson_id: int, viewer: Viewer, t0: datetime) -> queries.LiveView:
    return queries.live_view(
        engine, lesson_id, viewer=viewer, window_s=10, now=t0 + timedelta(seconds=20)
    )


@pytest.mark.parametrize("read", list(READS))
def test_another_teachers_lesson_reads_like_no_lesson_at_all(engine, school, read):
    biology, t0 = school.ids["Biology"], school.started["Biology"]
    seen = READS[read](engine, biology, KHAN, t0)
    hidden = READS[read](engine, biology, LEE, t0)
    never = READS[read](engine, NEVER_USED, LEE, t0)
    assert not seen.empty
    assert hidden.empty and list(hidden.columns) == list(never.columns) and never.empty
    pd.testing.assert_frame_equal(READS[read](engine, biology, ADMIN, t0), seen)


def test_live_concentration_of_another_teachers_lesson_is_none(engine, school):
    t0 = school.started["Chemistry"]
    assert _live(engine, school.ids["Chemistry"], KHAN, t0).concentration == pytest.approx(55.0)
    assert _live(engine, school.ids["Chemistry"], LEE, t0).concentration is None
    assert _live(engine, school.ids["Chemistry"], ADMIN, t0).concentration == pytest.approx(55.0)


def test_find_lesson_gives_a_teacher_their_own_lesson_and_no_other(engine, school):
    algebra, biology = school.ids["Algebra II"], school.ids["Biology"]
    assert queries.find_lesson(engine, algebra, viewer=LEE)["owner"] == "ms.lee"
    assert queries.find_lesson(engine, biology, viewer=LEE) is None
    assert queries.find_lesson(engine, NEVER_USED, viewer=LEE) is None
    assert queries.find_lesson(engine, biology, viewer=ADMIN)["title"] == "Biology"
    assert queries.find_lesson(engine, school.ids["Old lesson"], viewer=LEE) is None
    assert queries.find_lesson(engine, school.ids["Old lesson"], viewer=ADMIN)["owner"] is None


@pytest.mark.parametrize("kind", export.EXPORT_KINDS)
def test_a_teacher_exports_their_own_lessons_and_gets_no_such_lesson_for_another(
    engine, school, kind
):
    biology = school.ids["Biology"]
    add_marker(engine, biology, school.started["Biology"] + timedelta(seconds=10), "quiz",
               viewer=KHAN, created_at=T0)  # so the markers export has a row
    own = "".join(export.iter_csv(engine, biology, kind, viewer=KHAN))
    assert len(own.splitlines()) > 1
    with pytest.raises(StorageError, match=rf"^no lesson with id {biology}$"):
        export.iter_csv(engine, biology, kind, viewer=LEE)
    with pytest.raises(StorageError, match=rf"^no lesson with id {NEVER_USED}$"):
        export.iter_csv(engine, NEVER_USED, kind, viewer=LEE)
    assert "".join(export.iter_csv(engine, biology, kind, viewer=ADMIN)) == own


def test_write_csv_of_another_teachers_lesson_is_no_such_lesson(engine, school, tmp_path):
    out = tmp_path / "biology.csv"
    with pytest.raises(StorageError, match=rf"^no lesson with id {school.ids['Biology']}$"):
        export.write_csv(engine, school.ids["Biology"], "students", out, viewer=LEE)
    assert export.write_csv(engine, school.ids["Biology"], "students", out, viewer=KHAN) == 2


def test_the_owner_is_stored_as_account_names_are_kept(engine):
    lee = create_lesson(engine, LessonSpec("Maths", "7A", T0, owner="  Ms.Lee "))
    nobody = create_lesson(engine, LessonSpec("Maths", "7A", T0, owner="   "))
    assert queries.find_lesson(engine, lee, viewer=LEE)["owner"] == "ms.lee"
    assert queries.find_lesson(engine, nobody, viewer=ADMIN)["owner"] is None
    assert queries.find_lesson(engine, nobody, viewer=LEE) is None


@pytest.mark.parametrize(
    ("viewer", "owner", "sees"),
    [
        (LEE, "ms.lee", True),
        (LEE, "Ms.Lee", True),
        (LEE, "mr.khan", False),
        (LEE, None, False),
        (ADMIN, "mr.khan", True),
        (ADMIN, None, True),
        (Viewer.everyone(), None, True),
    ],
)
def test_may_see_follows_the_same_rule_as_the_queries(viewer, owner, sees):
    assert viewer.may_see(owner) is sees


def test_a_teacher_viewer_needs_a_name():
    with pytest.raises(ValueError, match="a teacher viewer needs the account name"):
        Viewer(None)
    with pytest.raises(ValueError, match="a teacher viewer needs the account name"):
        Viewer.teacher("   ")


def test_viewer_names_are_kept_as_account_names_are():
    assert Viewer.teacher(" Ms.Lee ") == LEE
    assert Viewer.everyone() == Viewer(None, admin=True)


def test_an_owner_name_longer_than_the_column_is_refused():
    assert owner_name("x" * 255) == "x" * 255
    with pytest.raises(ValueError, match="an owner name is at most 255 characters, got 256"):
        owner_name("x" * 256)
