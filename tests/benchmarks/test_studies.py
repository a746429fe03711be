"""The studies' pure parts: attention stability, variant scores, the preprocessing decision, speed ratios."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.photo import Verdict
from benchmarks.robustness import decide, score_variant, stability, variant_name
from benchmarks.speed import agreement, rotated, summarise

ATTENTIVE = Verdict("attentive", False, False)
AWAY = Verdict("looking_away", False, True)
CLOSED = Verdict("eyes_closed", True, False)


def test_stability_compares_only_faces_found_in_both_images() -> None:
    clean = [ATTENTIVE, ATTENTIVE, AWAY, None, CLOSED]
    altered = [ATTENTIVE, AWAY, AWAY, ATTENTIVE, None]
    s = stability(clean, altered)
    assert (s["compared"], s["eyes_closed"]) == (3, 1.0)
    assert s["state"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["looking_away"] == pytest.approx(2 / 3, abs=1e-4)


def test_stability_reports_the_median_drift_of_the_measures() -> None:
    clean = [Verdict("attentive", False, False, 0.0, 0.0, 0.30, 0.0)] * 3
    altered = [
        Verdict("attentive", False, False, yaw, 0.0, 0.30 - d, 0.0)
        for yaw, d in ((1.0, 0.0), (-4.0, 0.05), (2.0, 0.1))
    ]
    s = stability(clean, altered)
    assert s["median_abs_change_yaw_deg"] == 2.0
    assert s["median_abs_change_eye_openness"] == pytest.approx(0.05)
    assert s["median_abs_change_gaze_offset"] == 0.0


def test_stability_without_any_pair_is_none() -> None:
    assert stability([None], [ATTENTIVE])["state"] is None


def test_score_variant_counts_missed_faces_as_wrong_with_zero_true_probability() -> None:
    labels = ("happy", "neutral")
    probs = [np.array([0.9, 0.1]), np.array([0.4, 0.6]), None]
    s = score_variant(["happy", "happy", "neutral"], probs, labels)
    assert s == {
        "accuracy": pytest.approx(1 / 3, abs=1e-4),
        "balanced_accuracy": 0.25,
        "mean_p_true": pytest.approx((0.9 + 0.4 + 0.0) / 3, abs=1e-4),
    }


def _row(condition: str, scores: dict[str, tuple[float, float]]) -> dict:
    return {
        "condition": condition,
        "variants": {
            n: {"balanced_accuracy": b, "accuracy": b, "mean_p_true": p}
            for n, (b, p) in scores.items()
        },
    }


def test_decide_picks_the_best_mean_balanced_accuracy_and_each_conditions_best() -> None:
    results = [
        _row("clean", {"none": (0.8, 0.5), "light": (0.7, 0.5)}),
        _row("dark", {"none": (0.3, 0.2), "light": (0.6, 0.4)}),
    ]
    d = decide(results)
    assert d["best_overall"] == "light"
    assert d["best_per_condition"] == {"clean": "none", "dark": "light"}
    assert [r["variant"] for r in d["ranking"]] == ["light", "none"]


def test_decide_breaks_ties_by_mean_true_class_probability() -> None:
    d = decide([_row("clean", {"none": (0.5, 0.3), "smooth": (0.5, 0.4)})])
    assert d["best_overall"] == "smooth"


def test_variant_names() -> None:
    assert variant_name(()) == "none"
    assert variant_name(("light", "equalise")) == "light+equalise"


@pytest.mark.parametrize(
    ("shift", "order"), [(0, ["a", "b", "c"]), (1, ["b", "c", "a"]), (5, ["c", "a", "b"])]
)
def test_rotated_changes_the_call_order_but_not_the_result_order(
    shift: int, order: list[str]
) -> None:
    called = []
    calls = [lambda n=n: called.append(n) or n for n in "abc"]
    assert rotated(calls, shift) == ["a", "b", "c"]
    assert called == order


def test_summarise_reports_classpulse_time_as_a_ratio_of_fers() -> None:
    rows = [
        {"cp_ms": cp, "fer_ms": fer, "cp_faces": 1, "fer_faces": f, "matched": f, "agree": a}
        for cp, fer, f, a in [(10.0, 50.0, 1, 1), (20.0, 100.0, 1, 0), (30.0, 60.0, 0, 0)]
    ]
    s = summarise("set", rows)
    assert s["classpulse_ms"]["median"] == 20.0 and s["fer_ms"]["median"] == 60.0
    assert s["time_ratio"] == pytest.approx(1 / 3, abs=1e-3)
    assert s["per_frame_ratio_median"] == pytest.approx(0.2)
    assert (s["classpulse_faces"], s["fer_faces"], s["fer_frames_with_face"]) == (3, 2, 2)
    assert s["label_agreement"] == 0.5


def test_summarise_bounds_the_speed_up_by_mediapipe_alone() -> None:
    rows = [
        {"cp_ms": cp, "fer_ms": 40.0, "cp_faces": 1, "fer_faces": 1, "matched": 1, "agree": 1,
         "detect_ms": det, "landmarks_ms": lm}
        for cp, det, lm in [(14.0, 0.0, 8.0), (25.0, 10.0, 9.0), (13.0, 0.0, 10.0)]
    ]
    s = summarise("set", rows)
    assert s["mediapipe_ms_median"] == 10.0  # per-frame detect + landmarks: 8, 19, 10
    assert s["best_possible_speedup"] == 4.0  # fer 40 ms over MediaPipe's 10 ms


@pytest.mark.parametrize(
    ("matched_agree", "expected"),
    [([(16, 14), (16, 13)], 0.844), ([(16, 0), (16, 0)], 0.0), ([(0, 0)], None), ([], None)],
)
def test_agreement_is_the_share_of_matched_faces_with_the_same_label(
    matched_agree: list[tuple[int, int]], expected: float | None
) -> None:
    rows = [{"matched": m, "agree": a} for m, a in matched_agree]
    assert agreement(rows) == expected
