"""Export: download buttons for every CSV kind and the HTML report; the exported rows and the report."""

from __future__ import annotations

import csv
import io
import re

from dashboard import loaders, report
from storage.export import EXPORT_KINDS
from storage.viewers import Viewer
from tests.dashboard.conftest import LIVE_NOW

EVERYONE = Viewer.everyone()


def test_page_offers_each_csv_and_the_html_report(app, seeded_db):
    at = app(seeded_db.url, "export", lessons_selected=seeded_db.lesson)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        "Raw observations (CSV)",
        "Per-minute summary (CSV)",
        "Per-student summary (CSV)",
        "Lesson report (HTML)",
    ]
    assert at.selectbox(key="export_lesson").value == seeded_db.lesson
    assert len(EXPORT_KINDS) == 3


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_exports_have_the_expected_row_counts(seeded_db):
    # Fractions II: 6 students, 15 minutes at 2 samples/s.
    observations = _rows(
        loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.lesson, "observations")
    )
    assert len(observations) == 6 * 15 * 60 * 2
    assert {r["lesson_id"] for r in observations} == {str(seeded_db.lesson)}
    assert (
        len(_rows(loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.lesson, "minutes"))) == 15
    )
    students = _rows(loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.lesson, "students"))
    assert [r["track_id"] for r in students] == [str(i) for i in range(1, 7)]


def test_attention_only_export_has_no_probabilities(seeded_db):
    rows = _rows(
        loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.attention_only, "observations")
    )
    assert rows and all(r["p_happy"] == "" and r["expression"] == "" for r in rows)


def test_html_report_is_self_contained(seeded_db):
    data = report.load_report(seeded_db.url, EVERYONE, seeded_db.lesson)
    html = report.report_html(data, "UTC", 40.0, LIVE_NOW)
    assert not re.search(r"<script[^>]*\bsrc=", html)  # nothing loaded from a CDN
    assert html.count("Plotly.newPlot") == 5  # timeline, states, expressions, mix, comparison
    assert len(re.findall(r"plotly\.js v\d", html)) == 1  # the library inlined once
    assert "Fractions II" in html and "Student 6" in html and "Lowest-concentration moments" in html


def test_html_report_of_attention_only_lesson_has_no_expressions(seeded_db):
    data = report.load_report(seeded_db.url, EVERYONE, seeded_db.attention_only)
    html = report.report_html(data, "UTC", 40.0, LIVE_NOW)
    assert "chart-expressions" not in html and "Most common expression" not in html
    assert "chart-concentration" in html


def test_html_report_says_how_the_lesson_ended(seeded_db, own_db):
    from storage.db import open_database
    from storage.lessons import finish_lesson

    finished = report.report_html(
        report.load_report(seeded_db.url, EVERYONE, seeded_db.lesson), "UTC", 40.0, LIVE_NOW
    )
    assert "<tr><th>Status</th><td>finished</td></tr>" in finished
    finish_lesson(open_database(own_db.url), own_db.lesson, "source_lost")
    lost = report.report_html(
        report.load_report(own_db.url, EVERYONE, own_db.lesson), "UTC", 40.0, LIVE_NOW
    )
    assert (
        "<tr><th>Status</th><td>ended early: the camera, screen or video was lost</td></tr>" in lost
    )
    assert "source_lost" not in lost
