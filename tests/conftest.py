"""Shared fixtures: verified sample media and model files from the asset cache (`make assets`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.assets import AssetError, asset_path
from tests.kit.galleries import compose_gallery, video_frame  # noqa: F401  (video_frame: for tests)


@pytest.fixture(scope="session")
def asset() -> Callable[[str], Path]:
    """Path of a verified asset by name; fails with the fix when assets were not fetched."""

    def get(name: str) -> Path:
        try:
            return asset_path(name)
        except AssetError as exc:
            pytest.fail(str(exc))

    return get


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (Eileen Collins, smiling), as OpenCV BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def grace_hopper_bgr() -> np.ndarray:
    """matplotlib's bundled grace_hopper.jpg, as OpenCV BGR."""
    import matplotlib.cbook as cbook

    image = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def gallery_16(asset, astronaut_bgr, grace_hopper_bgr) -> np.ndarray:
    """A 4x4 video-call gallery at 1280x720 built from 16 real face photos and video frames."""
    photos = [cv2.imread(str(asset(n))) for n in
              ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")]
    tiles = photos + [astronaut_bgr, grace_hopper_bgr]
    tiles += [video_frame(asset("WolfgangLanger_Pexels.mp4"), i) for i in (0, 100, 200, 300, 400)]
    tiles += [video_frame(asset("single_face.mp4"), 10), video_frame(asset("single_face.mp4"), 60),
              video_frame(asset("face_noface.mov"), 5), video_frame(asset("noface_face.mov"), 160)]
    return compose_gallery(tiles, (4, 4), (1280, 720))
