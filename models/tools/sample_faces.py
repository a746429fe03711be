"""Deterministic face crops from the fetched sample photos (plus scikit-image's and matplotlib's samples).

The boxes were found once with MediaPipe's FaceLandmarker (IMAGE mode) on each photo: the landmark
bounds, squared and enlarged by 10 %, rounded to integers and written down here, so the crops need no
face finder. No image is stored in the repository; each is read from the asset cache or from the
installed scikit-image / matplotlib sample data. scikit-image and matplotlib are dev dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.assets import asset_path

# A fixed interpolation, shared by the reference script and the tests; INTER_AREA is the classifier default.
CROP_SIZE = 64
CROP_INTERPOLATION = cv2.INTER_AREA


@dataclass(frozen=True, slots=True)
class SampleFace:
    """One face: which image, the box (x, y, w, h) in pixels, and the posed expression when known."""

    image: str
    box: tuple[int, int, int, int]
    label: str | None = None


SAMPLE_FACES: tuple[SampleFace, ...] = (
    SampleFace("0-f1-su-ph.jpg", (80, 128, 361, 361), "surprise"),
    SampleFace("0-f15-hao-ph.jpg", (73, 135, 356, 356), "happy"),
    SampleFace("15-f13-anc-ph.jpg", (74, 154, 341, 341), "angry"),
    SampleFace("45-m7-di-ph.jpg", (26, 179, 311, 311), "disgust"),
    SampleFace("skimage:astronaut", (166, 66, 116, 116), "happy"),
    SampleFace("single_face.jpg", (160, 166, 243, 243)),
    SampleFace("single_face.jpg", (130, 136, 303, 303)),
    SampleFace("multi_face.jpg", (669, 320, 158, 158)),
    SampleFace("multi_face.jpg", (512, 306, 139, 139)),
    SampleFace("matplotlib:grace_hopper.jpg", (152, 122, 222, 222)),
)

LABELLED_FACES: tuple[SampleFace, ...] = tuple(f for f in SAMPLE_FACES if f.label is not None)


def load_image(name: str, root: Path | None = None) -> np.ndarray:
    """A sample image as BGR uint8: an asset name, `skimage:<name>` or `matplotlib:<file>`."""
    if name.startswith("skimage:"):
        import skimage.data

        return cv2.cvtColor(getattr(skimage.data, name.split(":", 1)[1])(), cv2.COLOR_RGB2BGR)
    if name.startswith("matplotlib:"):
        from matplotlib import cbook

        path = cbook.get_sample_data(name.split(":", 1)[1], asfileobj=False)
    else:
        path = asset_path(name, root)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read sample image {path}")
    return image


def face_crop(face: SampleFace, root: Path | None = None) -> np.ndarray:
    """The face's BGR crop at its original resolution."""
    x, y, w, h = face.box
    return load_image(face.image, root)[y:y + h, x:x + w]


def grey_crop(face: SampleFace, root: Path | None = None) -> np.ndarray:
    """The face as a 64×64 uint8 greyscale crop (BGR→grey, then INTER_AREA resize): the parity input."""
    grey = cv2.cvtColor(face_crop(face, root), cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (CROP_SIZE, CROP_SIZE), interpolation=CROP_INTERPOLATION)
