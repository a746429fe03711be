"""What the teacher asks the engine to do: the Live form's fields checked and turned into a launch.

The source is built and checked with the engine's one source-spec grammar (engine.source_spec),
so what the form accepts is exactly what `python -m engine run --source` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.source_spec import SourceKind, SourceSpec, parse_region, parse_source_spec

UPLOAD_DIR = "uploads"
# The Live form's source choices: one per webcam found ("webcam:0", ...), then these three.
WEBCAM = "webcam:"
SCREEN, FILE, DEMO = "screen", "file", "demo"
SOURCE_LABELS = {
    SCREEN: "Screen region (a video-call gallery on this screen)",
    FILE: "Video file",
    DEMO: "Demo gallery (recorded video call)",
}


def check_lesson(title: str, rate_hz: float) -> None:
    """Refuse a lesson without a title or with a sample rate the engine does not take."""
    if not title.strip():
        raise ValueError("the lesson needs a title")
    if not 0.2 <= rate_hz <= 30:
        raise ValueError(f"the sample rate must be within 0.2-30 per second, got {rate_hz}")


@dataclass(frozen=True)
class LessonLaunch:
    """What the teacher asked for on the Live page; `source` is kept as the grammar writes it."""

    title: str
    group_name: str
    source: str
    rate_hz: float = 2.0
    attention_only: bool = False
    db_url: str | None = None
    owner: str | None = None  # the logged-in account the lesson belongs to; None: no login

    def __post_init__(self) -> None:
        check_lesson(self.title, self.rate_hz)
        if not self.source.strip():
            raise ValueError("choose a source")
        object.__setattr__(self, "source", str(parse_source_spec(self.source)))

    @property
    def spec(self) -> SourceSpec:
        return parse_source_spec(self.source)


@dataclass(frozen=True)
class LessonForm:
    """The Live form's fields as the teacher left them (nothing checked yet)."""

    title: str
    group_name: str
    source_choice: str  # "webcam:N", "screen", "file" or "demo"
    region: str = ""  # screen: "x,y,w,h", empty for the whole screen
    path: str = ""  # file: a path (or stream URL) typed on this machine
    rate_hz: float = 2.0
    attention_only: bool = False


@dataclass(frozen=True)
class Upload:
    """A video the teacher uploaded with the form."""

    name: str
    content: bytes


def source_choices(webcams: list[int]) -> list[str]:
    """The form's source options: each webcam found, then a screen region, a video file, the demo."""
    return [f"{WEBCAM}{i}" for i in webcams] + [SCREEN, FILE, DEMO]


def source_label(choice: str) -> str:
    """A source choice as the form shows it ("Webcam 0", "Video file", ...)."""
    if choice.startswith(WEBCAM):
        return f"Webcam {choice.removeprefix(WEBCAM)}"
    return SOURCE_LABELS[choice]


def source_from_form(choice: str, region: str = "", path: str = "") -> SourceSpec:
    """The source a form choice names, checked (ValueError says what to fix)."""
    if choice.startswith(WEBCAM):
        return SourceSpec.camera(int(choice.removeprefix(WEBCAM)))
    if choice == SCREEN:
        return SourceSpec.screen(parse_region(region) if region.strip() else None)
    if choice == FILE:
        if not path.strip():
            raise ValueError("choose a video file: upload one, or type its path on this machine")
        spec = parse_source_spec(path)  # a typed stream URL is taken too, as the engine takes it
        if spec.kind is SourceKind.PATH and not Path(spec.target).expanduser().exists():
            raise ValueError(f"there is no file or folder at {spec.target}")
        return spec
    if choice == DEMO:
        return SourceSpec.demo()
    raise ValueError(f"unknown source choice {choice!r}")


def launch_from_form(
    form: LessonForm,
    *,
    db_url: str,
    data_dir: Path,
    upload: Upload | None = None,
    owner: str | None = None,
) -> LessonLaunch:
    """Check the form and build its launch; an uploaded video (file choice) is kept under data_dir.

    Nothing is written before the title and rate have passed, so a refused form leaves no upload.
    """
    check_lesson(form.title, form.rate_hz)
    if form.source_choice == FILE and upload is not None:  # an upload wins over a typed path
        spec = SourceSpec.path(str(save_upload(data_dir, upload.name, upload.content).resolve()))
    else:
        spec = source_from_form(form.source_choice, form.region, form.path)
    return LessonLaunch(
        form.title, form.group_name, str(spec), form.rate_hz, form.attention_only, db_url, owner
    )


def save_upload(data_dir: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded lesson video under the data folder (the engine reads it from there)."""
    folder = Path(data_dir) / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name) or "video"
    path = folder / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{safe}"
    path.write_bytes(content)
    return path
