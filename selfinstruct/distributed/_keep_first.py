"""Keep-first over a list of similar pairs: the cheap sequential half of the distributed dedup.

Rows carry global ids: the ``--against`` pool first, then the input in file order. Given every pair
``(i, j, score)`` with ``i < j`` that the rule treats as duplicate, a row is kept iff no earlier
*kept* row (or pool row) is paired with it. Taking the rows in order, this is one pass over the
pairs sorted by ``(j, i)``: linear in the number of pairs. For a rejected row, the nearest kept row
is the one with the highest score, the lowest id on ties, as ``NoveltyIndex`` reports it (pairs
hold every row at or over the bar, so the maximum over the kept pool is always among them).

``resolve`` runs the compiled pass (``_keep_first_kernel``, a counting sort by row, then the rows
in order) on many pairs and ``resolve_py``, its plain-Python twin, on few (loading Numba costs
more than it saves there); both give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Rejected", "resolve", "resolve_py"]

# From this many pairs on, the compiled pass (about 20x faster) pays for loading Numba.
_COMPILED_FROM = 50_000


@dataclass(frozen=True)
class Rejected:
    """The rows a ``resolve`` call rejected, in id order, with their nearest kept row and its score."""

    rows: np.ndarray  # int64 global ids
    nearest: np.ndarray  # int64 global ids
    score: np.ndarray  # float64


def resolve(
    kept: bytearray, left: np.ndarray, right: np.ndarray, score: np.ndarray, *, backend: str = "auto"
) -> Rejected:
    """Decide the rows named in ``right`` in id order, updating ``kept`` (1 = kept) in place.

    Every row before the smallest ``right`` must already be decided in ``kept``; rows of ``right``
    start as kept (1) and are cleared when an earlier kept row is paired with them.

    Args:
        kept: one byte per global row id.
        left, right, score: the pairs, ``left[k] < right[k]``, in any order.
        backend: "auto" (compiled from 50,000 pairs on), "numba" or "python" (``resolve_py``).
    """
    if backend not in ("auto", "numba", "python"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'python', got {backend!r}")
    if backend == "python" or (backend == "auto" and len(right) < _COMPILED_FROM) or not len(right):
        return resolve_py(kept, left, right, score)
    from ._keep_first_kernel import resolve_pairs

    right = np.ascontiguousarray(right, dtype=np.int64)
    lo, hi = int(right.min()), int(right.max()) + 1
    count = min(hi - lo, len(right))
    rows = np.empty(count, dtype=np.int64)
    nearest = np.empty(count, dtype=np.int64)
    scores = np.empty(count, dtype=np.float64)
    found = resolve_pairs(
        np.frombuffer(kept, dtype=np.uint8),  # a writable view: decisions land in ``kept``
        np.ascontiguousarray(left, dtype=np.int64),
        right,
        np.ascontiguousarray(score, dtype=np.float64),
        lo,
        hi,
        rows,
        nearest,
        scores,
    )
    return Rejected(rows[:found].copy(), nearest[:found].copy(), scores[:found].copy())


def resolve_py(kept: bytearray, left: np.ndarray, right: np.ndarray, score: np.ndarray) -> Rejected:
    """``resolve`` in plain Python (the twin of the compiled pass): a sort by (right, left), then one loop."""
    order = np.lexsort((left, right))
    lefts = left[order].tolist()
    rights = right[order].tolist()
    scores = score[order].tolist()
    rows: list[int] = []
    nearest: list[int] = []
    best_scores: list[float] = []
    count = len(rights)
    at = 0
    while at < count:
        row = rights[at]
        best = -1.0
        near = -1
        # Lefts ascend within a row, so a strict > keeps the lowest id among equal scores.
        while at < count and rights[at] == row:
            other = lefts[at]
            if kept[other] and scores[at] > best:
                best = scores[at]
                near = other
            at += 1
        if near >= 0:
            kept[row] = 0
            rows.append(row)
            nearest.append(near)
            best_scores.append(best)
    return Rejected(
        np.asarray(rows, dtype=np.int64),
        np.asarray(nearest, dtype=np.int64),
        np.asarray(best_scores, dtype=np.float64),
    )
