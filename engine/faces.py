"""MediaPipe adapter: find every face in a frame, small gallery faces included, and landmark each one.

The FaceLandmarker's own detector is short-range: on a video-call gallery, where every face is small,
it finds none. So faces are found first by the detector model bundled inside `face_landmarker.task`,
run over the whole frame and over overlapping tiles, and each face is then landmarked on its own crop.
Between full "discovery" passes, known faces are re-landmarked in a crop around their last position.
"""

from __future__ import annotations

import logging
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels


class FaceModelError(RuntimeError):
    """The MediaPipe model bundle is missing or unreadable."""


@dataclass(frozen=True, slots=True)
class FaceSettings:
    """How faces are searched for. Defaults suit a webcam and a 4x4 gallery at 1280x720."""

    max_faces: int = 30
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    tile_px: int = 280  # tiles of about this size let the short-range detector see small gallery faces
    tile_overlap: float = 0.25
    discovery_every_s: float = 2.0  # full tiled search this often; known faces are followed in between
    crop_scale: float = 1.8  # landmark crop side relative to the face box
    nms_iou: float = 0.3


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """One landmarked face: box and 478 landmarks in frame pixels, blendshapes and head transform."""

    box: Box
    score: float
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels, z in the scale of x
    blendshapes: dict[str, float] = field(default_factory=dict)
    matrix: np.ndarray = field(default_factory=lambda: np.eye(4, dtype=np.float32))

    @property
    def eye_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Iris centres (the subject's right eye first, i.e. the one on the image left)."""
        return self.landmarks[468, :2], self.landmarks[473, :2]


def _box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of a (N,4) and b (M,4), boxes as x, y, w, h."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a, area_b = a[:, 2] * a[:, 3], b[:, 2] * b[:, 3]
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area: catches a partial box cut by a tile edge."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    smaller = np.minimum((a[:, 2] * a[:, 3])[:, None], (b[:, 2] * b[:, 3])[None])
    return np.where(smaller > 0, iw * ih / np.maximum(smaller, 1e-9), 0.0)


def suppress_duplicates(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> list[int]:
    """Indices of boxes kept after non-maximum suppression (IoU or mostly-inside-another)."""
    if len(boxes) == 0:
        return []
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float64)
    overlap = np.maximum(_box_iou_matrix(boxes, boxes), _overlap_of_smaller(boxes, boxes) >= 0.6)
    kept: list[int] = []
    for i in order:
        if all(overlap[i, k] <= iou for k in kept):
            kept.append(int(i))
    return kept


def tile_windows(width: int, height: int, tile_px: int, overlap: float) -> list[Box]:
    """Overlapping windows of about tile_px covering the frame; empty when the frame is small."""
    if max(width, height) < 1.5 * tile_px:
        return []
    windows: list[Box] = []
    cols, rows = max(1, round(width / tile_px)), max(1, round(height / tile_px))
    tw, th = width / cols, height / rows
    for r in range(rows):
        for c in range(cols):
            x0 = int(max(0, c * tw - overlap * tw))
            y0 = int(max(0, r * th - overlap * th))
            x1 = int(min(width, (c + 1) * tw + overlap * tw))
            y1 = int(min(height, (r + 1) * th + overlap * th))
            windows.append((x0, y0, x1 - x0, y1 - y0))
    return windows


def square_crop_window(box: Box, scale: float, width: int, height: int) -> Box:
    """A square window `scale` times the box's larger side, centred on it, clipped to the frame."""
    x, y, w, h = box
    side = max(w, h) * scale
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


_LIVE_TASKS: set[object] = set()  # MediaPipe tasks not yet closed; see FaceFinder.__del__


def _close_tasks(tasks: Sequence[object]) -> None:
    for task in tasks:
        try:
            task.close()
        except Exception:  # a finaliser must not raise; the process may be shutting down
            log.debug("closing a MediaPipe task failed", exc_info=True)
        _LIVE_TASKS.discard(task)


def _mp_image(rgb: np.ndarray) -> mp.Image:
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


class FaceFinder:
    """Finds and landmarks faces in RGB frames; one instance per source (it follows faces over time)."""

    def __init__(self, task_path: Path, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        try:
            bundle = Path(task_path).read_bytes()
            detector_bytes = zipfile.ZipFile(task_path).read("face_detector.tflite")
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise FaceModelError(
                f"cannot read the MediaPipe face model {task_path} ({exc}); "
                "run `python -m models fetch-assets`"
            ) from exc
        s = self.settings
        self._detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=detector_bytes),
            min_detection_confidence=s.min_detection_confidence,
        ))
        self._landmarker = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=bundle),
            num_faces=1,
            min_face_detection_confidence=s.min_detection_confidence,
            min_face_presence_confidence=s.min_presence_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        ))
        self._known: list[Box] = []
        self._last_discovery_s: float | None = None
        self.last_timings_ms: dict[str, float] = {}
        self._closed = False
        _LIVE_TASKS.update((self._detector, self._landmarker))

    def close(self) -> None:
        """Shut MediaPipe's task runners down; call it (or use `with`) rather than leave it to the GC."""
        if not self._closed:
            self._closed = True
            _close_tasks((self._detector, self._landmarker))

    def __del__(self) -> None:
        # MediaPipe's own finaliser waits for its dispatcher thread; run by the garbage collector in
        # the middle of an import, that wait deadlocks. So its tasks stay referenced in _LIVE_TASKS
        # (never garbage), and an unclosed finder has them closed on a thread of their own.
        if not getattr(self, "_closed", True):
            self._closed = True
            tasks = (self._detector, self._landmarker)
            threading.Thread(target=_close_tasks, args=(tasks,), name="mediapipe-close", daemon=True).start()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget followed faces (a new source or a restarted file)."""
        self._known = []
        self._last_discovery_s = None

    def detect(self, rgb: np.ndarray, *, tiled: bool = True) -> list[tuple[Box, float]]:
        """Face boxes and scores from the detector over the whole frame and, if asked, its tiles."""
        height, width = rgb.shape[:2]
        windows = [(0, 0, width, height)]
        if tiled:
            windows += tile_windows(width, height, self.settings.tile_px, self.settings.tile_overlap)
        boxes: list[Box] = []
        scores: list[float] = []
        for x0, y0, w, h in windows:
            result = self._detector.detect(_mp_image(rgb[y0:y0 + h, x0:x0 + w]))
            for d in result.detections:
                b = d.bounding_box
                boxes.append((b.origin_x + x0, b.origin_y + y0, b.width, b.height))
                scores.append(float(d.categories[0].score) if d.categories else 0.0)
        if not boxes:
            return []
        keep = suppress_duplicates(np.array(boxes, float), np.array(scores), self.settings.nms_iou)
        return [(boxes[i], scores[i]) for i in keep]

    def landmark(self, rgb: np.ndarray, window: Box) -> FaceLandmarks | None:
        """Landmark the one face inside a window of the frame; None when no face is there."""
        x0, y0, w, h = window
        if w < 16 or h < 16:
            return None
        result = self._landmarker.detect(_mp_image(rgb[y0:y0 + h, x0:x0 + w]))
        if not result.face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], dtype=np.float32)
        pts[:, 0] = pts[:, 0] * w + x0
        pts[:, 1] = pts[:, 1] * h + y0
        pts[:, 2] *= w  # MediaPipe's z uses roughly the scale of x
        blend = {c.category_name: float(c.score) for c in (result.face_blendshapes or [[]])[0]}
        matrices = result.facial_transformation_matrixes
        matrix = np.asarray(matrices[0], dtype=np.float32) if matrices else np.eye(4, dtype=np.float32)
        lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
        box = (int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))
        return FaceLandmarks(box=box, score=1.0, landmarks=pts, blendshapes=blend, matrix=matrix)

    def find(self, rgb: np.ndarray, t_s: float | None = None) -> list[FaceLandmarks]:
        """All faces of a frame, landmarked. With t_s, known faces are followed between discoveries."""
        s = self.settings
        height, width = rgb.shape[:2]
        t0 = time.perf_counter()
        if t_s is None:  # a still photo: nothing to follow from earlier frames
            self.reset()
        discover = (t_s is None or self._last_discovery_s is None or not self._known
                    or t_s - self._last_discovery_s >= s.discovery_every_s)
        if discover:
            candidates = [box for box, _ in self.detect(rgb, tiled=True)]
            if t_s is not None:
                self._last_discovery_s = t_s
            # Known faces the detector missed this time (a turned head) still get their own crop.
            if self._known and candidates:
                iou = _box_iou_matrix(np.array(self._known, float), np.array(candidates, float))
                candidates += [k for k, row in zip(self._known, iou, strict=True) if row.max() < 0.2]
            elif self._known:
                candidates = list(self._known)
        else:
            candidates = list(self._known)  # a newcomer is found at the next discovery pass
        t1 = time.perf_counter()
        faces: list[FaceLandmarks] = []
        for box in candidates[: s.max_faces * 2]:
            face = self.landmark(rgb, square_crop_window(box, s.crop_scale, width, height))
            if face is not None:
                faces.append(face)
        if faces:
            boxes = np.array([f.box for f in faces], float)
            keep = suppress_duplicates(boxes, boxes[:, 2] * boxes[:, 3], s.nms_iou)
            faces = [faces[i] for i in sorted(keep)][: s.max_faces]
        faces.sort(key=lambda f: (f.box[1] // max(1, f.box[3]), f.box[0]))
        self._known = [f.box for f in faces]
        t2 = time.perf_counter()
        self.last_timings_ms = {"detect_ms": (t1 - t0) * 1000, "landmarks_ms": (t2 - t1) * 1000,
                                "discovery": float(discover)}
        return faces


def aligned_face_crop(gray: np.ndarray, face: FaceLandmarks, margin: float = 1.0) -> np.ndarray:
    """A square grey crop of the face rotated so the eye line is level (the classifier's input).

    The side is `margin` times the landmark box's larger side; 1.0 was measured best on the labelled
    sample photos (docs/models.md).
    """
    right_eye, left_eye = face.eye_centres
    dx, dy = float(left_eye[0] - right_eye[0]), float(left_eye[1] - right_eye[1])
    angle_deg = float(np.degrees(np.arctan2(dy, dx)))
    x, y, w, h = face.box
    side = max(8, int(max(w, h) * margin))
    centre = (x + w / 2.0, y + h / 2.0)
    rot = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    rot[0, 2] += side / 2.0 - centre[0]
    rot[1, 2] += side / 2.0 - centre[1]
    return cv2.warpAffine(gray, rot, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_boxes(faces: Sequence[FaceLandmarks]) -> np.ndarray:
    """The faces' boxes as an (N, 4) float array, for the tracker."""
    return np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
