"""What every frame source shares: the `Frame` record, the `FrameSource` protocol, its errors, the rate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

Clock = Callable[[], datetime]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
MIN_RATE_HZ, MAX_RATE_HZ = 0.2, 30.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message says what to do."""


class SourceLost(SourceError):
    """A live source stopped delivering frames and did not come back."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One sampled frame: BGR pixels, its aware-UTC time and its seconds since the source started."""

    image: np.ndarray
    ts: datetime
    t_s: float
    index: int


class FrameSource(Protocol):
    """What the pipeline needs from any source."""

    description: str
    live: bool

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def check_rate(rate_hz: float) -> float:
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise SourceError(f"sample rate {rate_hz} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz")
    return rate_hz
