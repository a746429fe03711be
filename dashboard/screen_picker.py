"""Picking the call's gallery on the teacher's screen: screenshots, the region dragged or found, checks.

The Live page shows each monitor's screenshot downscaled; the chart's axes are that monitor's own
pixels (the image is placed with one shown pixel `monitor width / shown width` wide), so a box
dragged on it reads back in monitor pixels with no conversion left to get wrong. A region is an
`engine.screens.ScreenRegion` (x, y from its monitor's corner); the engine is given its virtual-
desktop spec. Screenshots live in memory only (the page keeps them in st.session_state).

No Streamlit here: dashboard/screen_picker_ui.py holds the widgets.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
import plotly.graph_objects as go

from engine.grid_finder import faces_bounding_region, find_gallery
from engine.screens import (
    Monitor,
    RegionError,
    ScreenRegion,
    check_capture,
    check_region,
    screenshot,
)

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
FacesIn = Callable[[np.ndarray], Sequence[Box]]  # an RGB image's face boxes

SHOWN_WIDTH_PX = 960  # the screenshot as the page shows it: small to send, big enough to drag on
THUMB_WIDTH_PX = 320  # one monitor among several
PREVIEW_WIDTH_PX = 720  # the selected region with its faces
FACE_MARGIN = 1.0  # faces_bounding_region: a tile is about three faces wide
SELECTION_GRID = 64  # invisible points per row: Plotly reports a box only over a selectable trace
REGION_RGB = (230, 159, 0)  # Okabe-Ito orange
FACE_RGB = (0, 114, 178)  # Okabe-Ito blue

NO_REGION = "no region picked: drag a box over the call's gallery on the screenshot, or click “Find the gallery”"
NO_FACES = (
    "no faces in the selected region: drag the box over the call's gallery (students with "
    "their cameras on), or click “Find the gallery”"
)


@dataclass(frozen=True)
class Shot:
    """One monitor's screenshot at its full resolution (RGB), in memory only."""

    monitor: Monitor
    rgb: np.ndarray


@dataclass(frozen=True)
class Screenshots:
    """A screenshot of every monitor, taken together."""

    shots: tuple[Shot, ...]
    taken_at: datetime

    @property
    def monitors(self) -> list[Monitor]:
        return [shot.monitor for shot in self.shots]

    def of(self, index: int) -> Shot:
        """The shot of monitor `index` (mss's numbering, from 1); the first one when it is gone."""
        return next((s for s in self.shots if s.monitor.index == index), self.shots[0])


@dataclass(frozen=True)
class Proposal:
    """What "Find the gallery" found: a region (None when nothing) and what it found, in words."""

    region: ScreenRegion | None
    text: str


@dataclass(frozen=True)
class Preview:
    """The selected region as the engine will see it: its faces (region pixels) and a drawn image."""

    region: ScreenRegion
    faces: tuple[Box, ...]
    image: np.ndarray  # RGB, downscaled to PREVIEW_WIDTH_PX, faces boxed and numbered

    @property
    def text(self) -> str:
        n = len(self.faces)
        if n == 0:
            return "No faces found in the selected region."
        return f"{n} face{'s' if n > 1 else ''} found in the selected region."


def take_screenshots(*, display: str | None = None) -> Screenshots:
    """A fresh screenshot of every monitor (ScreenError with the fix when the screen cannot be read)."""
    monitors = check_capture(display=display)
    shots = tuple(Shot(m, screenshot(m, display=display)) for m in monitors)
    return Screenshots(shots, datetime.now(UTC))


def shown_size(width: int, height: int, max_width: int = SHOWN_WIDTH_PX) -> tuple[int, int]:
    """(width, height) of an image shown at most max_width wide, its aspect kept (never enlarged)."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def downscale(rgb: np.ndarray, max_width: int) -> np.ndarray:
    """The image at most max_width wide (area averaging, which keeps thin tile gaps visible)."""
    height, width = rgb.shape[:2]
    size = shown_size(width, height, max_width)
    if size == (width, height):
        return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def jpeg_uri(rgb: np.ndarray, quality: int = 85) -> str:
    """An RGB image as a data: URI (for a Plotly image trace; nothing touches the disk)."""
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"cannot encode an image of shape {rgb.shape}")
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii")


def pixel_size(monitor: Monitor, shown: tuple[int, int]) -> tuple[float, float]:
    """Monitor pixels per shown pixel, across and down."""
    return monitor.width / shown[0], monitor.height / shown[1]


def picker_figure(shot: Shot, region: ScreenRegion | None = None) -> go.Figure:
    """The screenshot to drag a box on, axes in monitor pixels, with the picked region outlined."""
    monitor = shot.monitor
    shown = downscale(shot.rgb, SHOWN_WIDTH_PX)
    shown_h, shown_w = shown.shape[:2]
    dx, dy = pixel_size(monitor, (shown_w, shown_h))
    # Shown pixel i covers monitor pixels [i·dx, (i+1)·dx): its centre is at (i + ½)·dx.
    fig = go.Figure(
        go.Image(source=jpeg_uri(shown), x0=dx / 2, dx=dx, y0=dy / 2, dy=dy, hoverinfo="skip")
    )
    xs = np.linspace(0, monitor.width, SELECTION_GRID + 1)
    ys = np.linspace(0, monitor.height, max(2, round(SELECTION_GRID * shown_h / shown_w)) + 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    fig.add_trace(
        go.Scatter(
            x=grid_x.ravel(),
            y=grid_y.ravel(),
            mode="markers",
            marker={"size": 2, "opacity": 0},
            hoverinfo="none",
            showlegend=False,
        )
    )
    if region is not None:
        r, g, b = REGION_RGB
        fig.add_shape(
            type="rect",
            x0=region.x,
            y0=region.y,
            x1=region.x + region.width,
            y1=region.y + region.height,
            line={"color": f"rgb({r},{g},{b})", "width": 3},
            fillcolor=f"rgba({r},{g},{b},0.12)",
        )
    fig.update_layout(
        width=shown_w,
        height=shown_h,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        dragmode="select",
        showlegend=False,
        xaxis={
            "range": [0, monitor.width],
            "visible": False,
            "fixedrange": True,
            "constrain": "domain",
        },
        yaxis={
            "range": [monitor.height, 0],
            "visible": False,
            "fixedrange": True,
            "constrain": "domain",
        },
    )
    return fig


def region_from_box(box: Mapping[str, Any], monitor: Monitor) -> ScreenRegion | None:
    """A box of the chart's selection ({"x": [x0, x1], "y": [y0, y1]}, any drag direction, in the
    monitor's pixels) as a region in whole pixels; None for a box with no area."""
    xs, ys = list(box.get("x") or ()), list(box.get("y") or ())
    if len(xs) < 2 or len(ys) < 2:
        return None
    left, right = round(min(xs)), round(max(xs))
    top, bottom = round(min(ys)), round(max(ys))
    if right <= left or bottom <= top:
        return None
    return ScreenRegion(monitor, left, top, right - left, bottom - top)


def region_from_selection(selection: Mapping[str, Any], monitor: Monitor) -> ScreenRegion | None:
    """The newest box of a Plotly selection state (Streamlit's `event.selection`), as a region."""
    boxes = selection.get("box") or []
    return region_from_box(boxes[-1], monitor) if boxes else None


def region_text(region: ScreenRegion) -> str:
    """The region as the `screen:` spec's `x,y,w,h` (virtual-desktop pixels)."""
    return f"{region.left},{region.top},{region.width},{region.height}"


def crop(shot: Shot, region: ScreenRegion) -> np.ndarray:
    """The region's pixels in the shot (the part on the screen; the region is checked first)."""
    return shot.rgb[
        max(0, region.y) : region.y + region.height, max(0, region.x) : region.x + region.width
    ]


def draw_faces(
    rgb: np.ndarray, faces: Sequence[Box], max_width: int = PREVIEW_WIDTH_PX
) -> np.ndarray:
    """A downscaled copy of the image with each face boxed and numbered."""
    out = downscale(rgb, max_width).copy()
    scale = out.shape[1] / rgb.shape[1]
    for number, (x, y, w, h) in enumerate(faces, start=1):
        x0, y0 = round(x * scale), round(y * scale)
        x1, y1 = round((x + w) * scale), round((y + h) * scale)
        cv2.rectangle(out, (x0, y0), (x1, y1), FACE_RGB, 2)
        cv2.putText(
            out,
            str(number),
            (x0, max(12, y0 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            FACE_RGB,
            2,
            cv2.LINE_AA,
        )
    return out


def preview(shot: Shot, region: ScreenRegion, faces_in: FacesIn) -> Preview:
    """The faces the engine's analysis finds in the region of the shot, and the region drawn."""
    pixels = crop(shot, region)
    faces = tuple(tuple(int(v) for v in box) for box in faces_in(pixels))
    return Preview(region, faces, draw_faces(pixels, faces))


def propose_region(shot: Shot, faces_in: FacesIn) -> Proposal:
    """The call's gallery on the shot: the grid finder's tiles, else a frame around the faces found."""
    monitor = shot.monitor
    grid = find_gallery(shot.rgb)
    if grid is not None:
        region = ScreenRegion(monitor, *grid.region)
        return Proposal(
            region,
            f"Found the call's gallery: {grid.rows} × {grid.cols} tiles, "
            f"{region.width}×{region.height} pixels.",
        )
    faces = faces_in(shot.rgb)
    box = faces_bounding_region(faces, FACE_MARGIN, (monitor.width, monitor.height))
    if box is None:
        return Proposal(
            None,
            f"Found no call gallery and no faces on {monitor.describe()}: bring the "
            "call's gallery onto this screen, take a new screenshot and try again.",
        )
    n = len(faces)
    return Proposal(
        ScreenRegion(monitor, *box),
        f"Found no tile grid; framed the {n} face{'s' if n > 1 else ''} found instead.",
    )


def check_pick(
    region: ScreenRegion | None, monitors: Sequence[Monitor], faces: int | None
) -> ScreenRegion:
    """The region if a lesson can start from it: picked, on a connected screen and inside it, big
    enough for faces, and with faces in its preview (`faces` None: not looked at). RegionError: one line."""
    if region is None:
        raise RegionError(NO_REGION)
    check_region(region, monitors)
    if faces == 0:
        raise RegionError(NO_FACES)
    return region
