"""``similar_pairs`` against an exhaustive rouge-score scan, both kernels, any worker count."""

from __future__ import annotations

import pytest
from dedup_helpers import any_texts, oracle_f, small_vocab_texts
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import similar_pairs, tokenize_block
from selfinstruct.errors import ConfigError

BACKENDS = [pytest.param("numba", id="numba"), pytest.param("python", id="python")]
pools = st.lists(st.one_of(small_vocab_texts, small_vocab_texts, any_texts), max_size=30)
thresholds = st.sampled_from([0.7, 0.5, 0.3, 1.0, 0.7000000000000001, 0.05])


def exhaustive(
    left: list[str], right: list[str] | None, threshold: float, rule: str
) -> list[tuple[int, int, float]]:
    """All duplicate pairs by scoring every pair with rouge-score, sorted by (j, i)."""
    queries = left if right is None else right
    pairs = []
    for j, b in enumerate(queries):
        for i, a in enumerate(left if right is not None else left[:j]):
            f = oracle_f(a, b)
            if f > threshold or (f == threshold and rule == "paper"):
                pairs.append((i, j, f))
    return pairs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["paper", "original"])
@given(left=pools, threshold=thresholds)
@settings(max_examples=50, deadline=None)
def test_self_join_matches_exhaustive_scan(
    backend: str, rule: str, left: list[str], threshold: float
) -> None:
    """Within one list: exactly the pairs (and F) an exhaustive rouge-score scan finds."""
    got = similar_pairs(left, threshold=threshold, rule=rule, backend=backend)
    assert got == exhaustive(left, None, threshold, rule)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rule", ["paper", "original"])
@given(left=pools, right=pools, threshold=thresholds)
@settings(max_examples=50, deadline=None)
def test_cross_join_matches_exhaustive_scan(
    backend: str, rule: str, left: list[str], right: list[str], threshold: float
) -> None:
    """Between two lists: exactly the pairs (and F) an exhaustive rouge-score scan finds."""
    got = similar_pairs(left, right, threshold=threshold, rule=rule, backend=backend)
    assert got == exhaustive(left, right, threshold, rule)


@given(left=pools, right=pools)
@settings(max_examples=30, deadline=None)
def test_blocks_and_workers_do_not_change_the_pairs(left: list[str], right: list[str]) -> None:
    """Pre-tokenized blocks and any number of threads give the same pairs as plain texts."""
    expected = similar_pairs(left * 5, right, workers=1)
    blocks = similar_pairs(tokenize_block(left * 5), tokenize_block(right), workers=3)
    assert blocks == expected


def test_many_rows_on_threads_match_one_thread() -> None:
    """A join large enough to be split into chunks gives the single-thread answer."""
    words = [f"w{k}" for k in range(40)]
    texts = [" ".join(words[(i * 7 + d) % 40] for d in range(12 + i % 5)) for i in range(700)]
    one = similar_pairs(texts, threshold=0.5, workers=1)
    assert one, "the corpus has near-duplicates"
    assert similar_pairs(texts, threshold=0.5, workers=4) == one


def test_mismatched_block_is_refused() -> None:
    """A block tokenized with other settings is a ConfigError, not a silently wrong join."""
    with pytest.raises(ConfigError, match="tokenizer"):
        similar_pairs(tokenize_block(["a b"], tokenizer="unicode"), ["a b"])


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"threshold": 0.0}, id="threshold"),
        pytest.param({"rule": "strict"}, id="rule"),
        pytest.param({"tokenizer": "nltk"}, id="tokenizer"),
        pytest.param({"workers": 0}, id="workers"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    """Out-of-range settings raise ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        similar_pairs(["a"], **kwargs)  # type: ignore[arg-type]
