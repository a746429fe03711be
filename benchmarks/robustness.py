"""The paper's robustness study, reproduced on the sanity set under controlled conditions.

For each condition (benchmarks.conditions) every sanity image is altered (occlusions placed from the
landmarks found on the clean image), faces are searched again on the altered image, and the subject's
crop is classified under each preprocessing variant (the same mini-Xception weights, only the steps of
models.preprocess changed). Reported per condition: faces found (ClassPulse and fer), expression
accuracy per variant and fer's, and how often the attention verdict matches the clean image's.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from benchmarks.conditions import CONDITIONS, Condition
from benchmarks.fer_env import FerWorker
from benchmarks.metrics import largest_box_index, score
from benchmarks.photo import Verdict, probability_row, subject_results
from benchmarks.report import machine_line, table
from benchmarks.sanity_set import SanitySet
from engine.faces import FaceFinder
from models.assets import asset_path
from models.classify import ExpressionClassifier
from storage.records import EXPRESSIONS

log = logging.getLogger(__name__)

# The paper's steps alone and combined; "stretch" is the contrast step of models.preprocess.
VARIANTS: tuple[tuple[str, ...], ...] = (
    (),
    ("light",),
    ("equalise",),
    ("smooth",),
    ("stretch",),
    ("light", "equalise"),
    ("equalise", "smooth"),
    ("light", "smooth"),
    ("light", "equalise", "smooth"),
    ("light", "equalise", "smooth", "stretch"),
)


def variant_name(steps: tuple[str, ...]) -> str:
    return "+".join(steps) if steps else "none"


DRIFTS = ("yaw_deg", "pitch_deg", "eye_openness", "gaze_offset")


def stability(
    clean: list[Verdict | None], altered: list[Verdict | None]
) -> dict[str, float | int | None]:
    """Agreement of altered-image verdicts with clean-image verdicts over faces found in both, and the
    median absolute drift of the measures behind them."""
    pairs = [(c, a) for c, a in zip(clean, altered, strict=True) if c is not None and a is not None]
    if not pairs:
        return {
            "compared": 0,
            "state": None,
            "eyes_closed": None,
            "looking_away": None,
            **{f"median_abs_change_{k}": None for k in DRIFTS},
        }
    n = len(pairs)
    return {
        "compared": n,
        "state": round(sum(c.state == a.state for c, a in pairs) / n, 4),
        "eyes_closed": round(sum(c.eyes_closed == a.eyes_closed for c, a in pairs) / n, 4),
        "looking_away": round(sum(c.looking_away == a.looking_away for c, a in pairs) / n, 4),
        **{
            f"median_abs_change_{k}": round(
                float(np.median([abs(getattr(a, k) - getattr(c, k)) for c, a in pairs])), 3
            )
            for k in DRIFTS
        },
    }


def score_variant(
    truth: list[str], probs: list[np.ndarray | None], labels: tuple[str, ...]
) -> dict[str, float]:
    """Accuracy, balanced accuracy and mean probability of the true class (0 for a missed face)."""
    predicted = [None if p is None else labels[int(p.argmax())] for p in probs]
    s = score(truth, predicted, labels)
    p_true = [
        0.0 if p is None else float(p[labels.index(t)]) for t, p in zip(truth, probs, strict=True)
    ]
    return {
        "accuracy": round(s.accuracy, 4),
        "balanced_accuracy": round(s.balanced_accuracy, 4),
        "mean_p_true": round(float(np.mean(p_true)), 4),
    }


def run(
    sanity: SanitySet,
    classifier: ExpressionClassifier,
    fer: FerWorker | None,
    conditions: tuple[Condition, ...] = CONDITIONS,
) -> dict[str, Any]:
    """Every condition over every sanity image: detection, classification per variant, verdicts, fer."""
    truth = [im.label for im in sanity.images]
    variants = [
        ExpressionClassifier(classifier.model, classifier.cfg.with_(preprocess=v)) for v in VARIANTS
    ]
    images = [cv2.imread(str(sanity.path_of(im))) for im in sanity.images]
    results = []
    with FaceFinder(asset_path("face_landmarker.task")) as finder:
        clean_faces = [subject_results(finder, bgr, [None]) for bgr in images]
        clean_verdicts = [None if r is None else Verdict.of(r[0]) for r, _ in clean_faces]
        for cond in conditions:
            log.info("robustness: %s", cond.name)
            probs: dict[str, list[np.ndarray | None]] = {variant_name(v): [] for v in VARIANTS}
            verdicts: list[Verdict | None] = []
            fer_pred: list[str | None] = []
            for k, (bgr, (_, all_faces)) in enumerate(zip(images, clean_faces, strict=True)):
                altered = cond.apply(bgr, [f.landmarks for f in all_faces], k)
                subject, _ = subject_results(finder, altered, variants)
                verdicts.append(None if subject is None else Verdict.of(subject[0]))
                for name, result in zip(probs, subject or [None] * len(variants), strict=True):
                    probs[name].append(probability_row(result))
                if fer is not None:
                    found, _ = fer.detect(altered)
                    i = largest_box_index([f.box for f in found])
                    fer_pred.append(None if i is None else found[i].label)
            row: dict[str, Any] = {
                "condition": cond.name,
                "description": cond.description,
                "images": len(images),
                "classpulse_found": sum(v is not None for v in verdicts),
                "occlusion_placed": sum(len(f) > 0 for _, f in clean_faces)
                if cond.needs_landmarks
                else None,
                "stability": stability(clean_verdicts, verdicts),
                "variants": {
                    name: score_variant(truth, p, classifier.labels) for name, p in probs.items()
                },
            }
            if fer is not None:
                s = score(truth, fer_pred, EXPRESSIONS)
                row["fer"] = {
                    "found": s.images - s.missed,
                    "accuracy": round(s.accuracy, 4),
                    "balanced_accuracy": round(s.balanced_accuracy, 4),
                }
            results.append(row)
    return {
        "images": len(images),
        "default_preprocess": list(classifier.cfg.preprocess),
        "conditions": results,
        "decision": decide(results),
    }


def decide(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The variant with the best mean balanced accuracy over all conditions (ties: mean p(true class)),
    and each condition's best."""
    names = list(results[0]["variants"])

    def mean(name: str, key: str) -> float:
        return float(np.mean([r["variants"][name][key] for r in results]))

    ranking = sorted(
        names, key=lambda n: (mean(n, "balanced_accuracy"), mean(n, "mean_p_true")), reverse=True
    )
    per_condition = {
        r["condition"]: max(
            names,
            key=lambda n, r=r: (
                r["variants"][n]["balanced_accuracy"],
                r["variants"][n]["mean_p_true"],
            ),
        )
        for r in results
    }
    return {
        "best_overall": ranking[0],
        "ranking": [
            {
                "variant": n,
                "mean_balanced_accuracy": round(mean(n, "balanced_accuracy"), 4),
                "mean_accuracy": round(mean(n, "accuracy"), 4),
                "mean_p_true": round(mean(n, "mean_p_true"), 4),
            }
            for n in ranking
        ],
        "best_per_condition": per_condition,
    }


def markdown(data: dict[str, Any], info: dict[str, Any]) -> str:
    """Per-condition table (detection, stability, fer), the variant grid, and the decision."""
    conds = data["conditions"]
    rows = []
    for r in conds:
        st = r["stability"]
        default = r["variants"][variant_name(tuple(data["default_preprocess"]))]
        fer = r.get("fer", {})
        rows.append(
            [
                r["condition"],
                r["description"],
                f"{r['classpulse_found']}/{r['images']}",
                f"{fer['found']}/{r['images']}" if fer else "–",
                f"{default['accuracy']:.3f}",
                f"{default['balanced_accuracy']:.3f}",
                f"{fer['accuracy']:.3f}" if fer else "–",
                f"{fer['balanced_accuracy']:.3f}" if fer else "–",
                st["state"],
                st["eyes_closed"],
                st["looking_away"],
                " / ".join(str(st[f"median_abs_change_{k}"]) for k in DRIFTS),
            ]
        )
    default_name = variant_name(tuple(data["default_preprocess"]))
    lines = [
        "## Robustness under controlled conditions",
        "",
        machine_line(info),
        "",
        table(
            [
                "condition",
                "what",
                "faces found ClassPulse",
                "faces found fer",
                f"accuracy ClassPulse ({default_name})",
                f"balanced accuracy ClassPulse ({default_name})",
                "accuracy fer",
                "balanced accuracy fer",
                "attention state = clean",
                "eyes-closed = clean",
                "looking-away = clean",
                "median change yaw° / pitch° / eye openness / gaze",
            ],
            rows,
        ),
        "",
        "Balanced accuracy (mean per-class recall) of mini-Xception per preprocessing variant "
        "(rows: condition; best of each row in bold):",
        "",
    ]
    names = list(conds[0]["variants"])
    grid = []
    for r in conds:
        best = data["decision"]["best_per_condition"][r["condition"]]
        grid.append(
            [
                r["condition"],
                *[
                    (
                        f"**{r['variants'][n]['balanced_accuracy']:.3f}**"
                        if n == best
                        else f"{r['variants'][n]['balanced_accuracy']:.3f}"
                    )
                    for n in names
                ],
            ]
        )
    lines += [
        table(["condition", *names], grid),
        "",
        "Mean over all conditions, best first:",
        "",
        table(
            ["variant", "mean balanced accuracy", "mean accuracy", "mean p(true class)"],
            [
                [d["variant"], d["mean_balanced_accuracy"], d["mean_accuracy"], d["mean_p_true"]]
                for d in data["decision"]["ranking"]
            ],
        ),
        "",
        f"Best overall: **{data['decision']['best_overall']}** (the engine's checkpoint default is "
        f"**{default_name}**).",
    ]
    return "\n".join(lines)


def figures(data: dict[str, Any]) -> dict[str, Any]:
    """Balanced accuracy per condition and variant; faces found per condition."""
    import plotly.graph_objects as go

    conds = [r["condition"] for r in data["conditions"]]
    acc = go.Figure()
    for name in data["conditions"][0]["variants"]:
        acc.add_trace(
            go.Bar(
                name=name,
                x=conds,
                y=[r["variants"][name]["balanced_accuracy"] for r in data["conditions"]],
            )
        )
    acc.update_layout(
        barmode="group",
        yaxis_title="balanced accuracy",
        title="mini-Xception under each condition, per preprocessing variant",
    )
    found = go.Figure(
        [go.Bar(name="ClassPulse", x=conds, y=[r["classpulse_found"] for r in data["conditions"]])]
    )
    if "fer" in data["conditions"][0]:
        found.add_trace(
            go.Bar(name="fer", x=conds, y=[r["fer"]["found"] for r in data["conditions"]])
        )
    found.update_layout(
        barmode="group",
        yaxis_title=f"faces found (of {data['images']})",
        title="Faces found under each condition",
    )
    return {"accuracy": acc, "faces_found": found}
