"""Prefix postings that grow with the kept rows: a few levels, merged as a binary counter.

``dedup_file`` checks each batch of rows against the rows kept before it. Rebuilding one set of
postings after every batch would cost the whole pool each time; indexing rows before they are
decided would make every check read entries of rows that end up rejected (most rows of a
redundant corpus). Here each settled batch's kept rows become a new level, and a level is merged
with the one before it while that one is not at least twice its size, so there are
O(log rows) levels and each row is rebuilt O(log rows) times. All levels share one set of entry
arrays (a level's entries are contiguous; merges only ever rewrite the tail), and
``offsets()`` gives the kernels one row of list offsets per level.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["LeveledPostings"]

Build = Callable[[np.ndarray], tuple[np.ndarray, ...]]
"""``build(rows)`` -> (p_off, p_row, p_len, p_pos, p_sig, p_sig2), as ``_prefix.build_postings``."""


class LeveledPostings:
    """Postings of a growing set of rows, in levels (see the module docstring)."""

    def __init__(self, build: Build, *, ratio: int = 2) -> None:
        self._build = build
        self._ratio = ratio  # a level stays apart only while ``ratio`` times the size of the ones after
        self._rows: list[np.ndarray] = []  # row ids of each level, increasing
        self._starts: list[int] = []  # first entry of each level
        self._offsets = np.zeros((0, 1), dtype=np.int64)  # one row per level, as build's p_off
        self._entries: list[np.ndarray] = [
            np.empty(0, dtype=np.int32),  # row
            np.empty(0, dtype=np.int32),  # length
            np.empty(0, dtype=np.int32),  # position
            np.empty(0, dtype=np.uint64),  # signature
            np.empty(0, dtype=np.uint64),  # second signature
        ]
        self._used = 0

    def __len__(self) -> int:
        """Rows indexed."""
        return sum(len(rows) for rows in self._rows)

    def add(self, rows: np.ndarray) -> None:
        """Index ``rows`` (int64 ids, increasing, all above the rows already indexed)."""
        if len(rows) == 0:
            return
        rows = np.asarray(rows, dtype=np.int64)
        first = len(self._rows)
        while first > 0 and len(self._rows[first - 1]) < self._ratio * (
            len(rows) + sum(len(level) for level in self._rows[first:])
        ):
            first -= 1
        merged = np.concatenate([*self._rows[first:], rows])
        start = self._starts[first] if first < len(self._starts) else self._used
        p_off, *entries = self._build(merged)
        size = len(entries[0])
        self._reserve(start + size)
        for store, part in zip(self._entries, entries, strict=True):
            store[start : start + size] = part
        self._used = start + size
        del self._rows[first:], self._starts[first:]
        self._rows.append(merged)
        self._starts.append(start)
        # Levels built with a larger vocabulary have longer offset rows: shorter ones are padded
        # with their end offset (empty lists for the tokens they never saw).
        width = max(p_off.shape[0], self._offsets.shape[1] if first else 0)
        offsets = np.empty((first + 1, width), dtype=np.int64)
        offsets[:first, : self._offsets.shape[1]] = self._offsets[:first]
        offsets[:first, self._offsets.shape[1] :] = self._offsets[:first, -1:]
        offsets[first, : p_off.shape[0]] = p_off + start
        offsets[first, p_off.shape[0] :] = p_off[-1] + start
        self._offsets = offsets

    def _reserve(self, size: int) -> None:
        capacity = len(self._entries[0])
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity, 1024)
        for k, store in enumerate(self._entries):
            grown = np.empty(capacity, dtype=store.dtype)
            grown[: self._used] = store[: self._used]
            self._entries[k] = grown

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(p_off, p_row, p_len, p_pos, p_sig, p_sig2) for the kernels: p_off has one row per level."""
        return (self._offsets, *self._entries)
