"""The student page: its routes over HTTP, then the consent screen and what a page that cannot run
says, in a real Chromium (the students at work are in test_student_classroom.py)."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dashboard.join.assets_routes import CONTENT_SECURITY_POLICY
from dashboard.join.notice import notice_paragraphs
from dashboard.join.payload import FIELDS, SAMPLE_FIELDS, example_batch
from storage.db import open_database
from storage.join import close_join
from storage.schema import JoinStudent
from tests.dashboard.join.student_kit import (
    FACE_VIDEOS,
    RequestLog,
    ServedServer,
    fake_camera_args,
    observations,
    open_lesson,
    playwright_session,
    serving_server,
    student_browser,
    wait_for_text,
    write_fake_camera,
)

ARTIFACT = "join_student_page.json"


@pytest.fixture
def server(tmp_path) -> Iterator[ServedServer]:
    with serving_server(f"sqlite:///{tmp_path / 'classpulse.db'}") as served:
        yield served
    assert "Traceback" not in served.log.getvalue(), served.log.getvalue()


def test_the_page_is_the_same_static_html_for_every_well_formed_code(server) -> None:
    code = open_lesson(server.db_url).code
    known = httpx.get(server.page(code))
    unknown = httpx.get(server.page("2345-6789-AB"))
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert code not in known.text and "2345" not in unknown.text
    assert known.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert known.headers["cache-control"] == "no-store"
    assert known.headers["content-type"].startswith("text/html")


def test_a_malformed_code_is_one_line_that_does_not_repeat_it(server) -> None:
    answer = httpx.get(f"{server.url}/join/%3Cscript%3Eabc")
    assert answer.status_code == 404
    assert "not a ClassPulse join link" in answer.text
    assert "script" not in answer.text.lower().replace('<link rel="stylesheet"', "")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_the_page_settings_name_the_libraries_and_the_fields(server) -> None:
    settings = httpx.get(f"{server.url}/join/page.json").json()
    assert [(f["field"], f["type"], f["meaning"]) for f in settings["sample_fields"]] == list(
        SAMPLE_FIELDS
    )
    assert tuple(f["field"] for f in settings["sample_fields"]) == FIELDS
    for name in ("tasks_vision_module", "face_model", "onnxruntime_module", "expression_model"):
        assert httpx.head(server.url + settings["urls"][name]).status_code == 200, name


def test_the_notice_is_public_and_says_the_retention(server, monkeypatch) -> None:
    monkeypatch.setenv("CLASSPULSE_RETENTION_DAYS", "30")
    answer = httpx.get(f"{server.url}/join/notice")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for heading, text in notice_paragraphs(30):
        assert html.escape(heading) in answer.text and html.escape(text) in answer.text
    assert "at most 30 days" in answer.text


def test_a_returning_page_learns_its_thresholds_and_the_clock_from_the_lookup(server) -> None:
    code = open_lesson(server.db_url, rate_hz=2.0).code
    before = int(time.time() * 1000)
    lookup = httpx.get(f"{server.url}/join/api/{code}").json()
    assert before - 1000 <= lookup["server_time_ms"] <= int(time.time() * 1000) + 1000
    assert lookup["attention"]["ear_closed"] > 0 and lookup["limits"]["min_gap_ms"] == 250


def test_without_the_assets_the_page_says_what_to_do_and_the_api_still_answers(tmp_path) -> None:
    empty = tmp_path / "no-assets"
    empty.mkdir()
    with serving_server(f"sqlite:///{tmp_path / 'classpulse.db'}", assets_root=empty) as served:
        code = open_lesson(served.db_url).code
        page = httpx.get(served.page(code))
        assert page.status_code == 503 and "make assets" in page.text
        assert httpx.get(f"{served.url}/join/api/{code}").status_code == 200
    assert (
        "students cannot join from their browser until the assets are fetched"
        in served.log.getvalue()
    )


# --- in Chromium -------------------------------------------------------------------------------


def _text(page, selector: str) -> str:
    return page.inner_text(selector).strip()


@pytest.mark.browser
def test_the_consent_screen_shows_the_fields_and_the_exact_json_then_dont_join_sends_nothing(
    server,
) -> None:
    code = open_lesson(server.db_url, attention_only=True, ask_names=True).code
    with playwright_session() as pw, student_browser(pw) as browser:
        page = browser.new_page()
        log = RequestLog()
        log.attach(page)
        page.goto(server.page(code))
        page.wait_for_selector("#consent:not([hidden])", timeout=20_000)
        assert json.loads(_text(page, "#example")) == example_batch(True)
        rows = page.eval_on_selector_all(
            "#fields tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [tuple(r) for r in rows] == list(SAMPLE_FIELDS)
        assert "attention-only" in _text(page, "#consent-mode")
        assert "No image, video, landmark or face crop ever leaves this device" in _text(
            page, "#consent"
        )
        assert page.get_attribute("#notice-link", "href") == "/join/notice"
        assert page.is_visible("#name")
        page.click("#decline")
        assert "You did not join" in _text(page, "#done")
    assert not [r for r in log.requests if r.method == "POST"]


@pytest.mark.browser
def test_an_expression_lesson_shows_its_json_with_probabilities(server) -> None:
    code = open_lesson(server.db_url, attention_only=False).code
    with playwright_session() as pw, student_browser(pw) as browser:
        page = browser.new_page()
        page.goto(server.page(code))
        page.wait_for_selector("#consent:not([hidden])", timeout=20_000)
        assert json.loads(_text(page, "#example")) == example_batch(False)
        assert "also measures facial expressions" in _text(page, "#consent-mode")
        assert not page.is_visible("#name")


@pytest.mark.browser
def test_an_unknown_or_ended_lesson_says_so_in_one_line(server) -> None:
    info = open_lesson(server.db_url)
    close_join(open_database(server.db_url), info.lesson_id, datetime.now(UTC))
    with playwright_session() as pw, student_browser(pw) as browser:
        page = browser.new_page()
        page.goto(server.page(info.code))
        page.wait_for_selector("#problem:not([hidden])", timeout=20_000)
        assert _text(page, "#problem") == "This lesson has ended."
        page.goto(server.page("2345678923"))
        page.wait_for_selector("#problem:not([hidden])", timeout=20_000)
        assert (
            _text(page, "#problem")
            == "No lesson has this code: check the link your teacher gave you."
        )
        assert not page.is_visible("#consent")


@pytest.mark.browser
def test_a_page_opened_over_plain_http_on_a_lan_name_says_to_use_https(server) -> None:
    code = open_lesson(server.db_url).code
    port = server.url.rsplit(":", 1)[1]
    with (
        playwright_session() as pw,
        student_browser(pw, "--host-resolver-rules=MAP school.test 127.0.0.1") as browser,
    ):
        page = browser.new_page()
        page.goto(f"http://school.test:{port}/join/{code}")
        page.wait_for_selector("#problem:not([hidden])", timeout=20_000)
        line = _text(page, "#problem")
        assert (
            "open the https:// link your teacher gives, or ask them to set up HTTPS (docs/join.md)"
            in line
        )
        assert not page.is_visible("#consent")


CANNOT_RUN = [  # (Chromium flags, a script run before the page's, the line the page says)
    pytest.param(["--use-fake-device-for-media-stream"], None,
                 "Camera permission was refused: allow the camera for this page", id="permission-refused"),
    pytest.param(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=device-count=0"],
                 None, "No camera was found on this device", id="no-camera"),
    # Chromium always has WebAssembly: the page meets a browser without it.
    pytest.param([], "delete globalThis.WebAssembly;",
                 "This browser is too old for this page (it has no WebAssembly)", id="no-webassembly"),
]  # fmt: skip


@pytest.mark.browser
@pytest.mark.parametrize(("flags", "init_script", "line"), CANNOT_RUN)
def test_a_page_that_cannot_run_says_so_in_one_line(server, flags, init_script, line) -> None:
    code = open_lesson(server.db_url).code
    with playwright_session() as pw, student_browser(pw, *flags) as browser:
        page = browser.new_page()
        if init_script:
            page.add_init_script(init_script)
        page.goto(server.page(code))
        page.wait_for_selector("#consent:not([hidden]), #problem:not([hidden])", timeout=20_000)
        if page.is_visible("#join"):
            page.click("#join")
        said = wait_for_text(page, "#problem", line, 30)
        assert not page.is_visible("#lesson")
        if page.is_visible("#consent"):  # the student can fix it and press Join again
            assert page.is_enabled("#join")
    assert "\n" not in said.strip()
    with open_database(server.db_url).connect() as conn:
        assert conn.execute(select(JoinStudent.id)).first() is None  # nobody joined


@pytest.mark.browser
def test_an_attention_only_student_never_loads_the_expression_model(
    server, asset, tmp_path
) -> None:
    info = open_lesson(server.db_url, rate_hz=2.0, attention_only=True, ask_names=True)
    camera = write_fake_camera(asset(FACE_VIDEOS[0]), tmp_path / "face.y4m", seconds=4)
    with playwright_session() as pw, student_browser(pw, *fake_camera_args(camera)) as browser:
        page = browser.new_page()
        log = RequestLog()
        log.attach(page)
        page.goto(server.page(info.code))
        page.wait_for_selector("#consent:not([hidden])", timeout=20_000)
        page.fill("#name", "  Ada   Lovelace ")
        page.click("#join")
        page.wait_for_selector("#lesson:not([hidden])", timeout=60_000)
        assert _text(page, "#who") == "You joined as Ada Lovelace."
        wait_for_text(page, "#numbers caption", re.compile(r": sent$"), 30)
        record_bytes("attention_only", log)
    assert not [
        r.url for r in log.requests if "onnxruntime" in r.url or "/model/expression/" in r.url
    ]
    rows = observations(server.db_url, info.lesson_id)[1]
    assert rows and all(r["p_happy"] is None for r in rows)
    assert sum(r["state"] != "absent" for r in rows) >= 0.8 * len(rows)
    with open_database(server.db_url).connect() as conn:
        assert conn.execute(select(JoinStudent.name)).scalar_one() == "Ada Lovelace"


def record_bytes(kind: str, log: RequestLog) -> None:
    """What one page (loaded once) downloaded and what its batches cost, into test-artifacts/
    (docs/join.md). While its browser is open: Playwright reads the sizes from it."""
    from tests.dashboard.browser import ARTIFACTS

    files, downloaded = log.downloaded()
    batches = [r for r in log.posts("/samples") if r.status == 200]
    samples = sum(len(r.json()["samples"]) for r in batches)
    body = sum(len(r.body) for r in batches)
    headers = sum(r.sizes()["requestHeadersSize"] for r in batches)
    ARTIFACTS.mkdir(exist_ok=True)
    path: Path = ARTIFACTS / ARTIFACT
    data = json.loads(path.read_text()) if path.exists() else {}
    data[kind] = {
        "first_load_files": files,
        "first_load_bytes": downloaded,
        "batches": len(batches),
        "samples": samples,
        "body_bytes_per_sample": body / samples,
        "with_headers_bytes_per_sample": (body + headers) / samples,
    }
    path.write_text(json.dumps(data, indent=1))


@pytest.mark.browser
def test_a_late_timer_takes_fewer_samples_says_why_and_makes_up_none(
    server, asset, tmp_path
) -> None:
    info = open_lesson(server.db_url, rate_hz=2.0, attention_only=True)
    camera = write_fake_camera(asset(FACE_VIDEOS[0]), tmp_path / "face.y4m", seconds=4)
    with playwright_session() as pw, student_browser(pw, *fake_camera_args(camera)) as browser:
        page = browser.new_page()
        page.goto(server.page(info.code))
        page.wait_for_selector("#consent:not([hidden])", timeout=20_000)
        page.click("#join")
        wait_for_text(page, "#counts", re.compile(r"measured [1-9]"), 60)
        # A busy device: the page's own thread held for 2.5 s.
        page.evaluate(
            "() => { const end = performance.now() + 2500; while (performance.now() < end) {} }"
        )
        busy = wait_for_text(page, "#throttled", "fewer samples were taken", 10)
        # A background tab: headless Chromium keeps every tab visible and runs its timers on time, so
        # the test says the tab is hidden (the page's visibility signal) and holds its thread as a
        # throttled tab's timers are held.
        frozen_from = int(time.time() * 1000)
        page.evaluate(
            "() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
            " document.dispatchEvent(new Event('visibilitychange'));"
            " const end = performance.now() + 3000; while (performance.now() < end) {}"
            " delete document.hidden; }"
        )
        frozen_to = int(time.time() * 1000)
        background = wait_for_text(page, "#throttled", "background", 10)
        time.sleep(2.0)
        page.click("#pause")
        counts = wait_for_text(page, "#counts", re.compile(r"waiting 0$"), 30)
    assert busy.startswith("This device was busy: fewer samples were taken")
    assert background.startswith("This tab was in the background: fewer samples were taken")
    assert "refused" not in counts  # no burst to catch up: the server took every sample
    times = [r["t_ms"] for r in observations(server.db_url, info.lesson_id)[1]]
    assert not [t for t in times if frozen_from + 600 < t < frozen_to - 100]  # none while held
    assert (
        len([t for t in times if frozen_to <= t < frozen_to + 2000]) <= 2.0 * 2 + 1
    )  # nor a burst after
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 250


@pytest.mark.slow
def test_the_dashboards_own_server_serves_the_student_page_on_its_port(tmp_path) -> None:
    import os

    from tests.dashboard.streamlit_server import serving_dashboard

    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    code = open_lesson(db_url).code
    with serving_dashboard(
        tmp_path,
        dict(os.environ),
        CLASSPULSE_DATA_DIR=str(tmp_path / "data"),
        CLASSPULSE_DB_URL=db_url,
        CLASSPULSE_ENGINE_STANDBY="0",
    ) as url:
        page = httpx.get(f"{url}/join/{code}")
        notice = httpx.get(f"{url}/join/notice")
        lookup = httpx.get(f"{url}/join/api/{code}")
        module = httpx.get(f"{url}/join/static/student.js")
    assert (
        page.status_code == 200
        and page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    )
    assert '<script type="module" src="/join/static/student.js">' in page.text
    assert notice.status_code == 200 and "What leaves your device" in notice.text
    assert lookup.status_code == 200 and lookup.json()["open"]
    assert module.status_code == 200 and module.headers["content-type"].startswith(
        "text/javascript"
    )
