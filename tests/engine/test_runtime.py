"""The engine's process tuning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_malloc_arenas_are_capped_in_a_fresh_process():
    # In a process of its own: the cap is process-wide and must come before threads start.
    code = "from engine.runtime import limit_malloc_arenas; print(limit_malloc_arenas(2))"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_the_engine_imports_mediapipe_without_matplotlib_whose_pyplot_still_works_when_used():
    code = (
        "import sys\n"
        "import engine.faces, storage.lessons, storage.recorder, models.classify\n"  # torch probes every module (inspect)
        "print('matplotlib' in sys.modules, 'pandas' in sys.modules)\n"
        "from mediapipe.tasks.python.vision import drawing_utils\n"
        "figure = drawing_utils.plt.figure()\n"  # MediaPipe's own pyplot name, first used here
        "import matplotlib.pyplot as plt\n"
        "print(type(figure).__name__, figure is plt.gcf())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "Figure", "True"]
