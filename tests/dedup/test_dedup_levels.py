"""LeveledPostings: levels of prefix postings that, together, index exactly the rows added."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import _prefix_py
from selfinstruct.dedup._join import token_rank
from selfinstruct.dedup._levels import LeveledPostings


def entries_by_list(p_off: np.ndarray, arrays: tuple[np.ndarray, ...], levels: int) -> dict:
    """{list slot: sorted (row, length, position, signatures) tuples} over the first ``levels``."""
    p_row, p_len, p_pos, p_sig, p_sig2 = arrays
    found: dict[int, list[tuple[int, int, int, int, int]]] = {}
    for level in range(levels):
        for slot in range(p_off.shape[1] - 1):
            for e in range(p_off[level, slot], p_off[level, slot + 1]):
                entry = (int(p_row[e]), int(p_len[e]), int(p_pos[e]), int(p_sig[e]), int(p_sig2[e]))
                found.setdefault(slot, []).append(entry)
    return {slot: sorted(items) for slot, items in found.items() if items}


@pytest.mark.parametrize("ratio", [2, 8])
@given(
    lengths=st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
@settings(max_examples=60, deadline=None)
def test_levels_hold_the_postings_of_every_row_added(
    ratio: int, lengths: list[int], cuts: list[int], seed: int
) -> None:
    """Whatever the batch sizes, the levels' entries equal one build over all rows added, and
    each level's lists stay sorted by length."""
    rng = np.random.default_rng(seed)
    tok = rng.integers(0, 15, size=sum(lengths)).astype(np.int32)
    off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    rank = token_rank(tok, 15)

    def build(rows: np.ndarray) -> tuple[np.ndarray, ...]:
        return _prefix_py.build_postings(tok, off, rank, 0.7, rows.astype(np.int64))

    levels = LeveledPostings(build, ratio=ratio)
    added: list[int] = []
    start, k = 0, 0
    while start < len(lengths):
        end = min(len(lengths), start + cuts[k % len(cuts)])
        rows = np.arange(start, end)[rng.random(end - start) < 0.7]  # some rows were rejected
        levels.add(rows)
        added.extend(rows.tolist())
        start, k = end, k + 1
    assert len(levels) == len(added)
    p_off, *arrays = levels.arrays()
    assert p_off.shape[0] <= max(1, int(np.log(max(len(added), 1)) / np.log(ratio)) + 2)
    expected_off, *expected = build(np.array(added, dtype=np.int64))
    assert entries_by_list(p_off, tuple(arrays), p_off.shape[0]) == entries_by_list(
        expected_off.reshape(1, -1), tuple(expected), 1
    )
    for level in range(p_off.shape[0]):
        for slot in range(p_off.shape[1] - 1):
            part = arrays[1][p_off[level, slot] : p_off[level, slot + 1]]
            assert np.all(part[:-1] <= part[1:])
