"""Plain-Python twin of ``_prefix``: the same source file, executed without Numba.

Running one source both ways keeps the two from drifting apart; only the LCS helpers differ
(Python integers as bit vectors, from ``_kernels_py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_PLAIN_PYTHON = True
_SOURCE = Path(__file__).with_name("_prefix.py")
exec(compile(_SOURCE.read_text(encoding="utf-8"), str(_SOURCE), "exec"), globals())

# Two helpers whose compiled form is a tight array loop are, in plain Python, cheaper as dicts:
# the functions executed above look these names up at call time, so they use these versions.


def _bucket_tables(query: Any) -> list[tuple[int, int]]:  # noqa: F811
    """The query's (signature bit, token count) pairs."""
    counts: dict[int, int] = {}
    for t in query.tolist():
        if t >= 0:
            bit = 1 << ((t ^ (t >> 6) ^ (t >> 12) ^ (t >> 18)) & 63)
            counts[bit] = counts.get(bit, 0) + 1
    return list(counts.items())


def _shared_bound(tables: list[tuple[int, int]], sig: Any) -> int:  # noqa: F811
    """Query tokens in the buckets of a row's signature."""
    bits = int(sig)
    return sum(count for bit, count in tables if bits & bit)


def sorted_tokens(tokens: Any, rank: Any) -> Any:  # noqa: F811
    """``tokens`` in the global order (ascending rank; -1, unknown, first), copies adjacent."""
    ids = tokens.tolist()
    return np.array(sorted(ids, key=lambda t: -1 if t < 0 else int(rank[t])), dtype=np.int32)


# Defined by the exec above (looked up by name, so that linters and type checkers see them).
_row_by_row_tail_candidates: Any = globals()["_tail_candidates"]
_query_wide_signature: Any = globals()["_wide_signature"]


def _tail_candidates(  # noqa: F811
    s: Any, bar: float, lo: int, hi: int, off: Any, wide: Any, count: int, *candidates: Any
) -> Any:
    """The scan of the unindexed rows, its signature bound taken for all rows at once with numpy.

    A loop over every tail row is the twin's slowest step; rows whose length or 256-bit
    signature rules them out under a slightly looser bar are dropped here, and the rest go through
    the shared source (which applies the exact bounds).
    """
    m = s.shape[0]
    if m == 0 or hi <= lo:
        return (count, *candidates)
    q_wide = _query_wide_signature(s)
    spill = int(np.count_nonzero(s >= 0)) - int(np.unpackbits(q_wide.view(np.uint8)).sum())
    lengths = off[lo + 1 : hi + 1] - off[lo:hi]
    shared = spill + np.unpackbits((wide[lo:hi] & q_wide).view(np.uint8), axis=1).sum(axis=1)
    bound = np.minimum(np.minimum(shared, m), lengths)
    maybe = np.flatnonzero((bound > 0) & (2.0 * bound >= (bar - 1e-6) * (m + lengths)))
    for y in (lo + maybe).tolist():
        count, *candidates = _row_by_row_tail_candidates(s, bar, y, y + 1, off, wide, count, *candidates)
    return (count, *candidates)
