"""The keep-first pass over similar pairs, compiled (Numba): the twin of ``_keep_first.resolve_py``.

Pairs are bucketed by their right row with a counting sort (linear, no comparison sort), then rows
are decided in order; ties between equal scores go to the lowest left id, as in the twin.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["resolve_pairs"]


@njit(cache=True, nogil=True)
def resolve_pairs(
    kept: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    score: np.ndarray,
    lo: int,
    hi: int,
    out_rows: np.ndarray,
    out_nearest: np.ndarray,
    out_score: np.ndarray,
) -> int:  # pragma: no cover - compiled; tests compare it with the twin
    """Decide rows ``[lo, hi)`` (every ``right`` is in it); fill the outputs; return the rejects' count."""
    n = hi - lo
    starts = np.zeros(n + 1, dtype=np.int64)
    for k in range(right.shape[0]):
        starts[right[k] - lo + 1] += 1
    for r in range(n):
        starts[r + 1] += starts[r]
    fill = starts[:n].copy()
    order = np.empty(right.shape[0], dtype=np.int64)
    for k in range(right.shape[0]):
        r = right[k] - lo
        order[fill[r]] = k
        fill[r] += 1
    count = 0
    for r in range(n):
        best = -1.0
        near = -1
        for q in range(starts[r], starts[r + 1]):
            k = order[q]
            other = left[k]
            if kept[other] and (score[k] > best or (score[k] == best and other < near)):
                best = score[k]
                near = other
        if near >= 0:
            kept[lo + r] = 0
            out_rows[count] = lo + r
            out_nearest[count] = near
            out_score[count] = best
            count += 1
    return count
