"""Keep-first over a list of similar pairs: the cheap sequential half of the distributed dedup.

Rows carry global ids: the ``--against`` pool first, then the input in file order. Given every pair
``(i, j, score)`` with ``i < j`` that the rule treats as duplicate, a row is kept iff no earlier
*kept* row (or pool row) is paired with it. Taking the rows in order, this is one pass over the
pairs sorted by ``(j, i)``: linear in the number of pairs. For a rejected row, the nearest kept row
is the one with the highest score, the lowest id on ties, as ``NoveltyIndex`` reports it (pairs
hold every row at or over the bar, so the maximum over the kept pool is always among them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Rejected", "resolve"]


@dataclass(frozen=True)
class Rejected:
    """The rows a ``resolve`` call rejected, in id order, with their nearest kept row and its score."""

    rows: np.ndarray  # int64 global ids
    nearest: np.ndarray  # int64 global ids
    score: np.ndarray  # float64


def resolve(kept: bytearray, left: np.ndarray, right: np.ndarray, score: np.ndarray) -> Rejected:
    """Decide the rows named in ``right`` in id order, updating ``kept`` (1 = kept) in place.

    Every row before the smallest ``right`` must already be decided in ``kept``; rows of ``right``
    start as kept (1) and are cleared when an earlier kept row is paired with them.

    Args:
        kept: one byte per global row id.
        left, right, score: the pairs, ``left[k] < right[k]``, in any order.
    """
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
