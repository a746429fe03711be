"""Who sees what on a shared server: the real app, bound off loopback, with the real login.

Two teachers and an admin share one database: each teacher's pages show only their own lessons
and classes, the admin's show every lesson; the engine a teacher starts records its lesson as theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import control, loaders
from dashboard.auth import Viewer as Login
from dashboard.auth import hash_password
from dashboard.launch import LessonForm, LessonLaunch, launch_from_form
from storage.accounts import save_account
from storage.db import open_database
from storage.lessons import LessonSpec, create_lesson
from storage.synthetic import generate_samples, seed_lesson
from storage.viewers import Viewer
from storage.writes import write_samples
from tests.dashboard.conftest import LIVE_START, T_FIRST, log_in_on_form, table_with
from tests.dashboard.engine_standin import standin

PASSWORD = "a long enough test passphrase"


@dataclass(frozen=True)
class SharedDb:
    """A database two teachers and an admin share: lesson ids by title."""

    url: str
    ids: dict[str, int]


@pytest.fixture
def shared_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SharedDb:
    url = f"sqlite:///{tmp_path / 'school.db'}"
    engine = open_database(url)
    plan = {
        "Algebra I": ("7A", T_FIRST - timedelta(days=7), "ms.lee"),
        "Algebra II": ("7A", T_FIRST, "ms.lee"),
        "Biology": ("8C", T_FIRST + timedelta(hours=2), "mr.khan"),
        "Old lesson": ("7A", T_FIRST - timedelta(days=30), None),
    }
    ids = {
        title: seed_lesson(
            engine,
            students=3,
            hours=0.05,
            seed=n,
            title=title,
            group_name=group,
            started_at=started,
            owner=owner,
        )  # fmt: skip
        for n, (title, (group, started, owner)) in enumerate(plan.items())
    }
    ids["Chemistry"] = create_lesson(  # still running, with samples up to the page's clock
        engine, LessonSpec("Chemistry", "9B", LIVE_START, source="synthetic", owner="mr.khan")
    )
    write_samples(engine, ids["Chemistry"], list(generate_samples(
        students=4, hours=240 / 3600, rate_hz=2.0, seed=7, started_at=LIVE_START)))  # fmt: skip
    for username, role in (("ms.lee", "teacher"), ("mr.khan", "teacher"), ("ms.admin", "admin")):
        save_account(engine, username, hash_password(PASSWORD), role, datetime.now(UTC))
    monkeypatch.setenv("CLASSPULSE_DB_URL", url)
    return SharedDb(url, ids)


@pytest.fixture
def logged_in(bind_address: Callable[[str | None], None]) -> Callable[..., AppTest]:
    """The app bound to every interface, logged in through its form: logged_in("ms.lee", "lessons")."""

    def run(username: str, page: str, **session: object) -> AppTest:
        bind_address("0.0.0.0")
        at = log_in_on_form(username, PASSWORD, page, **session)
        assert f"Logged in as `{username}`" in " ".join(c.value for c in at.sidebar.caption)
        return at

    return run


# --- the Lessons and Export pages -----------------------------------------------------------------


def _titles(options: list[str]) -> list[str]:
    """The lesson titles of a lesson chooser's labels ("2025-01-06 08:00 · Algebra II · 7A")."""
    return [label.split(" · ")[1] for label in options]


def test_a_logged_in_teacher_lists_only_her_lessons_and_classes(shared_db, logged_in):
    at = logged_in("ms.lee", "lessons")
    assert list(table_with(at, "Lesson")["Lesson"]) == ["Algebra II", "Algebra I"]
    assert at.selectbox(key="lessons_class").options == ["All classes", "7A"]
    assert [h.value for h in at.header] == ["Algebra II"]
    students = table_with(at, "Student")  # her report is drawn in full
    assert list(students["Student"]) == ["Student 1", "Student 2", "Student 3"]


def test_another_teacher_lists_only_his_lessons(shared_db, logged_in):
    at = logged_in("mr.khan", "lessons")
    assert list(table_with(at, "Lesson")["Lesson"]) == ["Chemistry", "Biology"]
    assert at.selectbox(key="lessons_class").options == ["All classes", "8C", "9B"]


def test_a_teacher_asking_for_another_teachers_lesson_gets_her_own_report(shared_db, logged_in):
    at = logged_in("ms.lee", "lessons", lessons_selected=shared_db.ids["Biology"])
    assert [h.value for h in at.header] == ["Algebra II"]
    assert at.selectbox(key="lessons_report_choice").value == shared_db.ids["Algebra II"]
    assert _titles(at.selectbox(key="lessons_report_choice").options) == ["Algebra II", "Algebra I"]


def test_an_admin_lists_every_teachers_lessons_and_those_without_an_owner(shared_db, logged_in):
    at = logged_in("ms.admin", "lessons")
    assert list(table_with(at, "Lesson")["Lesson"]) == [
        "Chemistry", "Biology", "Algebra II", "Algebra I", "Old lesson"
    ]  # fmt: skip


def test_a_teacher_exports_only_her_own_lessons(shared_db, logged_in):
    at = logged_in("ms.lee", "export", lessons_selected=shared_db.ids["Biology"])
    choice = at.selectbox(key="export_lesson")
    assert _titles(choice.options) == ["Algebra II", "Algebra I"]
    assert choice.value == shared_db.ids["Algebra II"]


def test_only_an_admin_is_offered_the_purge(shared_db, logged_in):
    teacher = logged_in("ms.lee", "privacy")
    assert not [b for b in teacher.button if b.key == "privacy_purge"]
    assert any("only an admin can do it" in c.value for c in teacher.caption)
    admin = logged_in("ms.admin", "privacy")
    assert admin.button(key="privacy_purge").disabled  # there, waiting for its confirmation


# --- the Live page --------------------------------------------------------------------------------


def test_a_teacher_is_offered_only_her_own_running_lessons(shared_db, logged_in):
    khan = logged_in("mr.khan", "live")
    assert khan.selectbox(key="live_running_choice").value == shared_db.ids["Chemistry"]
    assert any(m.label == "Class concentration now" for m in khan.metric)
    lee = logged_in("ms.lee", "live")
    assert not [s for s in lee.selectbox if s.key == "live_running_choice"]
    assert not lee.metric
    assert lee.button(key="live_start")  # her own start form instead


def test_a_lesson_a_teacher_starts_is_recorded_as_hers(shared_db, logged_in, monkeypatch, tmp_path):
    standin(monkeypatch)
    at = logged_in("ms.lee", "live")
    at.radio(key="live_source").set_value("demo").run()
    at.button(key="live_start").click().run()
    handle = control.load_handle(tmp_path / "data")
    try:
        assert handle.launch.owner == "ms.lee"
        assert _request(handle.launch).owner == "ms.lee"  # what the engine is asked to store
        other = logged_in("mr.khan", "live")  # one engine per dashboard: not his to see or stop
        assert [i.value for i in other.info] == [
            "This dashboard is recording another teacher's lesson; you can start one when it ends."
        ]
        assert not [b for b in other.button if b.key in ("live_stop", "live_start")]
        assert not [s for s in other.sidebar.success if "Engine running" in s.value]
        mine = logged_in("ms.lee", "live")
        assert mine.button(key="live_stop")
    finally:
        control.stop_engine(handle, timeout_s=10)


# --- the engine the dashboard starts, and whose lessons a login sees ------------------------------


def _request(launch: LessonLaunch):
    from dashboard.engine_request import start_request

    return start_request(launch, events_path=Path("e"), stop_path=Path("s"), db_url=None, cwd=Path("."))


@pytest.mark.parametrize("owner", ["ms.lee", None], ids=["login", "loopback"])
def test_the_start_request_names_the_lessons_owner(owner):
    launch = launch_from_form(LessonForm("Maths", "7A", "demo"), data_dir=Path("."), owner=owner)
    assert _request(launch).owner == owner


def test_a_state_file_from_before_owners_still_loads_without_one():
    handle = control.EngineHandle(41, "/tmp/x.log", "2025-01-01T00:00:00+00:00",
                                  LessonLaunch("T", "G", "demo", owner="ms.lee"))  # fmt: skip
    assert control.EngineHandle.from_json(handle.to_json()) == handle
    older = json.loads(handle.to_json())
    del older["launch"]["owner"]
    assert control.EngineHandle.from_json(json.dumps(older)).launch.owner is None


@pytest.mark.parametrize(
    ("login", "viewer"),
    [
        (Login("local", "admin", "loopback"), Viewer.everyone()),
        (Login("ms.admin", "admin", "password"), Viewer("ms.admin", admin=True)),
        (Login("ms.lee", "teacher", "password"), Viewer.teacher("ms.lee")),
        (
            Login("ms.lee@school.example", "teacher", "oidc"),
            Viewer.teacher("ms.lee@school.example"),
        ),
    ],
)
def test_a_login_sees_the_lessons_its_role_allows(login, viewer):
    assert login.lesson_viewer() == viewer


def test_cached_loaders_never_hand_one_teacher_another_teachers_lessons(shared_db):
    lee = loaders.load_lessons(shared_db.url, Viewer.teacher("ms.lee"))
    khan = loaders.load_lessons(shared_db.url, Viewer.teacher("mr.khan"))
    assert list(lee["title"]) == ["Algebra II", "Algebra I"]
    assert list(khan["title"]) == ["Chemistry", "Biology"]
    biology = shared_db.ids["Biology"]
    assert loaders.load_lesson(shared_db.url, Viewer.teacher("mr.khan"), biology) is not None
    assert loaders.load_lesson(shared_db.url, Viewer.teacher("ms.lee"), biology) is None
