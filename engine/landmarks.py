"""Named MediaPipe FaceMesh landmark groups (478-point topology with irises) for the maths and for drawing.

"Left" and "right" are the student's own, as in MediaPipe: the student's right eye (33/133, iris 468)
appears on the image's left in an unmirrored frame.
"""

from __future__ import annotations

from collections.abc import Mapping

NUM_LANDMARKS = 478

Contour = tuple[int, ...]
Connections = tuple[tuple[int, int], ...]


def connections(polyline: Contour, closed: bool) -> Connections:
    """Consecutive index pairs of a polyline, closing the loop back to its start when `closed`."""
    pairs = tuple(zip(polyline[:-1], polyline[1:], strict=True))
    return pairs + ((polyline[-1], polyline[0]),) if closed else pairs


# Closed contours, ordered around the outline (lower lid / lower lip first, from the outer corner).
RIGHT_EYE: Contour = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE: Contour = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
MOUTH: Contour = (
    61,
    146,
    91,
    181,
    84,
    17,
    314,
    405,
    321,
    375,
    291,
    409,
    270,
    269,
    267,
    0,
    37,
    39,
    40,
    185,
)
MOUTH_INNER: Contour = (
    78,
    95,
    88,
    178,
    87,
    14,
    317,
    402,
    318,
    324,
    308,
    415,
    310,
    311,
    312,
    13,
    82,
    81,
    80,
    191,
)
FACE_OVAL: Contour = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
RIGHT_IRIS: Contour = (469, 470, 471, 472)
LEFT_IRIS: Contour = (474, 475, 476, 477)
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473

# Open polylines: each eyebrow is a lower and an upper stroke; the nose a bridge and a base loop.
RIGHT_EYEBROW_LINES: tuple[Contour, ...] = ((46, 53, 52, 65, 55), (70, 63, 105, 66, 107))
LEFT_EYEBROW_LINES: tuple[Contour, ...] = ((276, 283, 282, 295, 285), (300, 293, 334, 296, 336))
NOSE_BRIDGE: Contour = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2)
NOSE_BASE: Contour = (98, 97, 2, 326, 327, 294, 278, 344, 440, 275, 4, 45, 220, 115, 48, 64)
RIGHT_EYEBROW: Contour = RIGHT_EYEBROW_LINES[0] + RIGHT_EYEBROW_LINES[1]
LEFT_EYEBROW: Contour = LEFT_EYEBROW_LINES[0] + LEFT_EYEBROW_LINES[1]
NOSE: Contour = NOSE_BRIDGE + tuple(i for i in NOSE_BASE if i not in NOSE_BRIDGE)

# Eye aspect ratio points p1..p6 (Soukupová & Čech 2016): p1/p4 the corners, p2/p3 upper lid, p6/p5 lower lid.
RIGHT_EYE_EAR: Contour = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR: Contour = (362, 385, 387, 263, 373, 380)

# Eye corners ordered from the student's right to the student's left (image left to right when unmirrored).
RIGHT_EYE_CORNERS: tuple[int, int] = (33, 133)
LEFT_EYE_CORNERS: tuple[int, int] = (362, 263)

CONNECTIONS: Mapping[str, Connections] = {
    "right_eye": connections(RIGHT_EYE, closed=True),
    "left_eye": connections(LEFT_EYE, closed=True),
    "right_eyebrow": sum((connections(p, closed=False) for p in RIGHT_EYEBROW_LINES), ()),
    "left_eyebrow": sum((connections(p, closed=False) for p in LEFT_EYEBROW_LINES), ()),
    "nose": connections(NOSE_BRIDGE, closed=False) + connections(NOSE_BASE, closed=True),
    "mouth": connections(MOUTH, closed=True),
    "mouth_inner": connections(MOUTH_INNER, closed=True),
    "face_oval": connections(FACE_OVAL, closed=True),
    "right_iris": connections(RIGHT_IRIS, closed=True),
    "left_iris": connections(LEFT_IRIS, closed=True),
}
