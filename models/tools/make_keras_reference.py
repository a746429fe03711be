"""Write tests/models/data/keras_reference.json: the original Keras mini-Xception's outputs on sample crops.

Not run by the tests. It runs in two interpreters so that TensorFlow never enters the project venv:

    # once, a throwaway venv outside the repository (Python 3.11, TensorFlow 2.21 CPU, Keras 3.15)
    python3.11 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 h5py
    # then, from the repository root with the project venv (assets fetched):
    .venv/bin/python -m models.tools.make_keras_reference --tf-python /tmp/tfenv/bin/python

Stage 1 (project venv) builds the 64×64 grey crops from `sample_faces`, saves them to a temporary .npz
and starts stage 2 (`--keras-stage`, TensorFlow venv), which loads emotion_model.hdf5 with
`keras.models.load_model(compile=False)`, feeds `(x / 255 - 0.5) * 2` and writes the softmax outputs back.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

OUT = Path("tests/models/data/keras_reference.json")


def _keras_stage(crops_npz: Path, hdf5: Path, out_npy: Path) -> None:
    """Run inside the TensorFlow venv: the Keras model's softmax outputs for the saved crops."""
    import keras  # noqa: PLC0415 - only installed in the throwaway venv

    model = keras.models.load_model(str(hdf5), compile=False)
    crops = np.load(crops_npz)["crops"].astype(np.float32)
    x = (crops / 255.0 - 0.5) * 2.0
    probs = model.predict(x[..., None], verbose=0)
    np.save(out_npy, probs.astype(np.float64))
    sys.stderr.write(f"keras {keras.__version__} backend {keras.backend.backend()}\n")


def _project_stage(tf_python: str) -> None:
    """Run inside the project venv: crops, then the Keras stage, then the JSON reference."""
    from models.assets import asset_path, sha256_of
    from models.tools.sample_faces import CROP_SIZE, SAMPLE_FACES, grey_crop

    hdf5 = asset_path("emotion_model.hdf5")
    crops = np.stack([grey_crop(f) for f in SAMPLE_FACES])
    with tempfile.TemporaryDirectory() as tmp:
        npz, npy = Path(tmp) / "crops.npz", Path(tmp) / "probs.npy"
        np.savez(npz, crops=crops)
        subprocess.run([tf_python, __file__, "--keras-stage", str(npz), str(hdf5), str(npy)], check=True)
        probs = np.load(npy)
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    ref = {
        "model": {"file": hdf5.name, "sha256": sha256_of(hdf5)},
        "produced_by": "models/tools/make_keras_reference.py (TensorFlow 2.21.0 CPU, Keras 3.15.1)",
        "crop": {"size": CROP_SIZE, "colour": "cv2.COLOR_BGR2GRAY", "resize": "cv2.INTER_AREA",
                 "scaling": "(x / 255 - 0.5) * 2"},
        "labels": labels,
        "faces": [{"image": f.image, "box": list(f.box), "label": f.label,
                   "probabilities": [round(float(p), 8) for p in row]}
                  for f, row in zip(SAMPLE_FACES, probs, strict=True)],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {OUT} ({len(SAMPLE_FACES)} faces)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tf-python", default="/tmp/tfenv/bin/python", help="interpreter with TensorFlow")
    parser.add_argument("--keras-stage", nargs=3, metavar=("CROPS_NPZ", "HDF5", "OUT_NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_stage:
        _keras_stage(*(Path(p) for p in args.keras_stage))
    else:
        _project_stage(args.tf_python)


if __name__ == "__main__":
    main()
