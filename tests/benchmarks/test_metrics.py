"""Scores, timing summaries and box matching on literal inputs."""

from __future__ import annotations

import pytest

from benchmarks.metrics import (
    MISSED,
    box_iou,
    largest_box_index,
    match_boxes,
    score,
    timing_summary,
)

LABELS = ("angry", "happy", "neutral")


def test_score_counts_a_missed_face_as_wrong_and_in_its_own_column() -> None:
    s = score(["happy", "happy", "neutral", "angry"], ["happy", None, "neutral", "happy"], LABELS)
    assert s.correct == 2
    assert s.missed == 1
    assert s.accuracy == pytest.approx(0.5)
    assert s.accuracy_found == pytest.approx(2 / 3)
    assert s.confusion == [[0, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert s.as_dict()["confusion_columns"] == [*LABELS, MISSED]


def test_recall_is_none_for_a_class_without_images_and_balanced_accuracy_skips_it() -> None:
    s = score(["happy", "happy", "neutral"], ["happy", "neutral", "neutral"], LABELS)
    assert s.recall == {"angry": None, "happy": 0.5, "neutral": 1.0}
    assert s.balanced_accuracy == pytest.approx(0.75)
    assert s.support == {"angry": 0, "happy": 2, "neutral": 1}


@pytest.mark.parametrize(
    ("truth", "predicted", "message"),
    [(["sad"], ["happy"], "true label 'sad'"), (["happy"], ["sad"], "predicted label 'sad'"),
     (["happy"], [], "1 true labels but 0 predictions")],
)
def test_score_rejects_unknown_labels_and_length_mismatch(
    truth: list[str], predicted: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        score(truth, predicted, LABELS)


def test_timing_summary_gives_median_and_spread() -> None:
    t = timing_summary([10.0, 20.0, 30.0, 40.0, 50.0])
    assert (t["n"], t["median"], t["min"], t["max"]) == (5, 30.0, 10.0, 50.0)
    assert t["p10"] == pytest.approx(14.0)
    assert t["p90"] == pytest.approx(46.0)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 10, 10), 50 / 150),
        ((0, 0, 10, 10), (20, 20, 5, 5), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
)
def test_box_iou(a: tuple, b: tuple, iou: float) -> None:
    assert box_iou(a, b) == pytest.approx(iou)


def test_match_boxes_pairs_each_box_once_best_overlap_first() -> None:
    ours = [(0, 0, 10, 10), (100, 100, 20, 20), (300, 300, 5, 5)]
    theirs = [(102, 101, 20, 20), (1, 1, 10, 10), (2, 0, 10, 10)]
    assert match_boxes(ours, theirs) == [(0, 1), (1, 0)]  # IoU 81/119 beats 80/120


def test_largest_box_index_picks_the_biggest_area_or_none() -> None:
    assert largest_box_index([(0, 0, 10, 10), (5, 5, 30, 20), (0, 0, 20, 20)]) == 1
    assert largest_box_index([]) is None
