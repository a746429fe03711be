"""Looks only when needed: the tracker asks for them at a newcomer, a vanished track, a stale look
or a doubt from the pixels, and otherwise matches by position; the engine's identity stage on a
real composed gallery whose tiles swap within the same grid."""

from __future__ import annotations

import numpy as np
import pytest

from engine.call_gallery import multi_face_people, read_photo
from engine.gallery import tile_rects
from engine.identity import IdentityStage
from engine.stillness import StillnessSettings
from engine.tracking import LazyLooks, Tracker, TrackingSettings
from tests.engine.test_tracking import LOOKS, NINE, Sighting
from tests.kit.galleries import PHOTOS, compose_gallery

SETTINGS = TrackingSettings()


def run_lazy(samples: list[tuple[float, list[Sighting]]], doubt_at: set[float] = frozenset(),
             settings: TrackingSettings = SETTINGS, unchanged_at: set[float] = frozenset(),
             ) -> tuple[list[list[int]], list[bool]]:
    """IDs per sample, and whether looks were computed, with pixels that doubt at `doubt_at` and
    that show every face unchanged in its place at `unchanged_at`."""
    tracker = Tracker(settings)
    ids, looked = [], []
    for t_s, sightings in samples:
        boxes = np.array([b for b, _ in sightings], dtype=np.float64).reshape(-1, 4)
        looks = np.array([LOOKS[n] for _, n in sightings], np.float32)
        update = tracker.update(boxes, t_s, LazyLooks(
            lambda looks=looks: looks,
            lambda guess, t_s=t_s: t_s in doubt_at,
            lambda guess, t_s=t_s: [t_s in unchanged_at] * len(guess),
        ))
        ids.append(update.ids)
        looked.append(update.looked)
    return ids, looked


def test_a_gallery_where_nothing_moves_is_matched_by_position_between_look_refreshes() -> None:
    samples = [(0.5 * k, list(zip(NINE[:4], "ABCD", strict=True))) for k in range(6)]
    ids, looked = run_lazy(samples)
    assert ids == [[1, 2, 3, 4]] * 6
    # The first sample starts the tracks with their looks; they are refreshed every 2 s.
    assert looked == [True, False, False, False, True, False]


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (list(zip(NINE[:5], "ABCDE", strict=True)), "a newcomer"),
        (list(zip(NINE[:3], "ABC", strict=True)), "a track gone from its place"),
        (list(zip([NINE[0], NINE[1], NINE[2], NINE[5]], "ABCD", strict=True)), "a tile moved"),
    ],
)
def test_looks_are_computed_when_position_alone_is_not_enough(second: list[Sighting], why: str) -> None:
    first = list(zip(NINE[:4], "ABCD", strict=True))
    _, looked = run_lazy([(0.0, first), (0.5, first), (1.0, second)])
    assert looked == [True, False, True], why


def test_a_doubt_from_the_pixels_lets_the_looks_follow_a_swap_within_the_grid() -> None:
    before = list(zip(NINE[:4], "ABCD", strict=True))
    swapped = list(zip(NINE[:4], "BACD", strict=True))  # same boxes, two students swapped tiles
    samples = [(0.0, before), (0.5, before), (1.0, swapped)]
    assert run_lazy(samples, doubt_at={1.0}) == ([[1, 2, 3, 4], [1, 2, 3, 4], [2, 1, 3, 4]],
                                                 [True, False, True])
    # Without the doubt the positions stand until the next look refresh: the doubt is what keeps IDs.
    assert run_lazy(samples)[0][2] == [1, 2, 3, 4]


def test_two_look_alikes_whose_pixels_stay_put_keep_their_ids_whatever_the_looks_say() -> None:
    # A and her look-alike A' side by side; then each one's look drifts towards the other's track
    # (a twin, or the same virtual background), but the pixels in each tile are their own still.
    before = list(zip(NINE[:3], ["A", "A'", "C"], strict=True))
    drifted = list(zip(NINE[:3], ["A'", "A", "C"], strict=True))
    samples = [(0.0, before), (2.0, drifted)]
    assert run_lazy(samples, doubt_at={2.0}, unchanged_at={2.0})[0] == [[1, 2, 3], [1, 2, 3]]
    # Without the pixels' word the looks win: the two trade IDs (what a real swap of tiles needs).
    assert run_lazy(samples, doubt_at={2.0})[0] == [[1, 2, 3], [2, 1, 3]]


def test_lazy_looks_always_doubting_give_the_ids_of_looks_at_every_sample() -> None:
    samples = [(0.0, list(zip(NINE, "ABCDEFGHI", strict=True))),
               (0.5, list(zip(NINE, "GBCDEFAHI", strict=True))),
               (1.0, list(zip(NINE[:8], "IBCDEFAH", strict=True))),
               (1.5, list(zip(NINE, "IBCDEFAHG", strict=True)))]
    eager = Tracker(SETTINGS)
    expected = [eager.update(np.array([b for b, _ in s], float), t,
                             np.array([LOOKS[n] for _, n in s], np.float32)).ids for t, s in samples]
    ids, _ = run_lazy(samples, doubt_at={0.5, 1.0, 1.5})
    assert ids == expected


def test_look_refresh_must_be_positive() -> None:
    with pytest.raises(ValueError, match="look_refresh_s must be > 0"):
        TrackingSettings(look_refresh_s=0.0)


# --- the engine's stage on real pixels ----------------------------------------------------------

def _gallery(people: list[np.ndarray]) -> np.ndarray:
    return compose_gallery(people, (3, 3), (1280, 720))


def _boxes() -> np.ndarray:
    """A face-sized box in the middle of each of the nine tiles (the stage needs no finder)."""
    return np.array([(x + w * 0.3, y + h * 0.2, w * 0.4, h * 0.6)
                     for x, y, w, h in tile_rects((3, 3), (1280, 720))], np.float64)


def test_the_stage_follows_two_students_who_swap_tiles_and_skips_looks_while_nothing_changes() -> None:
    import cv2

    people = [read_photo(n) for n in PHOTOS] + multi_face_people()[:4]
    swapped = list(people)
    swapped[1], swapped[5] = people[5], people[1]
    stage = IdentityStage(TrackingSettings(), StillnessSettings())
    results = []
    for t_s, tiles_now in [(0.0, people), (0.5, people), (1.0, swapped), (1.5, swapped)]:
        image = _gallery(tiles_now)
        results.append(stage.update(image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), _boxes(), t_s))
    ids = [r.update.ids for r in results]
    assert ids[0] == ids[1] == list(range(1, 10))
    assert ids[2] == ids[3] == [1, 6, 3, 4, 5, 2, 7, 8, 9]
    assert [r.update.looked for r in results] == [True, False, True, False]
