"""MediaPipe adapter: find every face in a frame, small gallery faces included, and landmark each one.

The FaceLandmarker's own detector is short-range: on a video-call gallery, where every face is small,
it finds none. So faces are found first by the detector model bundled inside `face_landmarker.task`,
run over the whole frame and over overlapping tiles, and each face is then landmarked on its own crop.
Between full "discovery" passes, known faces are re-landmarked in a crop around their last position.
A lone face big enough for the landmarker's own detector (a webcam) is instead followed by a VIDEO-mode
landmarker over the whole frame, which tracks from its last landmarks and skips a detector pass.

`FaceFinder` carries this out; when to search and what to follow is decided in `engine.planner`, the
box maths is `engine.boxes`, and the MediaPipe tasks and their lifetime are `engine.mp_tasks`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.boxes import Box, square_crop_window, suppress_duplicates, tile_windows
from engine.mediapipe_raw import LandmarkReader, RawFace
from engine.mp_tasks import FaceModelError as FaceModelError  # callers import it from here
from engine.mp_tasks import FaceTasks, mp_image
from engine.planner import boxes_to_landmark, discovery_due, is_same_face, lone_face, newcomers
from engine.stillness import StillnessSettings, crop_difference, face_crop

THUMB_PX = StillnessSettings().crop_px
MIN_CONTRAST = StillnessSettings().min_contrast


@dataclass(frozen=True, slots=True)
class FaceSettings:
    """How faces are searched for. Defaults suit a webcam and a video-call gallery up to 7x7 at 1280x720."""

    max_faces: int = 50  # a full 7x7 gallery (49 tiles) with one to spare
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    tile_px: int = 280  # tiles of about this size let the short-range detector see small gallery faces
    tile_overlap: float = 0.25
    discovery_every_s: float = 2.0  # full tiled search this often; known faces are followed in between
    crop_scale: float = 1.8  # landmark crop side relative to the face box
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))  # MediaPipe runs 1 core a task
    nms_iou: float = 0.3
    follow_lone_face: bool = True  # track a lone, large face in MediaPipe's VIDEO mode (about 2.5 ms less)
    lone_face_min_fraction: float = 0.15  # its box side over the frame's shorter side, for that mode
    raw_landmarks: bool = True  # read MediaPipe's C result structs (1.2 ms less a face); False: public API
    # Between discovery passes, a face the caller holds as a picture (`FaceFinder.hold`: the
    # pipeline's still tiles, unchanged for 3 s) whose crop has not changed since it was last
    # landmarked keeps those landmarks; "unchanged" as the still-tile check means it
    # (engine.stillness: StillnessSettings.max_difference). A live face is always landmarked: a
    # blink or a glance changes too few pixels of the crop to count as a change.
    reuse_unchanged: bool = True
    unchanged_difference: float = 0.045


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


class FaceFinder:
    """Finds and landmarks faces in RGB frames; one instance per source (it follows faces over time).

    It holds MediaPipe tasks and threads: whoever creates one closes it, with `close()` or `with`.
    """

    def __init__(self, task_path: Path, settings: FaceSettings | None = None) -> None:
        self.settings = s = settings or FaceSettings()
        self._tasks = FaceTasks(task_path, workers=s.workers, min_detection_confidence=s.min_detection_confidence,
                                min_presence_confidence=s.min_presence_confidence)
        try:
            self._reader = LandmarkReader(self._tasks.landmarkers.tasks[0], private_api=s.raw_landmarks)
        except BaseException:
            self._tasks.close()
            raise
        self._known: list[Box] = []
        self._landmarked: dict[Box, tuple[np.ndarray, FaceLandmarks]] = {}  # crop window: thumb, face
        self._held: set[Box] = set()  # boxes of faces the caller says are pictures
        self._last_discovery_s: float | None = None
        self._follow_ok = True  # cleared when the follower loses the face, until the next discovery
        self.last_timings_ms: dict[str, float] = {}
        self.last_faces_found = 0  # faces the last find() saw, before the face limit

    @property
    def reads_c_structs(self) -> bool:
        """Whether landmarks are read from MediaPipe's C structs (else through its public API)."""
        return self._reader.uses_private_api

    def close(self) -> None:
        """Shut MediaPipe's task runners and this finder's threads down; safe to call twice."""
        self._tasks.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget followed faces (a new source or a restarted file)."""
        self._known = []
        self._landmarked = {}
        self._held = set()
        self._last_discovery_s = None
        self._follow_ok = True

    def hold(self, boxes: Sequence[Box]) -> None:
        """Say which of the last frame's faces are pictures (still tiles): until the next discovery
        pass, each keeps its landmarks while its crop stays unchanged."""
        self._held = {tuple(int(v) for v in box) for box in boxes}

    def detect(self, rgb: np.ndarray, *, tiled: bool = True) -> list[tuple[Box, float]]:
        """Face boxes and scores from the detector over the whole frame and, if asked, its tiles."""
        height, width = rgb.shape[:2]
        windows = [(0, 0, width, height)]
        if tiled:
            windows += tile_windows(width, height, self.settings.tile_px, self.settings.tile_overlap)
        boxes: list[Box] = []
        scores: list[float] = []
        images = [mp_image(rgb[y0:y0 + h, x0:x0 + w]) for x0, y0, w, h in windows]
        results = self._tasks.detectors.map(lambda detector, image: detector.detect(image), images)
        for (x0, y0, _, _), result in zip(windows, results, strict=True):
            for d in result.detections:
                b = d.bounding_box
                boxes.append((b.origin_x + x0, b.origin_y + y0, b.width, b.height))
                scores.append(float(d.categories[0].score) if d.categories else 0.0)
        if not boxes:
            return []
        keep = suppress_duplicates(np.array(boxes, float), np.array(scores), self.settings.nms_iou)
        return [(boxes[i], scores[i]) for i in keep]

    def landmark(self, rgb: np.ndarray, windows: Sequence[Box]) -> list[FaceLandmarks | None]:
        """Landmark the one face inside each window (of at least 16 px) of the frame, in parallel; None
        where a window holds no face."""
        windows = [w for w in windows if w[2] >= 16 and w[3] >= 16]
        images = [mp_image(rgb[y0:y0 + h, x0:x0 + w]) for x0, y0, w, h in windows]
        raws = self._tasks.landmarkers.map(self._reader.first_face, images)
        return [_to_face(raw, window) for raw, window in zip(raws, windows, strict=True)]

    def follow(self, rgb: np.ndarray, t_s: float, box: Box) -> FaceLandmarks | None:
        """Landmark a lone face over the whole frame in VIDEO mode; None when it is lost or elsewhere."""
        height, width = rgb.shape[:2]
        tasks = self._tasks
        raw = self._reader.first_face(tasks.follower, mp_image(rgb), tasks.follower_clock.tick(t_s))
        face = _to_face(raw, (0, 0, width, height))
        # Another face than the one known: None, so that it is landmarked on a crop instead.
        return face if face is not None and is_same_face(face.box, box) else None

    def find(self, rgb: np.ndarray, t_s: float | None = None) -> list[FaceLandmarks]:
        """All faces of a frame, landmarked. With t_s, known faces are followed between discoveries."""
        s = self.settings
        height, width = rgb.shape[:2]
        t0 = time.perf_counter()
        if t_s is None:  # a still photo: nothing to follow from earlier frames
            self.reset()
        discover = discovery_due(t_s, self._last_discovery_s, self._known, s.discovery_every_s)
        lone_box = None
        if t_s is not None and s.follow_lone_face and self._follow_ok:
            lone_box = lone_face(self._known, width, height, s.lone_face_min_fraction)
        # A lone webcam face is followed in VIDEO mode; during a discovery pass, on one core while
        # the detector searches the frame on the other.
        lone: FaceLandmarks | None = None
        pending: Future[FaceLandmarks | None] | None = None
        if lone_box is not None and discover:
            pending = self._tasks.submit(self.follow, rgb, t_s, lone_box)
        if lone_box is not None and pending is None:
            lone = self.follow(rgb, t_s, lone_box)
        t_followed = time.perf_counter()
        candidates = self._discover(rgb, t_s, pending) if discover else list(self._known)
        t1 = time.perf_counter()
        if pending is not None:
            lone = pending.result()
        faces: list[FaceLandmarks] = []
        if lone is not None:
            faces.append(lone)  # the followed face needs no crop; anyone else found (a newcomer) does
            candidates = newcomers(candidates, lone.box)
        elif lone_box is not None:
            self._follow_ok = False  # lost or elsewhere: crops, until the next discovery pass
        windows = [square_crop_window(box, s.crop_scale, width, height) for box in candidates[: s.max_faces * 2]]
        reused: list[FaceLandmarks] = []
        if s.reuse_unchanged and not discover and self._held:
            held = {square_crop_window(box, s.crop_scale, width, height) for box in self._held}
            windows, reused = self._unchanged(rgb, windows, held)
        landmarked = [face for face in self.landmark(rgb, windows) if face is not None]
        faces += landmarked + reused
        if faces:
            boxes = np.array([f.box for f in faces], float)
            keep = suppress_duplicates(boxes, boxes[:, 2] * boxes[:, 3], s.nms_iou)
            self.last_faces_found = len(keep)
            faces = [faces[i] for i in sorted(keep)][: s.max_faces]
        else:
            self.last_faces_found = 0
        faces.sort(key=lambda f: (f.box[1] // max(1, f.box[3]), f.box[0]))
        self._known = [f.box for f in faces]
        if s.reuse_unchanged:
            self._remember(rgb, faces, set(map(id, reused)))
        t2 = time.perf_counter()
        # A follower that ran during the detection counts in landmarks only for the time it outlasted it.
        self.last_timings_ms = {"detect_ms": (t1 - t_followed) * 1000,
                                "landmarks_ms": (t_followed - t0 + t2 - t1) * 1000,
                                "discovery": float(discover), "followed": float(lone is not None),
                                "reused": float(len(reused))}
        return faces

    def _unchanged(self, rgb: np.ndarray, windows: list[Box], held: set[Box]
                   ) -> tuple[list[Box], list[FaceLandmarks]]:
        """The windows still to landmark, and the held faces unchanged since they were landmarked."""
        todo: list[Box] = []
        reused: list[FaceLandmarks] = []
        for window in windows:
            known = self._landmarked.get(window) if window in held else None
            thumb = _thumb(rgb, window) if known is not None else None
            if (known is not None and thumb is not None
                    and crop_difference(known[0], thumb, MIN_CONTRAST) <= self.settings.unchanged_difference):
                reused.append(known[1])
            else:
                todo.append(window)
        return todo, reused

    def _remember(self, rgb: np.ndarray, faces: Sequence[FaceLandmarks], reused: set[int]) -> None:
        """Each face's next crop window with its thumbnail now; a reused face keeps the thumbnail of
        its landmarking, so slow drift cannot add up past the threshold."""
        s = self.settings
        height, width = rgb.shape[:2]
        memory: dict[Box, tuple[np.ndarray, FaceLandmarks]] = {}
        for face in faces:
            window = square_crop_window(face.box, s.crop_scale, width, height)
            if id(face) in reused and window in self._landmarked:
                memory[window] = self._landmarked[window]
            elif (thumb := _thumb(rgb, window)) is not None:
                memory[window] = (thumb, face)
        self._landmarked = memory

    def _discover(self, rgb: np.ndarray, t_s: float | None,
                  pending: Future[FaceLandmarks | None] | None) -> list[Box]:
        """A discovery pass: the boxes to landmark on crops (a newcomer is found only here)."""
        try:
            detected = [box for box, _ in self.detect(rgb, tiled=True)]
        finally:
            if pending is not None:
                pending.exception()  # never leave a follower running into the next frame
        self._follow_ok = True
        if t_s is not None:
            self._last_discovery_s = t_s
        return boxes_to_landmark(detected, self._known)


def _thumb(rgb: np.ndarray, window: Box) -> np.ndarray | None:
    """A window of an RGB frame as the still-tile check's small grey crop."""
    return face_crop(rgb[..., 1], window, THUMB_PX)  # the green channel: grey enough, no conversion


def _to_face(raw: RawFace | None, window: Box) -> FaceLandmarks | None:
    """A landmarker's face mapped from the window it ran on to frame pixels."""
    if raw is None:
        return None
    x0, y0, w, h = window
    pts = raw.landmarks  # normalised to the window; a fresh copy, safe to scale in place
    pts[:, 0] = pts[:, 0] * w + x0
    pts[:, 1] = pts[:, 1] * h + y0
    pts[:, 2] *= w  # MediaPipe's z uses roughly the scale of x
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    box = (int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))
    return FaceLandmarks(box=box, score=1.0, landmarks=pts, blendshapes=raw.blendshapes, matrix=raw.matrix)




def face_boxes(faces: Sequence[FaceLandmarks]) -> np.ndarray:
    """The faces' boxes as an (N, 4) float array, for the tracker."""
    return np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
