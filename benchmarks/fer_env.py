"""The fer package beside ClassPulse: a throwaway venv in the asset cache and a persistent worker in it.

fer and TensorFlow are never project dependencies. `ensure_fer_venv()` makes <cache>/fer-venv once (fer
itself with --no-deps: its declared deps pull facenet-pytorch and moviepy, which its default Haar-cascade
path never imports) and reuses it while its spec file matches. `FerWorker` keeps one process alive so the
TensorFlow import happens once and frames can alternate with ClassPulse one by one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.assets import cache_dir

log = logging.getLogger(__name__)

FER_REQUIREMENT = "fer==25.10.3"
# What fer's Haar-cascade path imports. OpenCV 5 moved CascadeClassifier out of the main wheels, so
# the 4.12 contrib wheel (fer's declared opencv-contrib-python, headless) is pinned.
FER_DEPENDENCIES = (
    "tensorflow-cpu==2.21.0",
    "opencv-contrib-python-headless==4.12.0.88",
    "pandas",
    "tqdm",
    "requests",
    "pillow",
    "setuptools<81",
)
VENV_FOLDER = "fer-venv"
SPEC_FILE = ".classpulse-spec"
WORKER = Path(__file__).with_name("fer_worker.py")


class FerEnvError(RuntimeError):
    """The fer venv could not be made or its worker failed."""


def _spec() -> str:
    return "\n".join([FER_REQUIREMENT, *FER_DEPENDENCIES]) + "\n"


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise FerEnvError(f"{what} failed ({last})")


def venv_python(root: Path | None = None) -> Path:
    return (root or cache_dir()) / VENV_FOLDER / "bin" / "python"


def ensure_fer_venv(root: Path | None = None) -> Path:
    """Make (once) the venv with fer and TensorFlow; returns its python."""
    venv = (root or cache_dir()) / VENV_FOLDER
    python = venv / "bin" / "python"
    spec = venv / SPEC_FILE
    if python.is_file() and spec.is_file() and spec.read_text() == _spec():
        return python
    base = Path(getattr(sys, "_base_executable", sys.executable))
    log.info("making the fer venv in %s (TensorFlow: a few minutes, once)", venv)
    if not python.is_file():
        _run([str(base), "-m", "venv", str(venv)], "python -m venv")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, *FER_DEPENDENCIES], "installing fer's dependencies")
    _run([*pip, "--no-deps", FER_REQUIREMENT], f"installing {FER_REQUIREMENT}")
    spec.write_text(_spec())
    return python


@dataclass(frozen=True, slots=True)
class FerFace:
    """One face fer found: its box (x, y, w, h), top label and the 7 probabilities (FER-2013 order)."""

    box: tuple[int, int, int, int]
    label: str
    probs: tuple[float, ...]


class FerWorker:
    """One long-lived fer process; `detect(image)` returns (faces, ms inside fer)."""

    def __init__(self, python: Path, log_path: Path, *, keras: bool = False) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="classpulse-fer-")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w")
        self._proc = subprocess.Popen(
            [str(python), str(WORKER), *(["--keras"] if keras else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self.versions = self._read().get("hello", {})

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            raise FerEnvError(f"the fer worker stopped; see {self._log.name}")
        return json.loads(line)

    def detect(self, image_bgr: np.ndarray) -> tuple[list[FerFace], float]:
        path = Path(self._tmp.name) / "frame.npy"
        np.save(path, np.ascontiguousarray(image_bgr))
        self._proc.stdin.write(json.dumps({"path": str(path)}) + "\n")
        reply = self._read()
        faces = [FerFace(tuple(f["box"]), f["label"], tuple(f["probs"])) for f in reply["faces"]]
        return faces, float(reply["ms"])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write("\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
        self._log.close()
        self._tmp.cleanup()

    def __enter__(self) -> FerWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
