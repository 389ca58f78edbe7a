"""The tokenizers against rouge-score's and on other scripts."""

from __future__ import annotations

import pytest
from dedup_helpers import any_texts
from hypothesis import given, settings
from rouge_score import tokenizers

from selfinstruct.dedup import tokenize
from selfinstruct.errors import ConfigError

_PLAIN = tokenizers.DefaultTokenizer(use_stemmer=False)
_STEM = tokenizers.DefaultTokenizer(use_stemmer=True)


@given(any_texts)
@settings(max_examples=300, deadline=None)
def test_rouge_tokenizer_matches_rouge_score(text: str) -> None:
    """tokenizer="rouge" gives exactly rouge-score's tokens."""
    assert tokenize(text) == _PLAIN.tokenize(text)


@given(any_texts)
@settings(max_examples=200, deadline=None)
def test_rouge_tokenizer_with_stemmer_matches_rouge_score(text: str) -> None:
    """use_stemmer=True gives exactly rouge-score's stemmed tokens (Porter, tokens longer than 3)."""
    assert tokenize(text, use_stemmer=True) == _STEM.tokenize(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Don't STOP", ["don", "t", "stop"], id="apostrophe-splits"),
        pytest.param("\u0130stanbul", ["i", "stanbul"], id="dotted-capital-i"),
        pytest.param("\u212aelvin", ["kelvin"], id="kelvin-sign"),
        pytest.param("東京 über", ["ber"], id="other-scripts-vanish"),
        pytest.param("", [], id="empty"),
    ],
)
def test_rouge_tokenizer_facts(text: str, expected: list[str]) -> None:
    """The documented rouge-score tokenizer facts hold."""
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("東京は晴れ", ["東", "京", "は", "晴", "れ"], id="japanese-per-char"),
        pytest.param("Привет, МИР!", ["привет", "мир"], id="cyrillic-words"),
        pytest.param("naïve café x_1", ["naïve", "café", "x", "1"], id="latin-diacritics"),
        pytest.param("ｆｕｌｌ２", ["full2"], id="nfkc-fullwidth"),
        pytest.param("한국어 문장", ["한국어", "문장"], id="hangul-words"),
        pytest.param("写一首诗 about cats", ["写", "一", "首", "诗", "about", "cats"], id="mixed"),
    ],
)
def test_unicode_tokenizer(text: str, expected: list[str]) -> None:
    """tokenizer="unicode" keeps every script and splits CJK per character."""
    assert tokenize(text, tokenizer="unicode") == expected


def test_unicode_tokenizer_stems_ascii_only() -> None:
    """The unicode tokenizer with a stemmer stems ASCII words longer than 3 and leaves others."""
    assert tokenize("Running über 東", tokenizer="unicode", use_stemmer=True) == ["run", "über", "東"]


def test_unknown_tokenizer_is_a_config_error() -> None:
    """An unknown tokenizer name is refused with the valid names."""
    with pytest.raises(ConfigError, match="rouge, unicode"):
        tokenize("x", tokenizer="whitespace")
