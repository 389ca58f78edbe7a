"""Length windows over length-sorted posting lists: pools of short and long rows on common tokens."""

from __future__ import annotations

import numpy as np
import pytest
from dedup_helpers import brute_force

from selfinstruct.dedup import NoveltyIndex

COMMON = ["a", "b", "c", "d", "e", "f", "g", "h"]


def make_row(rng: np.random.Generator, length: int) -> list[str]:
    """Mostly common tokens, a few rare ones, so common posting lists mix every length."""
    words = [str(rng.choice(COMMON)) for _ in range(length)]
    for _ in range(int(rng.integers(0, 3))):
        words[int(rng.integers(0, length))] = f"w{int(rng.integers(0, 40))}"
    return words


def perturb(rng: np.random.Generator, words: list[str]) -> list[str]:
    """A near-copy: a few tokens dropped, replaced or inserted (scores around the threshold)."""
    out = list(words)
    for _ in range(int(rng.integers(0, 4))):
        kind = int(rng.integers(0, 3))
        at = int(rng.integers(0, len(out) + 1))
        if kind == 0 and len(out) > 1:
            del out[min(at, len(out) - 1)]
        elif kind == 1 and out:
            out[min(at, len(out) - 1)] = str(rng.choice(COMMON))
        else:
            out.insert(at, str(rng.choice(COMMON)))
    return out


@pytest.mark.parametrize("threshold", [pytest.param(0.7, id="0.7"), pytest.param(0.5, id="0.5")])
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(3)])
def test_short_and_long_rows_on_common_tokens(seed: int, threshold: float) -> None:
    """Both backends match an exhaustive scan before and after the posting lists are compacted."""
    rng = np.random.default_rng(seed)
    rows = [make_row(rng, int(rng.choice([1, 2, 3, 4, 6, 9, 14, 20, 30, 45]))) for _ in range(240)]
    pool = [" ".join(words) for words in rows]
    indexes = [NoveltyIndex(threshold=threshold, backend=b) for b in ("numba", "python")]
    for size in (80, 160, 240):
        for index in indexes:
            while len(index) < size:
                index.add(pool[len(index)])
        probes = [" ".join(perturb(rng, rows[int(rng.integers(0, size))])) for _ in range(25)]
        probes += [" ".join(make_row(rng, int(rng.integers(1, 50)))) for _ in range(5)]
        for probe in probes:
            best, best_id = brute_force(pool[:size], probe)
            for index in indexes:
                match = index.check(probe)
                assert match.novel == (best < threshold)
                if not match.novel:
                    assert (match.score, match.nearest) == (best, best_id)
                near = index.check(probe, nearest=True)
                assert (near.score, near.nearest) == (best, best_id)
        # Rows added after a compaction sit in unsorted tail blocks; both kinds were searched.
        assert all(0 < index._compacted_rows <= size for index in indexes)
    numba, python = indexes
    assert [a.tolist() for a in numba._full] == [a.tolist() for a in python._full]


@pytest.mark.parametrize("backend", ["numba", "python"])
def test_add_if_novel_across_compactions(backend: str) -> None:
    """add_if_novel decisions equal an exhaustive scan while lists are compacted as the pool grows."""
    rng = np.random.default_rng(11)
    index = NoveltyIndex(backend=backend)
    pool: list[str] = []
    rows: list[list[str]] = []
    for _ in range(400):
        if rows and rng.random() < 0.4:
            words = perturb(rng, rows[int(rng.integers(0, len(rows)))])
        else:
            words = make_row(rng, int(rng.choice([2, 4, 8, 12, 20, 35])))
        text = " ".join(words)
        best, _ = brute_force(pool, text)
        match = index.add_if_novel(text)
        assert match.novel == (best < 0.7)
        if match.novel:
            pool.append(text)
            rows.append(words)
    assert index._compacted_rows > 64


def test_restore_sorts_head_blocks() -> None:
    """A snapshot whose head blocks are in row order (older format) is restored sorted, still exact."""
    index = NoveltyIndex(backend="numba")
    texts = ["a b c d e f g h a b", "a b", "a b c", "h g f e d c b a h g f e", "a", "b c d"]
    for text in texts:
        index.add(text)
    restored = NoveltyIndex.restore(index.snapshot())
    data, start, cap, _, htf, _ = restored._full
    for t in range(len(restored._vocab)):
        b = int(htf[0, t])
        fill = int(htf[2, t]) if b == htf[1, t] else int(cap[b])
        lengths = (data[start[b] : start[b] + fill] & ((1 << 20) - 1)).tolist()
        assert lengths == sorted(lengths)
    for probe in ["a b c d", "a b c d e f g h a", "b c", "h g f e d c b a"]:
        assert restored.check(probe, nearest=True).score == brute_force(texts, probe)[0]
