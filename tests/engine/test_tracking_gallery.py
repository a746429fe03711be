"""Track IDs follow the people, not the tiles: real MediaPipe and the tracker on a composed call
whose tiles reorder, whose grid resizes, where a camera goes off and on, played through a codec."""

from __future__ import annotations

from collections import defaultdict

import pytest

from benchmarks.identity import identity_score, track_call
from benchmarks.media import new_finder
from tests.kit.galleries import (
    CAMERA_OFF,
    REORDER_SECONDS,
    REORDER_TIMES,
    reorder_gallery,
    through_codec,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    gallery = reorder_gallery()
    with new_finder() as finder:
        frames = through_codec(gallery, REORDER_SECONDS, 2.0, tmp_path_factory.mktemp("call"))
        return gallery, track_call(frames, finder)


def test_every_student_keeps_one_id_through_reorders_resize_and_camera_off(tracked) -> None:
    gallery, samples = tracked
    ids: dict[int, set[int]] = defaultdict(set)
    for sample in samples:
        for student, track_id in sample.faces:
            ids[student].add(track_id)
    assert None not in ids  # every face lay in a tile
    assert sorted(ids) == list(range(len(gallery.students)))
    assert all(len(found) == 1 for found in ids.values()), dict(ids)
    assert len({next(iter(found)) for found in ids.values()}) == len(ids)  # no two share an ID


def test_the_score_counts_every_layout_change_kept_and_no_swap(tracked) -> None:
    gallery, samples = tracked
    score = identity_score(samples)
    assert score.swaps == 0
    assert score.kept_pct == 100.0
    # Ten students on both sides of each of five changes (fewer at the ones the camera-off misses).
    assert score.changes_crossed >= 9 * 4 and score.changes_kept == score.changes_crossed


def test_the_student_whose_camera_was_off_is_away_then_back_under_their_id(tracked) -> None:
    gallery, samples = tracked
    off = next(i for i, s in enumerate(gallery.students) if s.camera_off)
    seen = [(s.t_s, tid) for s in samples for student, tid in s.faces if student == off]
    during = [t for t, _ in seen if CAMERA_OFF[0] + 0.5 <= t < CAMERA_OFF[1]]
    assert during == []
    assert any(t < CAMERA_OFF[0] for t, _ in seen) and any(t > CAMERA_OFF[1] for t, _ in seen)
    assert len({tid for _, tid in seen}) == 1


def test_a_newcomer_in_the_tile_of_a_student_who_left_gets_a_new_id(tracked) -> None:
    gallery, samples = tracked
    names = [s.name for s in gallery.students]
    leaver, newcomer = names.index("nodder"), names.index("group-5")
    ids = {who: {tid for s in samples for student, tid in s.faces if student == who}
           for who in (leaver, newcomer)}
    first_ids = max(tid for s in samples if s.t_s < REORDER_TIMES[-1] for _, tid in s.faces)
    assert len(ids[newcomer]) == 1 and min(ids[newcomer]) > first_ids
    assert ids[leaver].isdisjoint(ids[newcomer])
