"""Prefix postings over a ``NoveltyIndex``'s pool: the exact path of a check, sublinear in the pool.

The index's own posting lists hold every row under every token, which a nearest-neighbour search
below the threshold needs. Deciding novelty needs far less: with a global token order, a row
with ROUGE-L >= threshold shares a token of its prefix with the query (``_prefix``). So each
pool row is also indexed under its prefix tokens alone, in levels (``LeveledPostings``), and a
check walks only those lists, with the length, bitmap and positional filters of the file dedup.

The order (rarest first) is frozen per epoch: tokens first seen after it get rank 0, which puts
them first (they are rare when new), ordered by id, so the order stays fixed. When the pool has
doubled since, every level is rebuilt under a new order, which costs O(1) rebuilds per row
amortized. The newest rows (fewer than ``TAIL_ROWS``) are not indexed yet: a check scans them
directly, with the length window and their 256-bit signatures, and they join the postings as
one level once there are enough of them.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ._join import MASK_BUDGET, token_rank
from ._levels import LeveledPostings

__all__ = ["PoolPostings", "ProbeScratch"]

TAIL_ROWS = 1024
"""Rows a check scans directly before they are indexed as a level."""

LEVEL_RATIO = 8
"""A level is merged into the one before it until that one is this many times its size."""

_STAMP_LIMIT = (1 << 31) - 2


class ProbeScratch:
    """One thread's scratch for ``PoolPostings.best``: a stamp per row (grown with the pool)."""

    def __init__(self) -> None:
        self.state = np.zeros(0, dtype=np.int64)
        self.stamp = 0

    def next_stamp(self, rows: int) -> int:
        """A stamp no row holds yet, with ``state`` covering ``rows`` rows."""
        if rows > self.state.shape[0]:
            grown = np.zeros(max(rows, 2 * self.state.shape[0], 1024), dtype=np.int64)
            grown[: self.state.shape[0]] = self.state
            self.state = grown
        self.stamp += 1
        if self.stamp >= _STAMP_LIMIT:
            self.state[:] = 0
            self.stamp = 1
        return self.stamp


class PoolPostings:
    """Prefix postings of a growing pool of token rows (see the module docstring).

    ``sync`` brings the postings up to the pool (call it, under the index's lock, before checks);
    ``best`` then answers for one query and may run on several threads at once, each with its own
    ``ProbeScratch`` and ``slot`` array.
    """

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._rank = np.zeros(0, dtype=np.int32)
        self._ranked_rows = 0  # pool size when the order was frozen
        self._levels: LeveledPostings | None = None
        self._indexed = 0  # rows [0, indexed) are in the levels
        self._rows = 0  # rows [indexed, rows) are the scanned tail
        self._wide = np.zeros((0, 4), dtype=np.uint64)
        self._kept = np.ones(0, dtype=np.uint8)
        self._arrays: tuple[np.ndarray, ...] = ()
        self._source: tuple[ModuleType, np.ndarray, np.ndarray] | None = None  # while building

    @property
    def ranked_rows(self) -> int:
        """The pool size when the current token order was frozen."""
        return self._ranked_rows

    @property
    def indexed(self) -> int:
        """Rows in the postings (the rest of the pool is scanned by each check)."""
        return self._indexed

    def sync(self, prefix: ModuleType, tok: np.ndarray, off: np.ndarray, rows: int, vocab: int) -> None:
        """Take in pool rows [0, rows) (``tok``/``off`` as the index holds them, ``vocab`` tokens)."""
        if rows < self._rows:
            raise ValueError("the pool only grows")
        self._extend_signatures(prefix, tok, off, rows)
        if vocab > self._rank.shape[0]:
            grown = np.zeros(max(vocab, 2 * self._rank.shape[0]), dtype=np.int32)
            grown[: self._rank.shape[0]] = self._rank
            self._rank = grown
        if rows - self._indexed >= TAIL_ROWS:
            if rows >= 2 * self._ranked_rows:
                self._new_epoch(prefix, tok, off, rows, vocab)
            else:
                self._index(prefix, tok, off, rows)
        self._rows = rows

    def best(
        self,
        prefix: ModuleType,
        query: np.ndarray,
        init: tuple[float, int],
        tok: np.ndarray,
        off: np.ndarray,
        scratch: ProbeScratch,
        slot: np.ndarray,
    ) -> tuple[float, int, int] | None:
        """(best score, best row, rows verified) of ``query`` over the synced pool, exact at or
        above the threshold (``init`` is a score already known, or (-1.0, -1)); None when the query
        is too long to compare with a non-identical row here (``MASK_BUDGET``)."""
        p_off, p_row, p_len, p_pos, p_sig, p_sig2 = self._arrays or self._empty_arrays()
        stamp = scratch.next_stamp(self._rows)
        best, best_id, verified, failed = prefix.best_match(
            query, self._rank, self._threshold, init[0], init[1], p_off, p_row, p_len, p_pos,
            p_sig, p_sig2, self._indexed, self._rows, self._kept, self._wide, tok, off, scratch.state,
            stamp, slot, MASK_BUDGET,
        )  # fmt: skip
        if failed:
            return None
        return float(best), int(best_id), int(verified)

    @staticmethod
    def _empty_arrays() -> tuple[np.ndarray, ...]:
        empty = np.zeros(0, dtype=np.int32)
        no_signatures = np.zeros(0, dtype=np.uint64)
        return np.zeros((0, 1), dtype=np.int64), empty, empty, empty, no_signatures, no_signatures

    def _extend_signatures(self, prefix: ModuleType, tok: np.ndarray, off: np.ndarray, rows: int) -> None:
        have = self._rows
        if rows == have:
            return
        if rows > self._wide.shape[0]:
            size = max(rows, 2 * self._wide.shape[0], 1024)
            grown = np.zeros((size, 4), dtype=np.uint64)
            grown[:have] = self._wide[:have]
            self._wide = grown
            self._kept = np.ones(size, dtype=np.uint8)
        self._wide[have:rows] = prefix.wide_signatures(tok, off[have : rows + 1])

    def _new_epoch(self, prefix: ModuleType, tok: np.ndarray, off: np.ndarray, rows: int, vocab: int) -> None:
        """Freeze a new token order from the pool's counts and index every row under it."""
        rank = token_rank(tok[: off[rows]], vocab) + 1  # 0 is for tokens seen after this
        self._rank = np.zeros(max(vocab, self._rank.shape[0]), dtype=np.int32)
        self._rank[:vocab] = rank
        self._ranked_rows = rows
        self._levels = None
        self._indexed = 0
        self._index(prefix, tok, off, rows)

    def _index(self, prefix: ModuleType, tok: np.ndarray, off: np.ndarray, rows: int) -> None:
        """Index the tail rows [indexed, rows) as a new level."""
        if self._levels is None:
            self._levels = LeveledPostings(self._build, ratio=LEVEL_RATIO)
        self._source = (prefix, tok, off)
        try:
            self._levels.add(np.arange(self._indexed, rows, dtype=np.int64))
        finally:
            self._source = None
        self._indexed = rows
        self._arrays = self._levels.arrays()

    def _build(self, ids: np.ndarray) -> tuple[np.ndarray, ...]:
        """Postings of pool rows ``ids`` under the current order (``LeveledPostings``' builder)."""
        assert self._source is not None
        prefix, tok, off = self._source
        return prefix.build_postings(tok, off, self._rank, self._threshold, ids)
