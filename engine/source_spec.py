"""The source-spec grammar, read and written in one place: what `--source` and the Live form mean.

    0, 1, ...         a camera index
    demo              the demo gallery clip
    screen            the whole (first) screen
    screen:x,y,w,h    a region of the screen, in pixels
    scheme://...      a stream URL (rtsp://, http://, ...)
    anything else     a path: a video file, a still image or a folder of images

Pure: no OpenCV, no disk, so the dashboard builds and checks specs with it. Whether a path is a
file or a folder, and whether it exists, is for whoever opens it to find out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from storage.masking import mask_url

Region = tuple[int, int, int, int]  # x, y, width, height in screen pixels

_CAMERA = re.compile(r"[0-9]+")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SCREEN_PREFIX = "screen:"
_OFFSET = re.compile(r"-?[0-9]+")


class SourceKind(StrEnum):
    """Which kind of source a spec names."""

    CAMERA = "camera"
    DEMO = "demo"
    SCREEN = "screen"
    URL = "url"
    PATH = "path"


class SourceSpecError(ValueError):
    """A source spec that does not follow the grammar; the message says what was expected."""


def _kind_of(text: str) -> SourceKind:
    """The kind a stripped spec text reads as (before its fields are checked)."""
    if _CAMERA.fullmatch(text):
        return SourceKind.CAMERA
    if text == "demo":
        return SourceKind.DEMO
    if _URL.match(text):
        return SourceKind.URL
    if text == "screen" or text.startswith(_SCREEN_PREFIX):
        return SourceKind.SCREEN
    return SourceKind.PATH


def parse_region(text: str) -> Region:
    """`x,y,w,h` (whole pixels, width and height above 0) as a tuple; spaces around commas are fine.

    x and y may be negative: a monitor left of or above the primary one has negative coordinates.
    """
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not (all(_OFFSET.fullmatch(part) for part in parts[:2])
                               and all(_CAMERA.fullmatch(part) for part in parts[2:])):
        raise SourceSpecError(
            f"a screen region is x,y,w,h in whole pixels (e.g. 0,0,1280,720), got {text.strip()!r}"
        )
    x, y, w, h = (int(part) for part in parts)
    if w == 0 or h == 0:
        raise SourceSpecError(f"a screen region needs a width and height above 0, got {w}x{h}")
    return x, y, w, h


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """One source as the grammar names it; `str(spec)` writes it back, `parse_source_spec` reads it.

    camera_index is set for CAMERA, region (None: the whole screen) for SCREEN, target (the URL or
    the path as written) for URL and PATH; the other fields stay None.
    """

    kind: SourceKind
    camera_index: int | None = None
    region: Region | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if (self.camera_index is not None) != (kind is SourceKind.CAMERA):
            raise SourceSpecError(f"a camera index belongs to a camera source, not to {kind}")
        if self.region is not None and kind is not SourceKind.SCREEN:
            raise SourceSpecError(f"a region belongs to a screen source, not to {kind}")
        if (self.target is not None) != (kind in (SourceKind.URL, SourceKind.PATH)):
            raise SourceSpecError(f"a URL or path belongs to a stream or file source, not to {kind}")
        if kind is SourceKind.CAMERA and self.camera_index < 0:
            raise SourceSpecError(f"a camera index is 0 or more, got {self.camera_index}")
        if self.region is not None:
            parse_region(",".join(str(v) for v in self.region))
        if kind is SourceKind.URL and not _URL.match(self.target):
            raise SourceSpecError(f"a stream URL starts with a scheme such as rtsp://, got {self.shown!r}")
        if kind is SourceKind.PATH:
            if not self.target or self.target != self.target.strip():
                raise SourceSpecError(f"a path must be non-empty without outer spaces, got {self.target!r}")
            if (reads_as := _kind_of(self.target)) is not SourceKind.PATH:
                raise SourceSpecError(
                    f"{self.target!r} reads as a {reads_as} source; write ./{self.target} for a file"
                )

    @classmethod
    def camera(cls, index: int) -> SourceSpec:
        return cls(SourceKind.CAMERA, camera_index=index)

    @classmethod
    def demo(cls) -> SourceSpec:
        return cls(SourceKind.DEMO)

    @classmethod
    def screen(cls, region: Region | None = None) -> SourceSpec:
        return cls(SourceKind.SCREEN, region=None if region is None else tuple(region))

    @classmethod
    def url(cls, url: str) -> SourceSpec:
        return cls(SourceKind.URL, target=url.strip())

    @classmethod
    def path(cls, path: str) -> SourceSpec:
        """A video file, still image or image folder (as written; nothing is looked up on disk)."""
        return cls(SourceKind.PATH, target=str(path).strip())

    @property
    def live(self) -> bool:
        """Whether frames come from a live feed (camera, screen, stream) rather than a recording."""
        return self.kind in (SourceKind.CAMERA, SourceKind.SCREEN, SourceKind.URL)

    @property
    def shown(self) -> str:
        """The spec as it may be shown or stored: a stream URL's password and tokens are masked."""
        return mask_url(str(self)) if self.kind is SourceKind.URL else str(self)

    def __str__(self) -> str:
        if self.kind is SourceKind.CAMERA:
            return str(self.camera_index)
        if self.kind is SourceKind.SCREEN:
            return "screen" if self.region is None else _SCREEN_PREFIX + ",".join(map(str, self.region))
        if self.kind is SourceKind.DEMO:
            return "demo"
        return self.target


def parse_source_spec(text: str) -> SourceSpec:
    """Read a spec (outer spaces ignored); SourceSpecError says what was expected."""
    text = text.strip()
    if not text:
        raise SourceSpecError(
            "no source given: a camera index, 'demo', 'screen[:x,y,w,h]', a URL or a path"
        )
    kind = _kind_of(text)
    if kind is SourceKind.CAMERA:
        return SourceSpec.camera(int(text))
    if kind is SourceKind.DEMO:
        return SourceSpec.demo()
    if kind is SourceKind.URL:
        return SourceSpec.url(text)
    if kind is SourceKind.SCREEN:
        region = text.removeprefix("screen").removeprefix(":")
        return SourceSpec.screen(parse_region(region) if text != "screen" else None)
    return SourceSpec.path(text)
