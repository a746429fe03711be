"""Hostile and broken image files for tests, built at test time (never committed)."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def png_of_zeros(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A 1-bit greyscale PNG of zeros, compressed row by row (a 20000 x 20000 one is ~50 KB): a
    decompression bomb when large; `idat` replaces its pixel data (garbage behind a valid header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if idat is None:
        pack = zlib.compressobj(9)
        row = b"\0" * (1 + (width + 7) // 8)
        idat = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_of(image_bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image_bgr)
    assert ok
    return data.tobytes()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` of a file, as a copy cut short in transfer leaves it."""
    return data[: int(len(data) * keep)]
