"""NoveltyIndex's prefix postings (levels, token-order epochs, the scanned tail) against exhaustive scans.

The tail is 1,024 rows by default, so small pools never reach the postings; these tests shrink it
so that every check goes through levels built at different vocabulary sizes and orders.
"""

from __future__ import annotations

import numpy as np
import pytest
from dedup_helpers import any_texts, brute_force, small_vocab_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import NoveltyIndex, _index, _pool_postings, rouge_l
from selfinstruct.dedup._levels import LeveledPostings

BACKENDS = [pytest.param("numba", id="numba"), pytest.param("python", id="python")]
stream = st.lists(st.one_of(small_vocab_texts, small_vocab_texts, any_texts), min_size=1, max_size=40)
fixture_ok = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(params=[1, 2, 5], ids=lambda tail: f"tail-{tail}")
def small_tail(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(_pool_postings, "TAIL_ROWS", request.param)
    monkeypatch.setattr(_index, "NEAREST_PREFIX_FROM", 0)  # nearest=True checks use the postings too
    return int(request.param)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["paper", "original"])
@given(texts=stream, threshold=st.sampled_from([0.7, 0.5, 1.0]))
@fixture_ok
def test_decisions_through_levels_match_exhaustive_scan(
    small_tail: int, backend: str, rule: str, texts: list[str], threshold: float
) -> None:
    """Every decision and rejected score equals a rouge-score scan; the levels hold the old rows."""
    index = NoveltyIndex(threshold=threshold, rule=rule, backend=backend)
    pool: list[str] = []
    for text in texts:
        best, best_id = brute_force(pool, text)
        match = index.add_if_novel(text)
        assert match.novel == (best < threshold if rule == "paper" else best <= threshold)
        if not match.novel:
            assert (match.score, match.nearest) == (best, best_id)
        else:
            pool.append(text)
        assert len(pool) - index._postings.indexed <= small_tail  # only the tail is scanned


@pytest.mark.parametrize("backend", BACKENDS)
@given(pool=stream, probes=st.lists(any_texts | small_vocab_texts, min_size=1, max_size=6))
@fixture_ok
def test_nearest_through_levels_is_the_exact_maximum(
    small_tail: int, backend: str, pool: list[str], probes: list[str]
) -> None:
    """check(nearest=True) still finds the exact maximum, above and below the threshold."""
    index = NoveltyIndex(backend=backend)
    for text in pool:
        index.add(text)
    for probe in probes:
        best, best_id = brute_force(pool, probe)
        match = index.check(probe, nearest=True)
        assert (match.score, match.nearest) == (best, best_id)


def growing_texts(count: int, seed: int) -> list[str]:
    """Texts whose vocabulary keeps growing (new words all along), many near-duplicates."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for k in range(count):
        if texts and rng.random() < 0.4:
            words = texts[int(rng.integers(0, len(texts)))].split()
            words[int(rng.integers(0, len(words)))] = f"new{k}"
        else:
            common = [f"w{int(rng.zipf(1.3)) % 300}" for _ in range(int(rng.integers(4, 14)))]
            words = [*common, f"fresh{k}", f"fresh{k // 7}"]
            rng.shuffle(words)
        texts.append(" ".join(words))
    return texts


@pytest.mark.parametrize("backend", BACKENDS)
def test_growing_vocabulary_across_epochs(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """A pool that doubles several times (new token orders) and keeps meeting new tokens: every
    decision and score equals a full scan, and queries holding tokens newer than every level work."""
    monkeypatch.setattr(_pool_postings, "TAIL_ROWS", 7)
    monkeypatch.setattr(_index, "NEAREST_PREFIX_FROM", 0)
    texts = growing_texts(500 if backend == "numba" else 200, seed=3)
    index = NoveltyIndex(backend=backend)
    pool: list[str] = []
    for text in texts:
        scores = [rouge_l(item, text) for item in pool]
        best = max(scores, default=0.0)
        match = index.add_if_novel(text)
        assert match.novel == (best < 0.7)
        if not match.novel:
            assert (match.score, match.nearest) == (best, scores.index(best))
        else:
            pool.append(text)
    assert index._postings.indexed > len(pool) // 2
    probe = f"{pool[-1]} brandnewtoken"
    best = max(rouge_l(item, probe) for item in pool)
    assert index.check(probe, nearest=True).score == best


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_new_token_order_reindexes_every_level(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """Rows indexed under an old order are found by a query whose prefix follows the new one.

    "a b c d" is indexed under its prefix [a, b] while a and b are rare; then a and b become
    common, the pool doubles, and "a b c e" walks only [c] (e is unknown): it must still meet
    "a b c d" (ROUGE-L 0.75), which it does only if that row was re-indexed under [c, d].
    """
    monkeypatch.setattr(_pool_postings, "TAIL_ROWS", 1)
    monkeypatch.setattr(_index, "NEAREST_PREFIX_FROM", 0)
    index = NoveltyIndex(backend=backend)
    for k in range(10):
        index.add(f"c d f{k} g{k} h{k} i{k}")
    index.add("a b c d")
    assert index.check("nothing like it").novel  # first epoch: a and b are the rarest tokens
    for k in range(30):
        index.add(f"a b u{k} v{k} s{k} t{k}")
    match = index.check("a b c e")
    assert index._postings.ranked_rows == 41  # the second check froze a new order
    assert (match.novel, match.score, match.nearest_text) == (False, 0.75, "a b c d")


@pytest.mark.parametrize("workers", [1, 3])
@given(pool=st.lists(small_vocab_texts, max_size=12), batch=st.lists(small_vocab_texts, max_size=20))
@fixture_ok
def test_threaded_batches_through_levels(
    small_tail: int, workers: int, pool: list[str], batch: list[str]
) -> None:
    """check_batch on threads (each with its own probe scratch) equals one-by-one checks."""
    index = NoveltyIndex()
    reference = NoveltyIndex()
    for text in pool:
        index.add(text)
        reference.add(text)
    got = index.check_batch(batch, workers=workers)
    want = [reference.add_if_novel(text) for text in batch]
    assert [(m.novel, m.id) for m in got] == [(m.novel, m.id) for m in want]
    assert [m.score for m in got if not m.novel] == [m.score for m in want if not m.novel]


@pytest.mark.parametrize("backend", BACKENDS)
def test_texts_too_long_for_the_masks_fall_back_to_the_full_search(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """With no room for LCS masks the prefix kernel gives up on non-identical candidates; the
    index then searches its full lists and the answers stay exact."""
    monkeypatch.setattr(_pool_postings, "TAIL_ROWS", 3)
    monkeypatch.setattr(_index, "NEAREST_PREFIX_FROM", 0)
    monkeypatch.setattr(_pool_postings, "MASK_BUDGET", 0)
    texts = growing_texts(120, seed=5)
    index = NoveltyIndex(backend=backend)
    pool: list[str] = []
    for text in texts:
        best = max((rouge_l(item, text) for item in pool), default=0.0)
        match = index.add_if_novel(text)
        assert match.novel == (best < 0.7)
        if match.novel:
            pool.append(text)
        else:
            assert match.score == best


def test_levels_of_different_vocabularies_are_padded() -> None:
    """A level built when the vocabulary was smaller reads as empty lists for the newer tokens."""

    def build(rows: np.ndarray) -> tuple[np.ndarray, ...]:
        vocab = 2 if rows[-1] < 2 else 4  # later rows bring tokens 2 and 3
        counts = np.zeros(2 * vocab + 1, dtype=np.int64)
        for row in rows:
            counts[2 * int(row) + 1] += 1  # row r is posted under token r, short part
        count = len(rows)
        return (
            np.cumsum(counts),
            np.asarray(rows, dtype=np.int32),
            np.ones(count, dtype=np.int32),
            np.zeros(count, dtype=np.int32),
            np.zeros(count, dtype=np.uint64),
            np.zeros(count, dtype=np.uint64),
        )

    levels = LeveledPostings(build)
    levels.add(np.array([0, 1], dtype=np.int64))
    levels.add(np.array([2], dtype=np.int64))
    offsets, p_row, *_ = levels.arrays()
    assert offsets.shape == (2, 9)
    lists = {
        (level, token): p_row[offsets[level, 2 * token] : offsets[level, 2 * token + 2]].tolist()
        for level in range(2)
        for token in range(4)
    }
    assert lists == {
        (0, 0): [0],
        (0, 1): [1],
        (0, 2): [],
        (0, 3): [],
        (1, 0): [],
        (1, 1): [],
        (1, 2): [2],
        (1, 3): [],
    }
