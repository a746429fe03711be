"""The speed benchmark's large galleries: real sample media composed into 5x5 and 7x7 calls."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.engine_speed import LARGE_SIDES, large_gallery_frames


@pytest.mark.parametrize("side", LARGE_SIDES)
def test_large_gallery_frames_are_full_hd_samples_of_a_moving_call(side):
    frames = large_gallery_frames(side, 3)
    assert len(frames) == 3
    assert all(f.shape == (1080, 1920, 3) and f.dtype == np.uint8 for f in frames)
    # Half a second apart every live tile has moved: no two samples are the same picture.
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 1.0
