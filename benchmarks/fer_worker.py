"""Runs inside the throwaway fer venv (never imported by the project): frames in, fer's results out.

Protocol, one JSON object per line: the worker first writes {"hello": {...versions}}; then for each request
line {"path": "frame.npy"} (a uint8 BGR array) it writes {"ms": ..., "faces": [{"box", "label", "probs"}]},
where "ms" times `FER.detect_emotions` alone (Haar cascade + mini-Xception), so loading the frame,
process start and the TensorFlow import are excluded. An empty line ends the worker. With --keras, fer runs its Keras HDF5 model instead of its default TFLite one.
"""

import json
import os
import sys
import time


def main() -> None:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything TensorFlow prints goes to stderr, never into the protocol
    import cv2
    import numpy as np
    import tensorflow as tf
    from fer import __version__ as fer_version
    from fer.fer import FER

    # fer's defaults: Haar cascade and the quantized TFLite mini-Xception; --keras: the original HDF5 model.
    detector = FER(use_tflite="--keras" not in sys.argv[1:])
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    out.write(
        json.dumps(
            {
                "hello": {
                    "fer": fer_version,
                    "tensorflow": tf.__version__,
                    "opencv": cv2.__version__,
                    "numpy": np.__version__,
                    "use_tflite": bool(detector.use_tflite),
                }
            }
        )
        + "\n"
    )
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        image = np.load(json.loads(line)["path"])
        t0 = time.perf_counter()
        found = detector.detect_emotions(image)
        ms = (time.perf_counter() - t0) * 1000
        faces = []
        for face in found:
            probs = [float(face["emotions"][k]) for k in labels]
            faces.append(
                {
                    "box": [int(v) for v in face["box"]],
                    "label": labels[int(np.argmax(probs))],
                    "probs": probs,
                }
            )
        out.write(json.dumps({"ms": ms, "faces": faces}) + "\n")


if __name__ == "__main__":
    main()
