"""NoveltyIndex against an exhaustive rouge-score scan."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from dedup_helpers import any_texts, brute_force, oracle_f, small_vocab_texts
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import Match, NoveltyIndex, rouge_l
from selfinstruct.errors import ConfigError

INDEX_KINDS = [
    pytest.param({"backend": "numba"}, id="numba"),
    pytest.param({"backend": "python"}, id="python"),
    pytest.param({"backend": "numba", "minhash": True}, id="numba-minhash"),
]

stream = st.lists(st.one_of(small_vocab_texts, small_vocab_texts, any_texts), min_size=1, max_size=40)


def is_novel(score: float, threshold: float, rule: str) -> bool:
    """The decision rule of the paper or the original code."""
    return score < threshold if rule == "paper" else score <= threshold


@pytest.mark.parametrize("kind", INDEX_KINDS)
@pytest.mark.parametrize("rule", ["paper", "original"])
@given(texts=stream, threshold=st.sampled_from([0.7, 0.5, 0.3, 1.0, 0.7000000000000001]))
@settings(max_examples=60, deadline=None)
def test_add_if_novel_matches_exhaustive_scan(
    kind: dict[str, object], rule: str, texts: list[str], threshold: float
) -> None:
    """Every decision, rejected score and nearest id equals an exhaustive rouge-score scan."""
    index = NoveltyIndex(threshold=threshold, rule=rule, **kind)  # type: ignore[arg-type]
    pool: list[str] = []
    for text in texts:
        best, best_id = brute_force(pool, text)
        match = index.add_if_novel(text)
        assert match.novel == is_novel(best, threshold, rule)
        if not match.novel:
            assert (match.score, match.nearest) == (best, best_id)
            assert match.id is None
        else:
            assert match.score <= best
            assert match.id == len(pool)
            pool.append(text)
    assert index.texts == pool
    assert len(index) == len(pool)


@pytest.mark.parametrize("kind", INDEX_KINDS)
@given(pool=stream, probes=st.lists(any_texts | small_vocab_texts, min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_nearest_is_the_exact_maximum(kind: dict[str, object], pool: list[str], probes: list[str]) -> None:
    """check(nearest=True) returns the exact max score and the lowest id reaching it."""
    index = NoveltyIndex(**kind)  # type: ignore[arg-type]
    for text in pool:
        index.add(text)
    for probe in probes:
        best, best_id = brute_force(pool, probe)
        match = index.check(probe, nearest=True)
        assert (match.score, match.nearest) == (best, best_id)
        assert match.nearest_text == (None if best_id is None else pool[best_id])


@given(pool=st.lists(small_vocab_texts, max_size=20), probes=st.lists(small_vocab_texts, max_size=5))
@settings(max_examples=40, deadline=None)
def test_stemmer_index_matches_rouge_score(pool: list[str], probes: list[str]) -> None:
    """With use_stemmer=True the nearest scores equal rouge-score's stemmed scores."""
    index = NoveltyIndex(use_stemmer=True)
    for text in pool:
        index.add(text)
    for probe in [*probes, "cats running generously", "the cat runs"]:
        best, _ = brute_force(pool, probe, stem=True)
        assert index.check(probe, nearest=True).score == best


def test_long_texts_over_64_tokens() -> None:
    """Pool items and candidates longer than 64 tokens are judged exactly."""
    base = " ".join(f"w{i % 40}" for i in range(150))
    variant = base.replace("w3 ", "x3 ", 5)
    index = NoveltyIndex()
    assert index.add_if_novel(base).novel
    match = index.check(variant, nearest=True)
    assert match.score == oracle_f(base, variant)
    assert not match.novel


@pytest.mark.parametrize("workers", [pytest.param(1, id="1-thread"), pytest.param(3, id="3-threads")])
@pytest.mark.parametrize("add", [pytest.param(True, id="add"), pytest.param(False, id="no-add")])
@given(pool=st.lists(small_vocab_texts, max_size=10), batch=st.lists(small_vocab_texts, max_size=25))
@settings(max_examples=40, deadline=None)
def test_check_batch_equals_one_by_one(add: bool, workers: int, pool: list[str], batch: list[str]) -> None:
    """check_batch (threaded or not) decides exactly as add_if_novel one by one; add=False changes nothing."""
    reference = NoveltyIndex()
    index = NoveltyIndex()
    for text in pool:
        reference.add(text)
        index.add(text)
    expected = [reference.add_if_novel(text, nearest=True) for text in batch]
    got = index.check_batch(batch, add=add, nearest=True, workers=workers)
    assert [m.novel for m in got] == [m.novel for m in expected]
    assert [(m.score, m.nearest, m.nearest_text) for m in got] == [
        (m.score, m.nearest, m.nearest_text) for m in expected
    ]
    if add:
        assert [m.id for m in got] == [m.id for m in expected]
        assert index.texts == reference.texts
    else:
        assert all(m.id is None for m in got)
        assert index.texts == pool


@pytest.mark.parametrize("kind", INDEX_KINDS)
def test_snapshot_restore_round_trip(kind: dict[str, object]) -> None:
    """A restored index has the same texts, settings and answers, and keeps growing correctly."""
    index = NoveltyIndex(threshold=0.6, rule="original", **kind)  # type: ignore[arg-type]
    texts = [f"write a story about {w} and {v}" for w in ("cats", "dogs", "birds") for v in ("sea", "sky")]
    for text in texts:
        index.add_if_novel(text)
    restored = NoveltyIndex.restore(index.snapshot())
    assert restored.texts == index.texts
    assert restored.config == index.config
    for probe in ["write a story about cats and the sea", "a poem", "tell a story about fish and sky"]:
        assert restored.check(probe, nearest=True) == index.check(probe, nearest=True)
    assert restored.add_if_novel("completely new words here").id == len(index)
    assert restored.check("completely new words here").novel is False


def test_restore_refuses_garbage() -> None:
    """Bytes that are not a snapshot give a ConfigError, not a crash deep inside numpy."""
    with pytest.raises(ConfigError, match="not a NoveltyIndex snapshot"):
        NoveltyIndex.restore(b"nonsense")
    good = NoveltyIndex().snapshot()
    with pytest.raises(ConfigError, match="corrupt"):
        NoveltyIndex.restore(good[:60])


def test_empty_pool_and_empty_candidate() -> None:
    """An empty pool accepts anything; an empty candidate scores 0 and is novel."""
    index = NoveltyIndex()
    assert index.check("anything") == Match(novel=True, score=0.0, nearest=None, nearest_text=None)
    index.add("some text")
    assert index.add_if_novel("!!! 東京").novel
    assert index.add_if_novel("").novel
    assert index.check("unrelated words", nearest=True).nearest is None


def test_growth_across_many_rows_and_vocab() -> None:
    """Thousands of rows and tokens grow every array; answers stay exact."""
    index = NoveltyIndex()
    pool = [f"task {i} about topic{i % 97} and item{i % 89} with word{i}" for i in range(3000)]
    for text in pool:
        index.add(text)
    probe = "task 12 about topic12 and item12 with word12"
    assert index.check(probe, nearest=True).score == 1.0
    probe2 = "describe topic5 and item7 for word99"
    best = max(rouge_l(p, probe2) for p in pool)
    assert index.check(probe2, nearest=True).score == best


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"threshold": 0.0}, "threshold", id="threshold-zero"),
        pytest.param({"threshold": 1.5}, "threshold", id="threshold-high"),
        pytest.param({"rule": "strict"}, "rule", id="rule"),
        pytest.param({"mode": "fast"}, "mode", id="mode"),
        pytest.param({"tokenizer": "spaces"}, "tokenizer", id="tokenizer"),
        pytest.param({"backend": "gpu"}, "backend", id="backend"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    """Out-of-range settings are refused with a message naming the setting."""
    with pytest.raises(ConfigError, match=message):
        NoveltyIndex(**kwargs)  # type: ignore[arg-type]


def test_approximate_mode_never_rejects_a_novel_text() -> None:
    """Approximate mode only misses duplicates; whatever it rejects really is a duplicate."""
    exact = NoveltyIndex()
    approx = NoveltyIndex(mode="approximate")
    texts = [f"write {a} sentences about {b} in a {c} tone" for a in "abc" for b in "xyz" for c in "pq"]
    texts += [t.replace("write", "compose") for t in texts]
    for text in texts:
        e = exact.check(text, nearest=True)
        a = approx.add_if_novel(text)
        if not a.novel:  # its pool is a subset of the exact one: exact rejects it too
            assert not e.novel, (text, a.score, e.score)
        exact.add(text)
        assert a.score <= e.score


def test_threads_share_one_index() -> None:
    """Concurrent add_if_novel calls from threads keep the index consistent."""
    index = NoveltyIndex()
    texts = [f"thread {t} writes item {i} about subject {i % 7}" for t in range(4) for i in range(100)]

    def worker(chunk: list[str]) -> None:
        for text in chunk:
            index.add_if_novel(text)

    threads = [threading.Thread(target=worker, args=(texts[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = index.texts
    for i, text in enumerate(kept):
        others = NoveltyIndex()
        for other in kept[:i]:
            others.add(other)
        assert others.check(text).novel


@pytest.mark.parametrize("backend", ["numba", "python"])
def test_larger_pool_matches_exhaustive_scan(backend: str) -> None:
    """A 300-item stream full of near-duplicates is judged exactly like a rouge-score scan."""
    import random

    rng = random.Random(5)
    words = "write a poem story about the sea sky cat dog in style of for kids short long".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) for _ in range(300)]
    texts += [t + " " + rng.choice(words) for t in texts[:60]]
    index = NoveltyIndex(backend=backend)
    pool: list[str] = []
    for text in texts:
        best, best_id = brute_force(pool, text)
        match = index.add_if_novel(text, nearest=True)
        assert (match.novel, match.score, match.nearest) == (best < 0.7, best, best_id)
        if match.novel:
            pool.append(text)


def test_check_batch_refuses_zero_workers() -> None:
    """workers=0 is a ConfigError."""
    with pytest.raises(ConfigError, match="workers"):
        NoveltyIndex().check_batch(["a"], workers=0)


def test_threaded_batches_over_a_large_pool() -> None:
    """Batches checked on several threads against a 2,000-item pool equal one-by-one answers."""
    import random

    rng = random.Random(9)
    words = [f"w{i}" for i in range(60)] + ["a", "the", "of"] * 5
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 20))) for _ in range(2600)]
    texts += [t + " extra" for t in texts[::7]]
    rng.shuffle(texts)
    reference, threaded = NoveltyIndex(), NoveltyIndex()
    expected = [reference.add_if_novel(t, nearest=True) for t in texts]
    got: list[Match] = []
    for i in range(0, len(texts), 300):
        got += threaded.check_batch(texts[i : i + 300], nearest=True, workers=4)
    assert got == expected
    assert threaded.texts == reference.texts


def test_statistics_count_checks_and_verified_rows() -> None:
    """statistics() counts pool items, vocabulary, checks (threaded too) and verified rows."""
    index = NoveltyIndex()
    for text in ["a b c d", "a b c e", "x y z"]:
        index.add(text)
    index.check("a b c d")
    index.check_batch(["a b c f", "p q", "r s", "t u"], add=False, workers=2)
    stats = index.statistics()
    assert (stats.items, stats.vocabulary, stats.checks) == (3, 8, 5)
    assert stats.verified >= 2


def test_cold_cache_starts_on_the_twin_and_switches_with_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With Numba's cache empty an "auto" index runs the twin, then moves to Numba once it is cached."""
    from selfinstruct.dedup import _index, _kernels, _kernels_py

    ready = {"now": False}
    warmed: list[bool] = []
    monkeypatch.setattr(_index, "compiled_cache_ready", lambda kernel: ready["now"])
    monkeypatch.setattr(_index, "warm_up_in_background", lambda: warmed.append(True) or True)
    monkeypatch.setattr(_index, "_UPGRADE_POLL", 0.0)
    monkeypatch.delenv("SELFINSTRUCT_PURE_PYTHON", raising=False)
    index = NoveltyIndex()
    reference = NoveltyIndex(backend="numba")
    assert index._k is _kernels_py
    assert warmed == [True]
    texts = [f"write a poem about the sea number {k % 7} today" for k in range(150)]
    for k, text in enumerate(texts):
        if k == 75:
            ready["now"] = True
        assert index.add_if_novel(text, nearest=True) == reference.add_if_novel(text, nearest=True)
    assert index._k is _kernels


WARM_COVERAGE = """
import json
from selfinstruct.dedup import NoveltyIndex, _kernels, _prefix
from selfinstruct.dedup._warm import warm_up

def signatures():
    return {
        f"{module.__name__}.{name}": {str(sig) for sig in kernel.signatures}
        for module in (_kernels, _prefix)
        for name, kernel in vars(module).items()
        if hasattr(kernel, "signatures")
    }

warm_up()  # loads what the background warm-up compiles, from the disk cache
before = signatures()
index = NoveltyIndex(backend="numba")
for k in range(2500):
    index.add_if_novel(f"task {k} on {k % 7} with {k % 11} for {k % 13} by {k % 17}", nearest=k % 2 == 0)
    if k % 500 == 0:
        index.check_batch([f"batch {k} item {j}" for j in range(8)], add=False, nearest=True, workers=2)
after = signatures()
print(json.dumps({name: sorted(sigs - before.get(name, set())) for name, sigs in after.items()
                  if sigs - before.get(name, set())}))
"""


def test_warm_up_compiles_every_kernel_a_growing_index_uses() -> None:
    """An index that grows past the scanned tail, compacts, searches for the nearest item and checks
    on threads needs no kernel specialization the warm-up did not compile: otherwise a fresh
    install would compile in the middle of a run, and an "auto" index waiting for the cache would
    stay on the twin."""
    done = subprocess.run([sys.executable, "-c", WARM_COVERAGE], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_minhash_modes_without_datasketch_say_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """datasketch is an extra: asking for a MinHash mode without it is a ConfigError naming it."""
    monkeypatch.setitem(sys.modules, "datasketch", None)  # import datasketch now fails
    with pytest.raises(ConfigError, match=r"selfinstruct\[minhash\]"):
        NoveltyIndex(minhash=True)
    assert NoveltyIndex().add_if_novel("the exact path needs no datasketch").novel
