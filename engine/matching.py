"""Who is who, as an assignment problem: the one-to-one pairing of tracks and faces of least cost,
and the pairs whose looks are clearly the same student (engine.tracking's two questions)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

# The cost of a pair that may not be made (too far apart, another size): never part of an answer.
GATED = 1e9


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one assignment (Hungarian, Kuhn-Munkres), dropping gated pairs."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return []
    open_pairs = cost < GATED
    if open_pairs.sum(axis=0).max() <= 1 and open_pairs.sum(axis=1).max() <= 1:
        # Every row and column has at most one ungated pair (faces far apart, as in a gallery):
        # those pairs are the assignment; nothing to solve.
        return sorted((int(r), int(c)) for r, c in zip(*np.nonzero(open_pairs), strict=True))
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < GATED)


def reidentify(
    looks_distance: np.ndarray, max_distance: float, margin: float
) -> list[tuple[int, int]]:
    """Pairs (track row, face column) of an appearance distance matrix that are clearly the same.

    A pair counts only when it is within `max_distance` and beats every other face for that track
    and every other track for that face by `margin`; anything less sure is left unpaired, so the
    caller starts a new ID rather than risk giving one student another's.
    """
    d = np.asarray(looks_distance, dtype=np.float64)
    if d.size == 0:
        return []
    n_rows, n_cols = d.shape
    other_col = np.full(d.shape, np.inf)
    other_row = np.full(d.shape, np.inf)
    if n_cols > 1:
        two = np.partition(d, 1, axis=1)[:, :2]  # best and runner-up per row
        other_col = np.where(d <= two[:, :1], two[:, 1:], two[:, :1])
    if n_rows > 1:
        two = np.partition(d, 1, axis=0)[:2]
        other_row = np.where(d <= two[:1], two[1:], two[:1])
    sure = (d <= max_distance) & (d + margin <= other_col) & (d + margin <= other_row)
    return assign(np.where(sure, d, GATED))
