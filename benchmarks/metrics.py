"""Pure scoring: confusion matrices, accuracy, per-class recall, timing summaries, box matching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MISSED = "missed"  # the prediction recorded when no face was found


@dataclass(frozen=True, slots=True)
class Scores:
    """Classification scores over labelled images; a missed face counts as a wrong answer."""

    labels: tuple[str, ...]
    images: int
    missed: int
    correct: int
    recall: dict[str, float | None]  # None for a class with no image
    support: dict[str, int]
    confusion: list[list[int]]  # rows: true label; columns: labels then MISSED

    @property
    def accuracy(self) -> float:
        """Correct over all images (missed faces included as wrong)."""
        return self.correct / self.images if self.images else 0.0

    @property
    def accuracy_found(self) -> float:
        """Correct over the images where a face was found."""
        found = self.images - self.missed
        return self.correct / found if found else 0.0

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes present, so a set of mostly neutral faces cannot hide the others."""
        present = [r for r in self.recall.values() if r is not None]
        return sum(present) / len(present) if present else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "images": self.images,
            "missed": self.missed,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "accuracy_found": round(self.accuracy_found, 4),
            "balanced_accuracy": round(self.balanced_accuracy, 4),
            "recall": {k: None if v is None else round(v, 4) for k, v in self.recall.items()},
            "support": self.support,
            "confusion_columns": [*self.labels, MISSED],
            "confusion": self.confusion,
        }


def score(truth: Sequence[str], predicted: Sequence[str | None], labels: Sequence[str]) -> Scores:
    """Score predictions (None = no face found) against true labels drawn from `labels`."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    columns = [*labels, MISSED]
    index = {name: i for i, name in enumerate(columns)}
    confusion = np.zeros((len(labels), len(columns)), dtype=int)
    for true, pred in zip(truth, predicted, strict=True):
        if true not in index or true == MISSED:
            raise ValueError(f"true label {true!r} is not one of {list(labels)}")
        if pred is not None and pred not in index:
            raise ValueError(f"predicted label {pred!r} is not one of {list(labels)}")
        confusion[index[true], index[MISSED if pred is None else pred]] += 1
    support = confusion.sum(axis=1)
    diagonal = np.diag(confusion[:, : len(labels)])
    recall = {
        name: (float(diagonal[i] / support[i]) if support[i] else None)
        for i, name in enumerate(labels)
    }
    return Scores(
        labels=tuple(labels),
        images=len(truth),
        missed=int(confusion[:, -1].sum()),
        correct=int(diagonal.sum()),
        recall=recall,
        support={name: int(support[i]) for i, name in enumerate(labels)},
        confusion=confusion.tolist(),
    )


def timing_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """Median and spread (10th/25th/75th/90th percentiles, min, max) of per-frame times in ms."""
    if not values_ms:
        raise ValueError("no timings to summarise")
    v = np.asarray(values_ms, dtype=float)
    p10, p25, p50, p75, p90 = np.percentile(v, [10, 25, 50, 75, 90])
    return {
        "n": int(v.size),
        "median": round(float(p50), 2),
        "p10": round(float(p10), 2),
        "p25": round(float(p25), 2),
        "p75": round(float(p75), 2),
        "p90": round(float(p90), 2),
        "min": round(float(v.min()), 2),
        "max": round(float(v.max()), 2),
    }


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def match_boxes(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], min_iou: float = 0.3
) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (i, j) of boxes from `a` and `b`, best IoU first, each at least `min_iou`."""
    pairs = sorted(
        ((box_iou(x, y), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), reverse=True
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j))
    return sorted(out)


def largest_box_index(boxes: Sequence[Sequence[float]]) -> int | None:
    """Index of the box with the largest area (the subject of a single-person photo), None if none."""
    if not boxes:
        return None
    return max(range(len(boxes)), key=lambda i: boxes[i][2] * boxes[i][3])
