"""rouge_l against rouge-score, bit for bit."""

from __future__ import annotations

import pytest
from dedup_helpers import WORDS, any_texts, oracle_f
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import lcs_tokens, rouge_l, rouge_l_tokens

long_texts = st.lists(st.sampled_from(WORDS[:20]), min_size=60, max_size=160).map(" ".join)


@given(any_texts, any_texts)
@settings(max_examples=400, deadline=None)
def test_rouge_l_is_rouge_score(a: str, b: str) -> None:
    """rouge_l(a, b) is the same float as rouge-score's rougeL fmeasure."""
    assert rouge_l(a, b) == oracle_f(a, b)


@given(long_texts, st.one_of(long_texts, any_texts))
@settings(max_examples=100, deadline=None)
def test_rouge_l_long_texts(a: str, b: str) -> None:
    """Texts over 64 tokens (multi-word bit vectors) still match rouge-score exactly."""
    assert rouge_l(a, b) == oracle_f(a, b)
    assert rouge_l(b, a) == oracle_f(b, a)


@given(any_texts, any_texts)
@settings(max_examples=200, deadline=None)
def test_rouge_l_with_stemmer_is_rouge_score(a: str, b: str) -> None:
    """use_stemmer=True matches rouge-score's use_stemmer=True."""
    assert rouge_l(a, b, use_stemmer=True) == oracle_f(a, b, stem=True)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("", "", id="both-empty"),
        pytest.param("", "the cat", id="one-empty"),
        pytest.param("東京", "東京", id="vanishing-script"),
        pytest.param("a b c d e f g", "a b c d e f g h i j k l m", id="boundary-7-13"),
        pytest.param("\u0130 \u212a", "i k", id="unicode-lowercasing"),
        pytest.param("Don't stop!", "don t STOP", id="punctuation"),
    ],
)
def test_rouge_l_edge_cases(a: str, b: str) -> None:
    """Edge cases equal rouge-score, including the 0.7000000000000001 boundary."""
    assert rouge_l(a, b) == oracle_f(a, b)


def test_boundary_value() -> None:
    """m=7, n=13, L=7 is just above 0.7 as in rouge-score."""
    assert rouge_l("a b c d e f g", "a b c d e f g h i j k l m") == 0.7000000000000001


def test_token_level_forms() -> None:
    """rouge_l_tokens and lcs_tokens work on token lists directly."""
    assert lcs_tokens(["a", "b", "c"], ["a", "c"]) == 2
    assert rouge_l_tokens(["a", "b", "c"], ["a", "c"]) == 0.8
    assert rouge_l_tokens([], ["a"]) == 0.0


def test_unicode_tokenizer_scores_other_scripts() -> None:
    """With tokenizer="unicode" CJK texts get a real score instead of 0."""
    assert rouge_l("写一首诗", "写一首歌") == 0.0
    assert rouge_l("写一首诗", "写一首歌", tokenizer="unicode") == 0.75
