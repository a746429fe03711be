from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from engine.mp_tasks import FaceModelError, FaceTasks, TaskPool, VideoClock, mp_image

ROOT = Path(__file__).resolve().parents[2]


def tasks(asset, workers: int) -> FaceTasks:
    return FaceTasks(asset("face_landmarker.task"), workers=workers, min_detection_confidence=0.5,
                     min_presence_confidence=0.5)


def test_task_pool_keeps_order_and_never_shares_a_task():
    busy: set[int] = set()
    lock = threading.Lock()

    def run(task: int, item: int) -> tuple[int, int]:
        with lock:
            assert task not in busy  # one task, one call at a time
            busy.add(task)
        threading.Event().wait(0.002)
        with lock:
            busy.discard(task)
        return item, task

    with ThreadPoolExecutor(3) as executor:
        results = TaskPool([0, 1, 2], executor).map(run, list(range(30)))
    assert [item for item, _ in results] == list(range(30))
    assert {task for _, task in results} <= {0, 1, 2}
    assert TaskPool([7], None).map(run, [1, 2]) == [(1, 7), (2, 7)]  # no executor: in order, inline


def test_video_clock_never_goes_back():
    clock = VideoClock()
    stamps = [clock.tick(t) for t in (0.0, 0.5, 1.0, 0.0, 0.5, 0.5, 30.0)]  # a file restarts, a repeat
    assert stamps[:3] == [0, 500, 1000]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert stamps[4] - stamps[3] == 500  # spacing kept after the restart


@pytest.mark.parametrize("workers", [1, 2])
def test_face_tasks_hold_a_copy_per_worker_and_close_once(asset, workers):
    with tasks(asset, workers) as held:
        assert len(held.detectors.tasks) == len(held.landmarkers.tasks) == workers
        blank = mp_image(np.zeros((64, 64, 3), np.uint8))
        assert [r.detections for r in held.detectors.map(lambda d, im: d.detect(im), [blank, blank])] == [[], []]
        assert (held.submit(sum, [1, 2]) is None) == (workers == 1)  # the follower runs beside a detection
        assert not held.closed
    assert held.closed
    held.close()  # a second close does nothing
    assert held.closed


def test_an_unreadable_model_is_one_clear_error(tmp_path):
    (tmp_path / "face_landmarker.task").write_bytes(b"not a zip")
    with pytest.raises(FaceModelError, match="fetch-assets"):
        FaceTasks(tmp_path / "face_landmarker.task", workers=2, min_detection_confidence=0.5,
                  min_presence_confidence=0.5)


UNCLOSED_AT_EXIT = """
from engine.mp_tasks import FaceTasks
from models.assets import asset_path
tasks = FaceTasks(asset_path("face_landmarker.task"), workers=2, min_detection_confidence=0.5,
                  min_presence_confidence=0.5)
print("created")
"""


def test_unclosed_tasks_do_not_keep_the_process_alive(asset):
    asset("face_landmarker.task")
    done = subprocess.run([sys.executable, "-c", UNCLOSED_AT_EXIT], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "created"
