"""Classify-ahead on real media: the guessed crop's probabilities stay within the landmarks' own noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np

from engine.crops import aligned_face_crop
from engine.expressions import load_expression_model
from engine.faces import FaceFinder
from engine.pipeline import EngineSettings, LessonPipeline
from engine.sources import Frame
from tests.conftest import video_frame

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_classify_ahead_agrees_with_the_exact_crop_on_a_talking_head(asset):
    classifier = load_expression_model()
    path = asset("WolfgangLanger_Pexels.mp4")  # a person talking and moving, 24 fps
    images = [video_frame(path, 12 * i) for i in range(30)]  # 2 Hz
    used, agree, worst = 0, 0, []
    with FaceFinder(asset("face_landmarker.task")) as finder, \
            LessonPipeline(finder, classifier, EngineSettings()) as pipeline:
        for i, image in enumerate(images):
            result = pipeline.process(Frame(image, START + timedelta(seconds=i / 2), i / 2, i))
            if not result.timings_ms["classified_ahead"]:
                continue
            used += 1
            stored = np.array(result.sample.observations[0].probabilities)
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            exact = classifier.predict([aligned_face_crop(gray, result.faces[0], classifier.cfg)])[0]
            agree += int(stored.argmax() == exact.argmax())
            worst.append(float(np.abs(stored - exact).max()))
    # `python -m benchmarks engine --frames 10 --ahead-frames 120` on this clip: guess kept on 70 %, same top
    # label on 94 %, median largest probability difference 0.039 -- about the noise between
    # MediaPipe's VIDEO- and IMAGE-mode landmarks for the same frames (96 %, 0.034).
    assert used >= 10
    assert agree / used >= 0.8
    assert float(np.median(worst)) <= 0.1
