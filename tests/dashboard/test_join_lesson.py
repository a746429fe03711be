"""A join lesson on the teacher's side, without I/O: the form checked into a lesson, the link and its
QR code, and the words of its tiles and notices."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import cv2
import numpy as np
import pandas as pd
import pytest

from dashboard import join_lesson
from dashboard.join_lesson import JoinForm
from engine.attention import AttentionSettings

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_a_join_form_opens_an_attention_only_lesson_owned_by_the_teacher_with_its_thresholds():
    attention = AttentionSettings(yaw_limit_deg=30.0)
    spec = join_lesson.join_spec(JoinForm(" Biology ", " 8A "), owner="ms.lee", attention=attention,
                                 now=NOW)  # fmt: skip
    assert (spec.title, spec.group_name, spec.source, spec.sample_rate_hz) == ("Biology", "8A", "join", 1.0)
    assert spec.attention_only and spec.model_name is None and spec.owner == "ms.lee"
    assert spec.settings == {"attention": asdict(attention)}
    with_expressions = join_lesson.join_spec(JoinForm("Biology", "", 2.0, attention_only=False),
                                             owner=None, attention=attention, now=NOW)  # fmt: skip
    assert not with_expressions.attention_only and with_expressions.model_name == join_lesson.BROWSER_MODEL


@pytest.mark.parametrize(("form", "message"), [
    (JoinForm("  ", "8A"), "the lesson needs a title"),
    (JoinForm("Biology", "8A", 10.0), "students' devices take 0.2-5 samples per second, got 10"),
    (JoinForm("Biology", "8A", 0.1), "students' devices take 0.2-5 samples per second, got 0.1"),
])  # fmt: skip
def test_a_join_form_the_devices_cannot_serve_is_refused_in_one_line(form, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        join_lesson.join_spec(form, owner=None, attention=AttentionSettings(), now=NOW)


@pytest.mark.parametrize(("public", "browser", "host", "base"), [
    ("https://classpulse.school.lan:8501/", "http://localhost:8501/live", None,
     "https://classpulse.school.lan:8501"),  # the setting wins
    ("https://school.example/classpulse", None, None, "https://school.example/classpulse"),  # a proxy's path
    ("", "http://localhost:8501/live", "ignored:1", "http://localhost:8501"),  # the teacher's browser
    ("", "https://10.0.0.5:8501/lessons", None, "https://10.0.0.5:8501"),
    ("", None, "10.0.0.5:8501", "http://10.0.0.5:8501"),  # its Host header when the page sent no URL
    ("", None, None, None),
])  # fmt: skip
def test_the_link_uses_the_public_address_else_the_one_the_teachers_browser_used(public, browser, host, base):
    assert join_lesson.link_base(public, browser, host) == base
    assert join_lesson.student_link(base, "7KQ4MZ2XHP") == f"{base or ''}/join/7KQ4MZ2XHP"


@pytest.mark.parametrize(("base", "says"), [
    ("http://localhost:8501", "localhost is this computer's own address: students on other computers cannot open it"),
    ("http://127.0.0.1:8501", "127.0.0.1 is this computer's own address"),
    ("http://[::1]:8501", "::1 is this computer's own address"),
    ("http://192.168.1.20:8501", "Browsers give the camera only to pages over HTTPS"),
    ("https://classpulse.school.lan", None),
    (None, "The dashboard's address is unknown here"),
])  # fmt: skip
def test_a_link_other_devices_cannot_use_is_said_in_one_line_with_what_to_do(base, says):
    warning = join_lesson.link_warning(base)
    if says is None:
        assert warning is None
    else:
        assert warning.startswith(says) and "\n" not in warning
    if base and "localhost" in base:
        assert "login and HTTPS (docs/join.md)" in warning and "CLASSPULSE_PUBLIC_URL" in warning


def test_the_qr_code_reads_back_as_the_link():
    link = "https://classpulse.school.lan:8501/join/7KQ4MZ2XHP"
    png = join_lesson.qr_png(link)
    assert png.startswith(b"\x89PNG")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert text == link


def _joined(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["track_id", "label", "presence", "silent_s"])


def test_tiles_join_each_students_latest_state_and_leave_the_removed_out():
    joined = _joined((1, "Ada", "present", 1.0), (2, "Student 2", "silent", 40.0),
                     (3, "Cy", "removed", 90.0), (4, "Student 4", "present", 2.0))  # fmt: skip
    latest = pd.DataFrame({"track_id": [1, 2, 3], "ts": [NOW] * 3, "state": ["attentive", "absent", "attentive"],
                           "engagement": [88.0, 0.0, 70.0], "expression": ["happy", None, "sad"]})  # fmt: skip
    tiles = join_lesson.student_tiles(joined, latest)
    assert list(tiles["track_id"]) == [1, 2, 4] and list(tiles["label"]) == ["Ada", "Student 2", "Student 4"]
    assert list(tiles["state"][:2]) == ["attentive", "absent"] and pd.isna(tiles["state"].iloc[2])
    assert join_lesson.removed(joined) == ["Cy"]
    assert join_lesson.summary_words(joined) == "4 joined · 2 sending · 1 no data · 1 removed"
    assert join_lesson.summary_words(_joined()) == "No student has joined yet."


@pytest.mark.parametrize(("presence", "silent_s", "has_data", "status"), [
    ("present", 1.0, True, None),
    ("present", 1.0, False, (":gray-badge[joining]", "joined: their camera and models are starting")),
    ("silent", 40.0, True, (":gray-badge[no data]", "no data for 40 s: not counted")),
    ("silent", 200.0, False, (":gray-badge[no data]", "no data for 3 min: not counted")),
    ("left", 65.0, True, (":gray-badge[left]", "left 1 min ago")),
])  # fmt: skip
def test_a_tile_says_who_is_silent_left_or_still_starting(presence, silent_s, has_data, status):
    assert join_lesson.tile_status(presence, silent_s, has_data) == status


def test_before_the_first_sample_the_card_waits_for_students_not_for_an_engine():
    assert join_lesson.waiting_notice(_joined()).text == (
        "Waiting for students to join — share the link or the QR code.")
    two = _joined((1, "Ada", "present", 1.0), (2, "Bo", "present", 1.0), (3, "Cy", "removed", 1.0))
    assert join_lesson.waiting_notice(two).text.startswith("2 students have joined: waiting for their first data")
    assert join_lesson.quiet_notice(None) is None and join_lesson.quiet_notice(9.0) is None
    assert join_lesson.quiet_notice(40.0).text == (
        "No student has sent data for 40 s — are their pages still open?")
    assert join_lesson.slow_words(0.5, 1.0) == "sends 0.5 of the 1 samples/s asked"
    assert join_lesson.slow_words(0.9, 1.0) is None and join_lesson.slow_words(None, 1.0) is None
