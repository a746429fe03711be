"""What the teacher asks the engine to do: the Live form's fields checked and turned into a launch.

The source is built and checked with the engine's one source-spec grammar (engine.source_spec),
so what the form accepts is exactly what `python -m engine run --source` reads. Which sources
the form may name at all is the administrator's `SourcePolicy`: cameras, the screen, the demo and
uploads always; a typed path only inside the media folders; a stream URL only when allowed.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from engine.source_spec import SourceKind, SourceSpec, parse_region, parse_source_spec

log = logging.getLogger(__name__)

UPLOAD_DIR = "uploads"
# An upload no running engine plays is deleted once it is this old: long enough for the Live
# form to save a video and start its engine, so a sweep in another session never races a start.
UPLOAD_GRACE_S = 300.0
# Network protocols a stream URL may use: file://, concat: and FFmpeg's other local protocols
# would read the server's disk behind the media folders' back.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "http", "https", "udp", "rtp")
# The Live form's source choices: one per webcam found ("webcam:0", ...), then these four. JOIN
# starts no engine: students' own browsers measure, and the lesson is opened in storage
# (dashboard/live_join.py).
WEBCAM = "webcam:"
SCREEN, FILE, DEMO, JOIN = "screen", "file", "demo", "join"
SOURCE_LABELS = {
    SCREEN: "Screen region (a video-call gallery on this screen)",
    FILE: "Video file",
    DEMO: "Demo gallery (recorded video call)",
    JOIN: "Students join from their browser",
}


MAX_FACES_RANGE = (1, 100)  # what `engine run --max-faces` takes


def check_lesson(title: str, rate_hz: float, max_faces: int | None = None) -> None:
    """Refuse a lesson without a title, or with a sample rate or face limit the engine does not take."""
    if not title.strip():
        raise ValueError("the lesson needs a title")
    if not 0.2 <= rate_hz <= 30:
        raise ValueError(f"the sample rate must be within 0.2-30 per second, got {rate_hz}")
    low, high = MAX_FACES_RANGE
    if max_faces is not None and not low <= max_faces <= high:
        raise ValueError(f"the face limit must be within {low}-{high} faces, got {max_faces}")


@dataclass(frozen=True)
class SourcePolicy:
    """Which sources the Live form may hand the engine (DashboardSettings' media_dirs, allow_streams).

    A typed path counts once resolved (`..` and symlinks followed), and a refusal reads the same
    whether the path exists or not, so the form tells nothing about files outside the folders.
    """

    media_dirs: tuple[Path, ...] = ()
    allow_streams: bool = False

    def check(self, spec: SourceSpec) -> SourceSpec:
        """The spec the engine may be given (a path as resolved); ValueError in the teacher's words."""
        if spec.kind is SourceKind.URL:
            return self._check_stream(spec)
        if spec.kind is SourceKind.PATH:
            return self._check_path(spec)
        return spec

    @property
    def takes_typed_paths(self) -> bool:
        return bool(self.media_dirs)

    def _check_stream(self, spec: SourceSpec) -> SourceSpec:
        if not self.allow_streams:
            raise ValueError(
                "Stream URLs are off on this dashboard (its administrator can allow them with "
                "CLASSPULSE_ALLOW_STREAMS=1); upload the video instead"
            )
        if urlsplit(spec.target).scheme.lower() not in STREAM_SCHEMES:
            raise ValueError(
                f"Only network streams ({', '.join(STREAM_SCHEMES)}) can be used; "
                "upload the video instead"
            )
        return spec

    def _check_path(self, spec: SourceSpec) -> SourceSpec:
        resolved = _resolved(spec.target)
        inside = resolved is not None and any(
            resolved.is_relative_to(folder)
            for folder in (_resolved(str(d)) for d in self.media_dirs)
            if folder is not None
        )
        if not inside:
            raise ValueError(self._outside_message())
        if not resolved.exists():
            raise ValueError(f"there is no file or folder at {spec.target}")
        return SourceSpec.path(str(resolved))

    def _outside_message(self) -> str:
        if not self.media_dirs:
            return (
                "Typed paths are off on this dashboard (no media folders are set, "
                "CLASSPULSE_MEDIA_DIRS); upload the video instead"
            )
        folders = ", ".join(str(d) for d in self.media_dirs)
        return f"Only files inside the media folders ({folders}) can be used; upload the video instead"


def _resolved(path: str) -> Path | None:
    """The absolute path with `~`, `..` and every symlink resolved; None when it cannot be."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):  # no home, a symlink loop, a NUL byte
        return None


@dataclass(frozen=True)
class LessonLaunch:
    """What the teacher asked for on the Live page; `source` is kept as the grammar writes it.

    It holds no secret: the database URL reaches the engine through its environment, never here
    (a launch is stored in engine.json).
    """

    title: str
    group_name: str
    source: str
    rate_hz: float = 2.0
    attention_only: bool = False
    owner: str | None = None  # the logged-in account the lesson belongs to; None: no login
    max_faces: int | None = None  # most faces followed per frame; None: the engine's own default

    def __post_init__(self) -> None:
        check_lesson(self.title, self.rate_hz, self.max_faces)
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
    max_faces: int | None = None


@dataclass(frozen=True)
class Upload:
    """A video the teacher uploaded with the form."""

    name: str
    content: bytes


def source_choices(webcams: list[int]) -> list[str]:
    """The form's source options: each webcam found, then a screen region, a video file, the demo,
    and students joining from their own browser."""
    return [f"{WEBCAM}{i}" for i in webcams] + [SCREEN, FILE, DEMO, JOIN]


def source_label(choice: str) -> str:
    """A source choice as the form shows it ("Webcam 0", "Video file", ...)."""
    if choice.startswith(WEBCAM):
        return f"Webcam {choice.removeprefix(WEBCAM)}"
    return SOURCE_LABELS[choice]


def typed_source_label(policy: SourcePolicy) -> str | None:
    """The label of the form's typed-source field; None when the policy takes nothing typed."""
    kinds = []
    if policy.media_dirs:
        kinds.append(f"a file in the media folders ({', '.join(str(d) for d in policy.media_dirs)})")
    if policy.allow_streams:
        kinds.append("a stream URL")
    return f"…or {' or '.join(kinds)}" if kinds else None


def source_from_form(
    choice: str, region: str = "", path: str = "", policy: SourcePolicy | None = None
) -> SourceSpec:
    """The source a form choice names, checked against the policy (ValueError says what to fix)."""
    if choice.startswith(WEBCAM):
        return SourceSpec.camera(int(choice.removeprefix(WEBCAM)))
    if choice == SCREEN:
        return SourceSpec.screen(parse_region(region) if region.strip() else None)
    if choice == FILE:
        if not path.strip():
            raise ValueError("choose a video file: upload one, or type its path on this machine")
        spec = parse_source_spec(path)  # a typed stream URL is taken too, as the engine takes it
        if spec.kind not in (SourceKind.PATH, SourceKind.URL):
            return spec  # "demo", "0", "screen" typed as a path: always allowed
        return (policy or SourcePolicy()).check(spec)
    if choice == DEMO:
        return SourceSpec.demo()
    raise ValueError(f"unknown source choice {choice!r}")


def launch_from_form(
    form: LessonForm,
    *,
    data_dir: Path,
    policy: SourcePolicy | None = None,
    upload: Upload | None = None,
    owner: str | None = None,
) -> LessonLaunch:
    """Check the form and build its launch; an uploaded video (file choice) is kept under data_dir.

    Nothing is written before the title and rate have passed, so a refused form leaves no upload.
    """
    check_lesson(form.title, form.rate_hz, form.max_faces)
    if form.source_choice == FILE and upload is not None:  # an upload wins over a typed path
        spec = SourceSpec.path(str(save_upload(data_dir, upload.name, upload.content)))
    else:
        spec = source_from_form(form.source_choice, form.region, form.path, policy)
    return LessonLaunch(
        form.title, form.group_name, str(spec), form.rate_hz, form.attention_only, owner=owner,
        max_faces=form.max_faces,
    )


def upload_folder(data_dir: Path) -> Path:
    """Where uploaded lesson videos wait for the engine (resolved, so paths compare exactly)."""
    return (Path(data_dir) / UPLOAD_DIR).resolve()


def save_upload(data_dir: Path, name: str, content: bytes) -> Path:
    """Keep an uploaded lesson video until its lesson ends, readable by this account alone.

    The folder is 0700 and the file 0600 whatever the umask; the name is new each time.
    """
    folder = upload_folder(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # a folder made by an earlier version was world-readable
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "video"
    path = folder / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}-{safe}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
    except OSError as exc:  # a full disk: nothing half-written is left behind
        path.unlink(missing_ok=True)
        raise ValueError(f"the video could not be kept for the lesson: {exc.strerror or exc}") from exc
    return path


def is_upload(source: str, data_dir: Path) -> bool:
    """Whether a launch's source is a video uploaded into data_dir's uploads folder."""
    try:
        spec = parse_source_spec(source)
    except ValueError:
        return False
    return spec.kind is SourceKind.PATH and Path(spec.target).parent == upload_folder(data_dir)



def discard_upload(launch: LessonLaunch, data_dir: Path) -> None:
    """Delete the video uploaded for a launch (nothing for any other source)."""
    if is_upload(launch.source, data_dir):
        try:
            Path(launch.spec.target).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete the uploaded video %s: %s", launch.spec.target, exc)


def sweep_uploads(data_dir: Path, playing: Path | None, *, grace_s: float = UPLOAD_GRACE_S) -> int:
    """Delete uploaded videos other than the one `playing` (left by a crash or a restart); how many.

    Files younger than `grace_s` are left for a moment: one may be about to be started.
    """
    now = time.time()
    removed = 0
    try:
        leftovers = [p for p in upload_folder(data_dir).iterdir() if p != playing]
    except OSError:
        return 0
    for path in leftovers:
        try:
            if path.is_file() and now - path.stat().st_mtime >= grace_s:
                path.unlink()
                removed += 1
        except OSError as exc:
            log.warning("cannot delete the uploaded video %s: %s", path, exc)
    if removed:
        log.info("deleted %d uploaded video(s) no lesson plays", removed)
    return removed
