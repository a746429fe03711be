"""A stream URL's password and tokens never reach the stored lesson row."""

from __future__ import annotations

from sqlalchemy import text

from storage.lessons import LessonSpec, create_lesson, get_lesson
from tests.storage.conftest import T0

PASSWORD = "p@ss/w0rd"
TOKEN = "tok3n-SECRET"
SOURCE = f"stream rtsp://cam:{PASSWORD}@10.0.0.5:554/live?token={TOKEN}&channel=1"


def test_a_source_with_a_password_holding_slash_and_at_and_a_token_is_stored_masked(engine):
    lesson_id = create_lesson(engine, LessonSpec("Maths", "7B", T0, source=SOURCE))
    with engine.connect() as conn:  # the row as stored, not as any reader shows it
        row = conn.execute(text("SELECT * FROM lessons WHERE id = :id"), {"id": lesson_id}).one()
    assert row.source == "stream rtsp://cam:***@10.0.0.5:554/live?token=***&channel=1"
    stored = " ".join(str(value) for value in row)
    for secret in (PASSWORD, "p@ss", "w0rd", TOKEN, "p%40ss%2Fw0rd"):
        assert secret not in stored
    assert get_lesson(engine, lesson_id)["source"] == row.source


def test_a_source_without_secrets_is_stored_as_given(engine):
    lesson_id = create_lesson(engine, LessonSpec("Art", "7B", T0, source="video file lesson.mp4"))
    assert get_lesson(engine, lesson_id)["source"] == "video file lesson.mp4"
