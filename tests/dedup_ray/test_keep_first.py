"""Keep-first over similar pairs against the sequential ``NoveltyIndex`` (no Ray needed)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from ray_helpers import corpora

from selfinstruct.dedup import NoveltyIndex, similar_pairs
from selfinstruct.distributed._keep_first import resolve


@given(
    pool=st.lists(st.sampled_from(["write a poem", "a poem about the sea", "the cat"]), max_size=3),
    texts=corpora,
    threshold=st.sampled_from([0.7, 0.5, 1.0]),
    rule=st.sampled_from(["paper", "original"]),
    seed=st.integers(0, 2**16),
    backend=st.sampled_from(["python", "numba"]),
)
@settings(max_examples=150, deadline=None)
def test_resolve_makes_the_sequential_decisions(
    pool: list[str], texts: list[str], threshold: float, rule: str, seed: int, backend: str
) -> None:
    """Kept rows, rejects' scores and nearest rows equal add_if_novel's, in any pair order, both passes."""
    everything = pool + texts
    found = [p for p in similar_pairs(everything, threshold=threshold, rule=rule) if p[1] >= len(pool)]
    random.Random(seed).shuffle(found)
    table = np.asarray(found, dtype=np.float64).reshape(-1, 3)
    kept = bytearray(b"\x01") * len(everything)
    rejected = resolve(
        kept, table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2], backend=backend
    )

    index = NoveltyIndex(threshold=threshold, rule=rule)
    for text in pool:
        index.add(text)
    index_id_of_row = {row: row for row in range(len(pool))}
    expected = []
    for row, text in enumerate(texts, start=len(pool)):
        match = index.add_if_novel(text)
        assert bool(kept[row]) == match.novel
        if match.novel:
            index_id_of_row[row] = match.id
        else:
            expected.append((row, match.nearest, match.score))
    got = [
        (row, index_id_of_row[near], score)
        for row, near, score in zip(
            rejected.rows.tolist(), rejected.nearest.tolist(), rejected.score.tolist(), strict=True
        )
    ]
    assert got == expected


def test_compiled_and_plain_passes_agree_on_many_pairs() -> None:
    """On 200k random pairs with tied scores, the auto (compiled) pass equals the plain twin."""
    rng = np.random.default_rng(7)
    right = rng.integers(1000, 6000, size=200_000)
    left = (right * rng.random(200_000)).astype(np.int64)
    score = rng.choice([0.7, 0.75, 0.8, 1.0], size=200_000)
    kept_py, kept_auto = bytearray(b"\x01") * 6000, bytearray(b"\x01") * 6000
    kept_py[3:900:7] = kept_auto[3:900:7] = bytes(len(range(3, 900, 7)))  # rows decided before
    plain = resolve(kept_py, left, right, score, backend="python")
    auto = resolve(kept_auto, left, right, score)
    assert kept_py == kept_auto
    for name in ("rows", "nearest", "score"):
        assert getattr(plain, name).tolist() == getattr(auto, name).tolist()
    assert 0 < len(plain.rows) < 5000


def test_no_pairs_keeps_everything() -> None:
    """Without pairs every row stays kept and nothing is rejected."""
    kept = bytearray(b"\x01") * 4
    empty = np.zeros(0, dtype=np.int64)
    rejected = resolve(kept, empty, empty, np.zeros(0))
    assert kept == bytearray(b"\x01") * 4
    assert rejected.rows.size == 0


def test_a_rejected_row_does_not_reject_later_ones() -> None:
    """Chain 0~1~2 (0 and 2 not similar): 1 goes, 2 stays, because only kept rows count."""
    kept = bytearray(b"\x01") * 3
    rejected = resolve(kept, np.array([0, 1]), np.array([1, 2]), np.array([0.8, 0.9]))
    assert list(kept) == [1, 0, 1]
    assert rejected.rows.tolist() == [1]
    assert rejected.nearest.tolist() == [0]
