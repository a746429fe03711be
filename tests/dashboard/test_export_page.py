"""Export: the workbook, the teacher's CSVs, the raw CSV and the HTML report, as the buttons build them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import pytest
from openpyxl import load_workbook
from streamlit.runtime.media_file_manager import MediaFileManager

from dashboard import loaders, report
from storage.viewers import Viewer
from tests.dashboard.conftest import LIVE_NOW

EVERYONE = Viewer.everyone()


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes | str]]:
    """What each download button would send when clicked, by its deferred file id."""
    built: dict[str, Callable[[], bytes | str]] = {}
    register = MediaFileManager.add_deferred

    def keep(self, data_callable, *args, **kwargs):
        file_id = register(self, data_callable, *args, **kwargs)
        built[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return built


def _buttons(at) -> dict[str, object]:
    return {b.proto.label: b.proto for b in at.get("download_button")}


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_page_offers_the_workbook_the_teachers_csvs_the_raw_csv_and_the_report(app, seeded_db):
    at = app(seeded_db.url, "export", lessons_selected=seeded_db.lesson)
    assert list(_buttons(at)) == [
        "Lesson workbook (Excel)",
        "Timeline per minute (CSV)",
        "Per-student summary (CSV)",
        "Markers (CSV)",
        "Raw observations (CSV)",
        "Lesson report (HTML)",
    ]
    assert at.selectbox(key="export_lesson").value == seeded_db.lesson
    captions = " ".join(c.value for c in at.caption)
    assert "The raw export is exact and is not converted: times in UTC" in captions
    assert "Times in UTC (date cells in the workbook, with their UTC offset in the CSV files)" in captions


def test_the_buttons_build_the_files_in_the_teachers_time_zone(app, seeded_db, downloads):
    at = app(seeded_db.url, "export", lessons_selected=seeded_db.lesson, cp_timezone="Europe/Paris")
    buttons = _buttons(at)
    assert buttons["Lesson workbook (Excel)"].deferred_file_id in downloads

    def built(label: str) -> bytes:
        return downloads[buttons[label].deferred_file_id]()

    timeline = _rows(built("Timeline per minute (CSV)"))
    assert len(timeline) == 15  # Fractions II: 15 minutes from 08:00 UTC, 09:00 in Paris in January
    assert timeline[0]["Time (Europe/Paris)"] == "2025-01-06T09:00:00+01:00"
    students = _rows(built("Per-student summary (CSV)"))
    assert [r["Student"] for r in students] == [f"Student {i}" for i in range(1, 7)]
    assert all(re.fullmatch(r"\d{1,3}\.\d", r["Attentive (%)"]) for r in students)
    raw = _rows(built("Raw observations (CSV)"))
    assert len(raw) == 6 * 15 * 60 * 2 and raw[0]["ts"] == "2025-01-06T08:00:00+00:00"
    book = load_workbook(io.BytesIO(built("Lesson workbook (Excel)")), read_only=True)
    assert book.sheetnames == ["README", "Timeline", "Students", "Markers"]
    readme = {r[0]: r[1] for r in book["README"].iter_rows(values_only=True) if r[0]}
    assert readme["Lesson"] == "Fractions II" and readme["Time zone"].startswith("Europe/Paris")
    assert readme["Generated"] == "2025-03-03T10:04:00+01:00"  # the page's clock, in Paris
    book.close()


def test_an_unknown_time_zone_is_one_line_and_offers_no_file(app, seeded_db):
    at = app(seeded_db.url, "export", lessons_selected=seeded_db.lesson, cp_timezone="Mars/Olympus")
    assert [e.value for e in at.error] == [
        "The time zone “Mars/Olympus” is unknown on this computer: choose another on Privacy & settings."
    ]
    assert not at.get("download_button")


def test_the_lesson_report_offers_its_timeline_per_its_own_bucket(app, seeded_db, downloads):
    at = app(seeded_db.url, "lessons", lessons_selected=seeded_db.lesson)
    buttons = _buttons(at)
    assert list(buttons) == ["Lesson workbook (Excel)", "Timeline per 30 s (CSV)", "Lesson report (HTML)"]
    timeline = _rows(downloads[buttons["Timeline per 30 s (CSV)"].deferred_file_id]())
    assert len(timeline) == 30  # the 15-minute lesson's report draws 30-second points
    book = load_workbook(io.BytesIO(downloads[buttons["Lesson workbook (Excel)"].deferred_file_id]()))
    assert book["Timeline"].max_row == 1 + 30
    assert book["Timeline"]["A1"].value == "Time (UTC)"


def test_attention_only_exports_have_no_expressions(seeded_db):
    raw = _rows(loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.attention_only, "observations"))
    assert raw and all(r["p_happy"] == "" and r["expression"] == "" for r in raw)
    students = _rows(loaders.export_bytes(seeded_db.url, EVERYONE, seeded_db.attention_only, "students"))
    assert "Most common expression" not in students[0] and students[0]["Camera off (%)"] == "0.0"


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
