"""Privacy & settings: stored/not stored, retention and purge, defaults, thresholds, student notice."""

from __future__ import annotations

from dashboard.join.notice import notice_text
from engine.attention import AttentionSettings
from storage import queries
from storage.db import open_database
from storage.viewers import Viewer
from tests.dashboard.conftest import table_with

EVERYONE = Viewer.everyone()


def test_explains_storage_and_shows_a_student_notice(app, seeded_db):
    at = app(seeded_db.url, "privacy")
    headers = [s.value for s in at.subheader]
    assert headers[:2] == ["What is stored", "What is never stored"]
    assert "No image or video frame" in at.markdown[1].value
    notice = at.code[0].value
    assert "No pictures, video or sound are recorded" in notice
    assert "as long as the school keeps them" in notice


def test_shows_the_notice_students_read_when_they_join_from_their_browser(app, seeded_db, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_RETENTION_DAYS", "30")
    at = app(seeded_db.url, "privacy")
    assert at.subheader[-1].value == "The notice students see when they join from their browser"
    assert at.code[1].value == notice_text(30)  # the very text of GET /join/notice
    assert "No picture, video, sound, face landmarks or face crop ever leaves your device" in at.code[1].value
    assert "kept for at most 30 days" in at.code[1].value


def test_thresholds_are_the_engine_defaults(app, seeded_db):
    at = app(seeded_db.url, "privacy")
    table = table_with(at, "Setting")
    defaults = AttentionSettings()
    values = dict(zip(table["Setting"], table["Value"], strict=True))
    assert values["Head turned sideways beyond (degrees)"] == defaults.yaw_limit_deg
    assert values["Eye aspect ratio under which an eye reads closed"] == defaults.ear_closed
    assert len(table) == len(defaults.__dataclass_fields__)


def test_retention_from_environment_appears_in_the_notice(app, seeded_db, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_RETENTION_DAYS", "30")
    at = app(seeded_db.url, "privacy")
    assert "for at most 30 days" in at.code[0].value
    assert at.button(key="privacy_apply_retention")


def test_purge_deletes_finished_lessons_older_than_the_period(app, own_db):
    at = app(own_db.url, "privacy")
    assert at.button(key="privacy_purge").disabled
    at.number_input(key="privacy_purge_days").set_value(0).run()
    at.checkbox(key="privacy_purge_confirm").check().run()
    at.button(key="privacy_purge").click().run()
    assert [s.value for s in at.success] == ["Deleted 3 lesson(s)."]
    left = queries.lessons_summary(open_database(own_db.url), viewer=EVERYONE)
    assert list(left["id"]) == [own_db.running]  # running lessons are kept


def test_settings_change_the_time_zone_and_attention_default_for_other_pages(app, own_db):
    at = app(own_db.url, "privacy")  # its own database: the chosen zone is stored there
    at.selectbox(key="privacy_timezone").set_value("Asia/Tokyo").run()
    at.toggle(key="privacy_attention_only").set_value(True).run()
    assert at.session_state["cp_timezone"] == "Asia/Tokyo"
    at.switch_page("dashboard/app_pages/lessons.py").run()
    assert "Times in Asia/Tokyo" in at.sidebar.caption[0].value
    started = {m.label: m.value for m in at.metric}["Started"]
    assert started == "03 Mar 2025 18:00"  # the newest lesson, 09:00 UTC


def test_thresholds_follow_the_environment_and_a_bad_one_is_one_line(app, seeded_db, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_ATTENTION_YAW_LIMIT_DEG", "32")
    at = app(seeded_db.url, "privacy")
    values = dict(zip(*(table_with(at, "Setting")[c] for c in ("Setting", "Value")), strict=True))
    assert values["Head turned sideways beyond (degrees)"] == 32.0
    assert not at.error and not at.exception
    monkeypatch.setenv("CLASSPULSE_ATTENTION_YAW_LIMIT_DEG", "wide")
    at = app(seeded_db.url, "privacy")
    assert [e.value for e in at.error] == [
        "CLASSPULSE_ATTENTION_YAW_LIMIT_DEG='wide': it must be a finite number. Fix or unset it; engines "
        "started from here will refuse to start until then."
    ]
    assert not at.exception
