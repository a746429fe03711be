"""Still tiles: a face whose pixels do not change is flagged after a few seconds; live faces never.

The detector's logic on literal frames, and on the real sample videos and photos with MediaPipe.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.media import new_finder, video_samples
from benchmarks.stillness import call_truth, live_truth, still_truth, stillness_trace
from engine.stillness import StillnessDetector, StillnessSettings, crop_difference, face_crop
from tests.kit.galleries import read_back, reorder_gallery, sampled_frames, still_gallery

SETTINGS = StillnessSettings()


def texture(seed: int, height: int = 120, width: int = 160) -> np.ndarray:
    """A deterministic busy grey frame."""
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 37 + y * 91 + x * y * (13 + seed)) % 200 + 20).astype(np.uint8)


@pytest.mark.parametrize(
    ("reference", "current", "expected"),
    [
        ([[10, 30], [10, 30]], [[10, 30], [10, 30]], 0.0),
        ([[10, 30], [10, 30]], [[12, 32], [12, 32]], 2 / 10),  # contrast (std) 10, off by 2
        ([[10, 30], [10, 30]], [[10, 30], [10, 34]], 1 / 10),
        ([[50, 52], [50, 52]], [[54, 56], [54, 56]], 4 / 8),  # flat: contrast counts as 8
    ],
)
def test_crop_difference_is_in_units_of_the_references_contrast(
    reference: list[list[float]], current: list[list[float]], expected: float
) -> None:
    got = crop_difference(np.array(reference, np.float32), np.array(current, np.float32), 8.0)
    assert got == pytest.approx(expected)


def flags(frames: list[np.ndarray], boxes: list[tuple[float, float, float, float]],
          step_s: float = 0.5) -> list[bool]:
    detector = StillnessDetector(SETTINGS)
    return [detector.update([1], np.array([box], float), frame, k * step_s)[0]
            for k, (frame, box) in enumerate(zip(frames, boxes, strict=True))]


BOX = (40.0, 30.0, 64.0, 64.0)


def test_an_unchanging_face_is_still_once_unchanged_for_still_after_s() -> None:
    got = flags([texture(0)] * 9, [BOX] * 9)
    assert got == [False] * 6 + [True] * 3  # t = 3.0 s is the first still sample


def test_detector_jitter_of_the_box_is_no_change() -> None:
    jitter = [(40 + dx, 30 + dy, 64 + dw, 64 - dw) for dx, dy, dw in
              [(0, 0, 0), (2, -1, 1), (-2, 1, -2), (1, 2, 0), (0, -2, 2), (-1, 0, 1), (2, 2, -1)]]
    assert flags([texture(0)] * 7, jitter)[-1] is True


def test_a_change_of_the_face_restarts_the_count() -> None:
    frames = [texture(0)] * 4 + [texture(1)] * 8  # the picture changes at t = 2 s
    got = flags(frames, [BOX] * 12)
    assert got == [False] * 10 + [True] * 2  # still again from t = 2 + 3 s


def placed(picture: np.ndarray, at: tuple[int, int], seed: int = 5) -> np.ndarray:
    """A 200x300 frame of another texture with `picture` pasted at (x, y): a tile in a gallery."""
    frame = texture(seed, 200, 300)
    x, y = at
    frame[y:y + picture.shape[0], x:x + picture.shape[1]] = picture
    return frame


PICTURE = texture(0)[30:94, 40:104]  # the 64x64 face of BOX
HERE, THERE = (40, 30), (200, 120)  # a move of 2.8 box widths


def box_at(at: tuple[int, int]) -> tuple[float, float, float, float]:
    return (float(at[0]), float(at[1]), 64.0, 64.0)


def test_a_still_picture_that_moves_with_its_tile_stays_still() -> None:
    places = [HERE] * 8 + [THERE] * 4  # still from t = 3 s; its tile moves at t = 4 s
    got = flags([placed(PICTURE, p) for p in places], [box_at(p) for p in places])
    assert got == [False] * 6 + [True] * 6


def test_a_picture_that_moves_before_it_is_still_starts_over_at_its_new_place() -> None:
    places = [HERE] * 3 + [THERE] * 8  # moves at t = 1.5 s, before its 3 s
    got = flags([placed(PICTURE, p) for p in places], [box_at(p) for p in places])
    assert got == [False] * 9 + [True] * 2  # still from 1.5 + 3 s


def test_a_moved_picture_that_then_changes_starts_over() -> None:
    frames = [placed(PICTURE, HERE)] * 8 + [placed(PICTURE, THERE)] * 2 + [placed(255 - PICTURE, THERE)] * 2
    boxes = [box_at(HERE)] * 8 + [box_at(THERE)] * 4
    assert flags(frames, boxes) == [False] * 6 + [True] * 4 + [False] * 2  # the camera came on


def test_a_change_without_a_move_is_a_change_even_for_a_still_picture() -> None:
    near = (HERE[0] + 20, HERE[1])  # 0.3 box widths: within a tile, not a move
    frames = [placed(PICTURE, HERE)] * 8 + [placed(255 - PICTURE, near)] * 2
    assert flags(frames, [box_at(HERE)] * 8 + [box_at(near)] * 2) == [False] * 6 + [True] * 2 + [False] * 2


def live_face(k: int) -> np.ndarray:
    """A face that changes at every sample, as a live camera does."""
    return np.random.default_rng(k).integers(20, 220, size=(64, 64), dtype=np.uint8)


def test_a_live_face_seen_seldom_is_not_still_when_its_tile_moves() -> None:
    places = [HERE, HERE, THERE, THERE, HERE]  # every 5 s (0.2 samples/s), moving twice
    frames = [placed(live_face(k), p) for k, p in enumerate(places)]
    assert not any(flags(frames, [box_at(p) for p in places], step_s=5.0))


def test_a_live_face_back_elsewhere_after_a_gap_is_not_still() -> None:
    detector = StillnessDetector(SETTINGS)
    seen = [(0.0, HERE), (0.5, HERE), (1.0, HERE), (5.0, THERE), (5.5, THERE)]  # unseen 1-5 s
    got = [detector.update([1], np.array([box_at(p)]), placed(live_face(k), p), t)[0]
           for k, (t, p) in enumerate(seen)]
    assert not any(got)


def test_a_small_noise_below_the_threshold_is_still_and_above_it_is_live() -> None:
    rng = np.random.default_rng(0)
    base = texture(0).astype(np.float32)
    contrast = face_crop(base, BOX, SETTINGS.crop_px).std()

    def noisy(level: float) -> list[np.ndarray]:
        # Noise of a known mean absolute size on the crop: constant per 4x4 block (as a codec).
        frames = []
        for _ in range(9):
            blocks = rng.choice([-1.0, 1.0], size=(30, 40)) * level * contrast
            frames.append(np.clip(base + np.kron(blocks, np.ones((4, 4))), 0, 255).astype(np.uint8))
        return frames

    assert flags(noisy(0.2 * SETTINGS.max_difference), [BOX] * 9)[-1] is True
    assert not any(flags(noisy(3 * SETTINGS.max_difference), [BOX] * 9))


def test_forgotten_tracks_start_over() -> None:
    detector = StillnessDetector(SETTINGS)
    frame = texture(0)
    for k in range(7):
        detector.update([1], np.array([BOX]), frame, 0.5 * k)
    detector.forget([1])
    assert detector.update([1], np.array([BOX]), frame, 3.5) == [False]
    assert detector.difference(2, frame) is None


def test_rejects_ids_and_boxes_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 track IDs for 1 boxes"):
        StillnessDetector(SETTINGS).update([1, 2], np.array([BOX]), texture(0), 0.0)


def test_rejects_time_going_backwards() -> None:
    detector = StillnessDetector(SETTINGS)
    detector.update([], np.zeros((0, 4)), texture(0), 1.0)
    with pytest.raises(ValueError, match="backwards"):
        detector.update([], np.zeros((0, 4)), texture(0), 0.5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("crop_px", 2, "crop_px must be >= 4"), ("max_difference", 0.0, "max_difference must be > 0"),
     ("still_after_s", -1.0, "still_after_s must be > 0")],
)
def test_settings_refuse_impossible_values(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StillnessSettings(**{field: value})


@pytest.fixture(scope="module")
def finder():
    with new_finder() as f:
        yield f


@pytest.mark.slow
@pytest.mark.parametrize("video", ["WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"])
def test_a_live_face_on_a_real_video_is_never_flagged(finder, asset, video: str) -> None:
    trace = stillness_trace(video, video_samples(asset(video), 2.0), live_truth, finder, SETTINGS)
    assert trace.live_samples >= 4
    assert trace.live_flagged == 0
    assert trace.live_step_min > SETTINGS.max_difference


@pytest.mark.slow
def test_a_profile_photo_stays_still_through_a_calls_reorders_and_resize_and_no_live_face_is_flagged(finder):
    gallery = reorder_gallery()  # 5 reorders and a resize to 4x3 over 52 s, the photo moving 4 times
    frames = ((f.t_s, f.image) for f in sampled_frames(gallery, 2.0, gallery.layouts[-1].start_s + 6.0))
    trace = stillness_trace("reorders", frames, call_truth(gallery), finder, SETTINGS)
    assert trace.live_samples >= 8 * 90 and trace.live_flagged == 0
    assert trace.still_samples >= 90  # the photo after its first 3 s: every later sample
    assert trace.still_flagged / trace.still_samples >= 0.95


@pytest.mark.slow
def test_still_pictures_through_the_video_codec_are_flagged_after_the_warm_up(finder, tmp_path) -> None:
    gallery = still_gallery()
    gallery.write(tmp_path / "still.mp4", 8.0)
    frames = ((f.t_s, f.image) for f in read_back(gallery, tmp_path / "still.mp4", 2.0))
    trace = stillness_trace("still", frames, still_truth, finder, SETTINGS)
    assert trace.still_samples >= 9 * 8  # nine pictures, 8 samples each after 3 s of 8 s
    assert trace.still_flagged / trace.still_samples >= 0.95
    assert trace.still_window_max < SETTINGS.max_difference
