"""``InstructionPool.admit``: an answer's candidates judged together, on any number of threads."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import NoveltyIndex
from selfinstruct.pipeline.pool import Admission, InstructionPool

WORDS = ["write", "a", "poem", "about", "the", "sea", "short", "story", "cat", "list", "three", "tips"]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)


def one_by_one(seeds: list[str], answers: list[list[str]], limit: int) -> tuple[list[Admission], int]:
    """The pool's decisions made with add_if_novel, one candidate at a time: the reference."""
    index, seed_index = NoveltyIndex(), NoveltyIndex()
    for seed in seeds:
        index.add(seed)
        seed_index.add(seed)
    admitted: list[Admission] = []
    similar = 0
    for candidates in answers:
        for text in candidates:
            if len(admitted) >= limit:
                break
            match = index.add_if_novel(text, nearest=True)
            if not match.novel:
                similar += 1
                continue
            seed_match = seed_index.check(text, nearest=True)
            admitted.append(
                Admission(
                    len(admitted) + 1,
                    text,
                    match.nearest_text,
                    float(match.score),
                    seed_match.nearest_text,
                    float(seed_match.score),
                )
            )
    return admitted, similar


@pytest.mark.parametrize("workers", [pytest.param(1, id="one-by-one"), pytest.param(3, id="batched")])
@given(
    seeds=st.lists(texts, min_size=1, max_size=4),
    answers=st.lists(st.lists(texts, max_size=12), max_size=5),
    limit=st.integers(1, 30),
)
@settings(max_examples=60, deadline=None)
def test_admissions_are_the_one_by_one_decisions(
    workers: int, seeds: list[str], answers: list[list[str]], limit: int
) -> None:
    """Admitted instructions, their neighbours and the similar count match add_if_novel one by one."""
    pool = InstructionPool(
        seeds,
        threshold=0.7,
        tokenizer="rouge",
        rule="paper",
        limit=limit,
        record_nearest=True,
        workers=workers,
    )
    rejected: Counter[str] = Counter()
    with mock.patch("selfinstruct.pipeline.pool.THREADS_FROM", 0):  # threads from the first item on
        admitted = [a for candidates in answers for a in pool.admit(candidates, rejected)]
    expected, similar = one_by_one(seeds, answers, limit)
    assert admitted == expected
    assert rejected["similar"] == similar
    assert pool.texts == [a.instruction for a in expected]
    assert len(pool.index) == len(seeds) + len(expected)
