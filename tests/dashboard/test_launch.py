"""The Live form checked and turned into a launch, through the engine's source-spec grammar."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard import launch
from dashboard.launch import LessonForm, LessonLaunch, Upload


@pytest.mark.parametrize(
    ("choice", "region", "expected"),
    [
        ("webcam:0", "", "0"),
        ("webcam:2", "ignored", "2"),
        ("screen", "", "screen"),
        ("screen", "  ", "screen"),
        ("screen", "0,0,800,600", "screen:0,0,800,600"),
        ("screen", " 10, 20, 640, 480 ", "screen:10,20,640,480"),
        ("demo", "", "demo"),
    ],
)
def test_each_form_choice_builds_its_spec(choice, region, expected):
    assert str(launch.source_from_form(choice, region=region)) == expected


@pytest.mark.parametrize(
    ("choice", "region", "path", "message"),
    [
        ("screen", "1,2", "", "a screen region is x,y,w,h"),
        ("screen", "0,0,0,600", "", "width and height above 0"),
        ("file", "", "", "choose a video file"),
        ("file", "", "   ", "choose a video file"),
        ("file", "", "/no/such/lesson.mp4", "there is no file or folder at /no/such/lesson.mp4"),
        ("file", "", "screen:1", "a screen region is x,y,w,h"),
        ("radio", "", "", "unknown source choice 'radio'"),
    ],
)
def test_a_form_the_engine_could_not_read_is_refused(choice, region, path, message):
    with pytest.raises(ValueError, match=message):
        launch.source_from_form(choice, region=region, path=path)


def test_a_typed_path_or_stream_url_is_taken_as_the_engine_reads_it(tmp_path):
    video = tmp_path / "lesson.mp4"
    video.write_bytes(b"x")
    assert str(launch.source_from_form("file", path=f" {video} ")) == str(video)
    assert str(launch.source_from_form("file", path="rtsp://cam/1")) == "rtsp://cam/1"
    assert str(launch.source_from_form("file", path=str(tmp_path))) == str(tmp_path)


def test_choices_list_each_webcam_then_screen_file_and_demo():
    assert launch.source_choices([0, 2]) == ["webcam:0", "webcam:2", "screen", "file", "demo"]
    assert [launch.source_label(c) for c in launch.source_choices([1])] == [
        "Webcam 1",
        "Screen region (a video-call gallery on this screen)",
        "Video file",
        "Demo gallery (recorded video call)",
    ]


def test_an_upload_is_kept_under_the_data_folder_and_wins_over_a_typed_path(tmp_path):
    form = LessonForm("Maths", "7A", "file", path="/no/such.mp4", rate_hz=1.5)
    made = launch.launch_from_form(
        form, db_url="sqlite:///x.db", data_dir=tmp_path, upload=Upload("my clip.mp4", b"video")
    )
    saved = Path(made.source)
    assert saved.parent == (tmp_path / launch.UPLOAD_DIR).resolve()
    assert saved.name.endswith("-my_clip.mp4") and saved.read_bytes() == b"video"
    assert (made.title, made.group_name, made.rate_hz, made.db_url) == (
        "Maths",
        "7A",
        1.5,
        "sqlite:///x.db",
    )


@pytest.mark.parametrize(
    ("title", "rate_hz", "message"),
    [("  ", 2.0, "needs a title"), ("Maths", 50.0, "within 0.2-30 per second")],
)
def test_a_refused_form_leaves_no_upload_behind(tmp_path, title, rate_hz, message):
    form = LessonForm(title, "", "file", rate_hz=rate_hz)
    with pytest.raises(ValueError, match=message):
        launch.launch_from_form(
            form, db_url="sqlite:///x.db", data_dir=tmp_path, upload=Upload("a.mp4", b"v")
        )
    assert not (tmp_path / launch.UPLOAD_DIR).exists()


def test_an_upload_counts_only_for_the_file_choice(tmp_path):
    form = LessonForm("Maths", "", "demo")
    made = launch.launch_from_form(
        form, db_url="sqlite:///x.db", data_dir=tmp_path, upload=Upload("a.mp4", b"v")
    )
    assert made.source == "demo"
    assert not (tmp_path / launch.UPLOAD_DIR).exists()


@pytest.mark.parametrize(
    ("typed", "kept"),
    [(" demo ", "demo"), ("screen:1, 2, 3, 4", "screen:1,2,3,4"), (" 0", "0")],
)
def test_a_launch_keeps_its_source_as_the_grammar_writes_it(typed, kept):
    assert LessonLaunch("Maths", "", typed).source == kept


def test_a_launch_with_a_source_outside_the_grammar_is_refused():
    with pytest.raises(ValueError, match="a screen region is x,y,w,h"):
        LessonLaunch("Maths", "", "screen:1,2")
