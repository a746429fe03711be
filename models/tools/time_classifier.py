"""Time `ExpressionClassifier.predict` per call for batch sizes 1 and 16 (real crops, after warm-up).

    .venv/bin/python -m models.tools.time_classifier [--threads N] [--repeats 100]

Reports median and 90th-percentile milliseconds per call, preprocessing included. Timings depend on the
machine and its load; they are for docs/models.md, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from models.classify import load_classifier
from models.tools.sample_faces import SAMPLE_FACES, face_crop


def time_predict(batch_sizes: tuple[int, ...] = (1, 16), repeats: int = 100,
                 threads: int | None = None) -> list[dict[str, float]]:
    """Median/p90 milliseconds per predict call for each batch size."""
    classifier = load_classifier(num_threads=threads)
    crops = [face_crop(f) for f in SAMPLE_FACES]
    rows = []
    for n in batch_sizes:
        batch = [crops[i % len(crops)] for i in range(n)]
        for _ in range(10):
            classifier.predict(batch)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            classifier.predict(batch)
            samples.append((time.perf_counter() - start) * 1000)
        rows.append({"batch": n, "threads": torch.get_num_threads(), "median_ms": round(float(np.median(samples)), 2),
                     "p90_ms": round(float(np.percentile(samples, 90)), 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    for row in time_predict(repeats=args.repeats, threads=args.threads):
        sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
