"""The source-spec grammar: literal texts read into specs, specs written back, bad texts refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.source_spec import (
    SourceKind,
    SourceSpec,
    SourceSpecError,
    parse_region,
    parse_source_spec,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", SourceSpec(SourceKind.CAMERA, camera_index=0)),
        ("12", SourceSpec(SourceKind.CAMERA, camera_index=12)),
        ("  2 ", SourceSpec(SourceKind.CAMERA, camera_index=2)),
        ("demo", SourceSpec(SourceKind.DEMO)),
        ("screen", SourceSpec(SourceKind.SCREEN)),
        ("screen:0,0,800,600", SourceSpec(SourceKind.SCREEN, region=(0, 0, 800, 600))),
        ("screen:10, 20, 640, 480", SourceSpec(SourceKind.SCREEN, region=(10, 20, 640, 480))),
        ("screen:-1920,0,1920,1080", SourceSpec(SourceKind.SCREEN, region=(-1920, 0, 1920, 1080))),
        ("rtsp://cam.local/live", SourceSpec(SourceKind.URL, target="rtsp://cam.local/live")),
        ("HTTP://x/y.m3u8", SourceSpec(SourceKind.URL, target="HTTP://x/y.m3u8")),
        ("/videos/lesson.mp4", SourceSpec(SourceKind.PATH, target="/videos/lesson.mp4")),
        ("lesson.mp4", SourceSpec(SourceKind.PATH, target="lesson.mp4")),
        ("~/photos", SourceSpec(SourceKind.PATH, target="~/photos")),
        ("screenshots/", SourceSpec(SourceKind.PATH, target="screenshots/")),
        ("screen.mp4", SourceSpec(SourceKind.PATH, target="screen.mp4")),
        ("demo.mp4", SourceSpec(SourceKind.PATH, target="demo.mp4")),
        ("./0", SourceSpec(SourceKind.PATH, target="./0")),
        ("C:\\lessons\\a.mp4", SourceSpec(SourceKind.PATH, target="C:\\lessons\\a.mp4")),
    ],
)
def test_parse_reads_each_form_of_the_grammar(text, expected):
    assert parse_source_spec(text) == expected


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (SourceSpec.camera(0), "0"),
        (SourceSpec.demo(), "demo"),
        (SourceSpec.screen(), "screen"),
        (SourceSpec.screen((5, 6, 1280, 720)), "screen:5,6,1280,720"),
        (SourceSpec.url("rtsp://u:p@cam/1"), "rtsp://u:p@cam/1"),
        (SourceSpec.path(" /data/uploads/a b.mp4 "), "/data/uploads/a b.mp4"),
    ],
)
def test_a_built_spec_is_written_as_text_that_reads_back_the_same(spec, text):
    assert str(spec) == text
    assert parse_source_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no source given"),
        ("   ", "no source given"),
        ("screen:", "x,y,w,h"),
        ("screen:1,2", "x,y,w,h"),
        ("screen:1,2,3,4,5", "x,y,w,h"),
        ("screen:0,0,-800,600", "x,y,w,h"),
        ("screen:a,b,c,d", "x,y,w,h"),
        ("screen:0,0,0,600", "width and height above 0"),
    ],
)
def test_texts_outside_the_grammar_are_refused_with_what_was_expected(text, message):
    with pytest.raises(SourceSpecError, match=message):
        parse_source_spec(text)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SourceSpec.camera(-1), "0 or more"),
        (lambda: SourceSpec.path("0"), "reads as a camera source; write ./0"),
        (lambda: SourceSpec.path("demo"), "reads as a demo source"),
        (lambda: SourceSpec.path(""), "non-empty"),
        (lambda: SourceSpec.url("cam.local/live"), "starts with a scheme"),
        (lambda: SourceSpec(SourceKind.DEMO, target="x"), "belongs to a stream or file"),
        (lambda: SourceSpec(SourceKind.SCREEN, camera_index=1), "belongs to a camera"),
        (lambda: SourceSpec.screen((0, 0, 0, 10)), "above 0"),
    ],
)
def test_a_spec_that_would_not_read_back_is_refused_when_built(build, message):
    with pytest.raises(SourceSpecError, match=message):
        build()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("rtsp://admin:secret@10.0.0.5/stream", "rtsp://admin:***@10.0.0.5/stream"),
        ("rtsp://admin:se/cr@t@10.0.0.5/stream", "rtsp://admin:***@10.0.0.5/stream"),
        ("https://cdn.example/live.m3u8?token=abc&q=hd", "https://cdn.example/live.m3u8?token=***&q=hd"),
        ("http://cam.local/live", "http://cam.local/live"),
        ("screen:0,0,800,600", "screen:0,0,800,600"),
    ],
)
def test_shown_masks_a_stream_urls_credentials(text, shown):
    assert parse_source_spec(text).shown == shown


@pytest.mark.parametrize(
    ("text", "live"),
    [("0", True), ("screen", True), ("rtsp://c/1", True), ("demo", False), ("a.mp4", False)],
)
def test_live_feeds_are_told_apart_from_recordings(text, live):
    assert parse_source_spec(text).live is live


def test_parse_region_accepts_spaces_around_commas():
    assert parse_region(" 1 , 2 ,3, 4 ") == (1, 2, 3, 4)


def test_the_grammar_module_loads_without_opencv():
    code = "import sys, engine.source_spec; print('cv2' in sys.modules, 'mediapipe' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert result.stdout.split() == ["False", "False"]
