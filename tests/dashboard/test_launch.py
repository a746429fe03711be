"""The Live form checked and turned into a launch, through the engine's source-spec grammar."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from dashboard import launch
from dashboard.launch import LessonForm, LessonLaunch, SourcePolicy, Upload


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
    policy = SourcePolicy((tmp_path,), allow_streams=True)
    assert str(launch.source_from_form("file", path=f" {video} ", policy=policy)) == str(video)
    assert str(launch.source_from_form("file", path="rtsp://cam/1", policy=policy)) == "rtsp://cam/1"
    assert str(launch.source_from_form("file", path=str(tmp_path), policy=policy)) == str(tmp_path)


# --- which sources the administrator allows ---------------------------------------------------

NO_PATHS = (
    "Typed paths are off on this dashboard (no media folders are set, CLASSPULSE_MEDIA_DIRS); "
    "upload the video instead"
)
NO_STREAMS = (
    "Stream URLs are off on this dashboard (its administrator can allow them with "
    "CLASSPULSE_ALLOW_STREAMS=1); upload the video instead"
)


@pytest.fixture
def media(tmp_path) -> Path:
    """A media folder with a video and a folder of images; beside it, a private file."""
    folder = tmp_path / "media"
    (folder / "photos").mkdir(parents=True)
    (folder / "lesson.mp4").write_bytes(b"v")
    (tmp_path / "private.txt").write_text("marks")
    return folder


def _outside(media: Path) -> str:
    return f"Only files inside the media folders ({media}) can be used; upload the video instead"


@pytest.mark.parametrize(
    "typed",
    [
        "/etc/passwd",
        "/no/such/file.mp4",
        "{media}/../private.txt",  # climbs out with ..
        "{media}/../no-such.mp4",
        "{media}/link-out",  # a symlink inside that points outside
        "{media}2/lesson.mp4",  # a sibling whose name starts like the folder
        "~/lesson.mp4",
        "private.txt",  # relative: to the server's working folder
    ],
)
def test_a_path_outside_the_media_folders_gets_the_same_one_line_whether_it_exists_or_not(
    media, typed, monkeypatch
):
    (media / "link-out").symlink_to(media.parent / "private.txt")
    monkeypatch.chdir(media.parent)
    with pytest.raises(ValueError, match=f"^{re.escape(_outside(media))}$"):
        launch.source_from_form("file", path=typed.format(media=media), policy=SourcePolicy((media,)))


@pytest.mark.parametrize("typed", ["/etc/passwd", "/no/such/file.mp4", "{media}/lesson.mp4"])
def test_with_no_media_folder_no_typed_path_is_taken(media, typed):
    with pytest.raises(ValueError, match=f"^{re.escape(NO_PATHS)}$"):
        launch.source_from_form("file", path=typed.format(media=media))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("{media}/lesson.mp4", "{real}/lesson.mp4"),
        ("{media}/photos", "{real}/photos"),
        ("{media}/photos/../lesson.mp4", "{real}/lesson.mp4"),
        ("{link}/lesson.mp4", "{real}/lesson.mp4"),  # the folder reached through a symlink
    ],
)
def test_a_path_inside_a_media_folder_is_handed_on_resolved(media, tmp_path, typed, expected):
    link = tmp_path / "media-link"
    link.symlink_to(media)
    names = {"media": media, "link": link, "real": media.resolve()}
    policy = SourcePolicy((tmp_path / "elsewhere", link))  # a media folder given by its symlink
    spec = launch.source_from_form("file", path=typed.format(**names), policy=policy)
    assert str(spec) == expected.format(**names)


def test_a_missing_file_inside_a_media_folder_says_so(media):
    typed = f"{media}/absent.mp4"
    with pytest.raises(ValueError, match=f"^there is no file or folder at {re.escape(typed)}$"):
        launch.source_from_form("file", path=typed, policy=SourcePolicy((media,)))


@pytest.mark.parametrize("url", ["rtsp://cam/1", "https://cam.school.lan/live", "file:///etc/passwd"])
def test_stream_urls_are_refused_unless_the_administrator_allows_them(url):
    with pytest.raises(ValueError, match=f"^{re.escape(NO_STREAMS)}$"):
        launch.source_from_form("file", path=url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "concat://a|b", "gopher://x/1"])
def test_an_allowed_stream_must_be_a_network_one(url):
    with pytest.raises(ValueError, match="^Only network streams .rtsp, rtsps, rtmp.* upload the video"):
        launch.source_from_form("file", path=url, policy=SourcePolicy(allow_streams=True))


@pytest.mark.parametrize("typed", ["demo", "0", "screen:0,0,10,10"])
def test_a_camera_screen_or_the_demo_typed_as_a_path_is_always_taken(typed):
    assert str(launch.source_from_form("file", path=typed)) == typed


@pytest.mark.parametrize(
    ("policy", "label"),
    [
        (SourcePolicy(), None),
        (SourcePolicy((Path("/srv/a"), Path("/srv/b"))), "…or a file in the media folders (/srv/a, /srv/b)"),
        (SourcePolicy(allow_streams=True), "…or a stream URL"),
        (SourcePolicy((Path("/srv/a"),), True), "…or a file in the media folders (/srv/a) or a stream URL"),
    ],
)  # fmt: skip
def test_the_typed_source_field_offers_what_the_policy_takes(policy, label):
    assert launch.typed_source_label(policy) == label


def test_choices_list_each_webcam_then_screen_file_demo_and_students_joining():
    assert launch.source_choices([0, 2]) == ["webcam:0", "webcam:2", "screen", "file", "demo", "join"]
    assert [launch.source_label(c) for c in launch.source_choices([1])] == [
        "Webcam 1",
        "Screen region (a video-call gallery on this screen)",
        "Video file",
        "Demo gallery (recorded video call)",
        "Students join from their browser",
    ]


def test_an_upload_is_kept_under_the_data_folder_and_wins_over_a_typed_path(tmp_path):
    form = LessonForm("Maths", "7A", "file", path="/etc/passwd", rate_hz=1.5)
    made = launch.launch_from_form(form, data_dir=tmp_path, upload=Upload("my clip.mp4", b"video"))
    saved = Path(made.source)
    assert saved.parent == (tmp_path / launch.UPLOAD_DIR).resolve()
    assert saved.name.endswith("-my_clip.mp4") and saved.read_bytes() == b"video"
    assert (made.title, made.group_name, made.rate_hz) == ("Maths", "7A", 1.5)
    assert launch.is_upload(made.source, tmp_path)


def test_uploads_are_private_to_the_account_running_the_dashboard(tmp_path):
    folder = tmp_path / launch.UPLOAD_DIR
    folder.mkdir(mode=0o755)  # as an earlier version left it
    old_umask = os.umask(0)
    try:
        first = launch.save_upload(tmp_path, "a.mp4", b"v")
        second = launch.save_upload(tmp_path, "a.mp4", b"w")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (first, second)} == {0o600}
    assert first != second and second.read_bytes() == b"w"  # same name, same second: both kept


@pytest.mark.parametrize("name", ["../../etc/cron.d/x", ".hidden", "a b/c d.mp4"])
def test_an_upload_name_cannot_leave_the_uploads_folder_or_hide(tmp_path, name):
    saved = launch.save_upload(tmp_path, name, b"v")
    assert saved.parent == launch.upload_folder(tmp_path)
    assert not saved.name.startswith(".") and "/" not in saved.name.split("-", 2)[-1]


@pytest.mark.parametrize(
    ("title", "rate_hz", "message"),
    [("  ", 2.0, "needs a title"), ("Maths", 50.0, "within 0.2-30 per second")],
)
def test_a_refused_form_leaves_no_upload_behind(tmp_path, title, rate_hz, message):
    form = LessonForm(title, "", "file", rate_hz=rate_hz)
    with pytest.raises(ValueError, match=message):
        launch.launch_from_form(form, data_dir=tmp_path, upload=Upload("a.mp4", b"v"))
    assert not (tmp_path / launch.UPLOAD_DIR).exists()


def test_an_upload_counts_only_for_the_file_choice(tmp_path):
    form = LessonForm("Maths", "", "demo")
    made = launch.launch_from_form(form, data_dir=tmp_path, upload=Upload("a.mp4", b"v"))
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


@pytest.mark.parametrize("max_faces", [0, 101])
def test_a_face_limit_the_engine_does_not_take_is_refused_in_words(tmp_path, max_faces):
    form = LessonForm("Maths", "", "demo", max_faces=max_faces)
    with pytest.raises(ValueError, match=f"the face limit must be within 1-100 faces, got {max_faces}"):
        launch.launch_from_form(form, data_dir=tmp_path)


def test_the_forms_face_limit_reaches_the_launch(tmp_path):
    made = launch.launch_from_form(LessonForm("Maths", "", "demo", max_faces=64), data_dir=tmp_path)
    assert made.max_faces == 64
