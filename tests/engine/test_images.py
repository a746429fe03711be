"""The one guard every image passes (engine.images): limits checked before decoding, broken files refused."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import images
from engine.sources import ImageFolderSource
from models.assets import asset_path
from tests.images import jpeg_of, png_of_zeros, truncated

GREY = np.full((480, 640, 3), 90, np.uint8)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"not an image at all", "not an image that can be read"),
        (png_of_zeros(20_000, 20_000), "over 50 megapixels"),
        (png_of_zeros(8000, 6251, idat=b"garbage"), "8000 x 6251 pixels, over 50 megapixels"),
        (truncated(jpeg_of(GREY)), "truncated or corrupt"),
        (truncated(cv2.imencode(".png", GREY)[1].tobytes()), "truncated or corrupt"),
    ],
    ids=["empty", "not-an-image", "bomb", "header-over-limit", "truncated-jpeg", "truncated-png"],
)
def test_a_broken_or_hostile_image_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(images.ImageRejected, match=reason):
        images.decode(data)


def test_a_photo_is_decoded_as_rgb_at_its_size() -> None:
    bgr = cv2.imread(str(asset_path("single_face.jpg")))
    rgb = images.read_file(asset_path("single_face.jpg"))
    assert rgb.shape == bgr.shape
    assert np.abs(rgb[..., ::-1].astype(int) - bgr.astype(int)).mean() < 2  # the same pixels


def test_a_large_jpeg_is_scaled_to_the_side_asked_for() -> None:
    big = np.zeros((4000, 6000, 3), np.uint8)
    big[:, 3000:] = 255
    rgb = images.decode(jpeg_of(big), max_side_px=1600)
    assert rgb.shape == (1067, 1600, 3)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a_bomb.png").write_bytes(png_of_zeros(20_000, 20_000))
    (folder / "b_truncated.jpg").write_bytes(truncated((asset_path("single_face.jpg")).read_bytes()))
    (folder / "c_empty.jpg").write_bytes(b"")
    (folder / "d_face.jpg").write_bytes(asset_path("single_face.jpg").read_bytes())
    return folder


def test_a_folder_source_skips_each_bad_image_with_one_line_naming_it(tmp_path: Path, caplog) -> None:
    source = ImageFolderSource(_folder(tmp_path), rate_hz=1.0)
    with caplog.at_level(logging.WARNING, logger="engine.sources"):
        frames = list(source.frames())
    assert [f.index for f in frames] == [3]  # only the good photo is a sample
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    for name, reason in (("a_bomb.png", "over 50 megapixels"), ("b_truncated.jpg", "truncated or corrupt"),
                         ("c_empty.jpg", "the file is empty")):
        (line,) = [ln for ln in lines if name in ln]
        assert reason in line and "\n" not in line


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from Linux's /proc")
def test_a_decompression_bomb_in_a_folder_costs_no_memory(tmp_path: Path) -> None:
    """The whole folder read in a fresh process: its peak memory (VmHWM, which starts afresh at exec,
    unlike ru_maxrss, which a forked child inherits from the test process) stays far from the 6 GiB
    the bomb once took to decode: it is refused from its header."""
    folder = _folder(tmp_path)
    code = ("import re; from pathlib import Path; from engine.sources import ImageFolderSource; "
            f"n = len(list(ImageFolderSource({str(folder)!r}, 1.0).frames())); "
            "peak = re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text()).group(1); "
            "print(n, peak)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    frames, peak_kb = map(int, out.stdout.split())
    assert frames == 1
    assert peak_kb < 1_000_000, f"peak {peak_kb} kB"
