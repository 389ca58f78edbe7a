"""Tokenizers: ``rouge`` (identical to rouge-score's default tokenizer) and ``unicode``.

The ``rouge`` tokenizer reproduces these facts about rouge-score 0.1.2:

* the text is lower-cased with ``str.lower`` (so U+0130 gives ``i`` + a combining dot and U+212A
  gives ``k``: both survive as ASCII letters);
* every run of characters outside ``[a-z0-9]`` separates tokens (``don't`` -> ``don``, ``t``; any other
  script vanishes);
* with the Porter stemmer only tokens longer than 3 characters are stemmed, and tokens that are not
  ``[a-z0-9]+`` after stemming are dropped.

The ``unicode`` tokenizer keeps letters and digits of every script (NFKC-normalised, lower-cased),
splits Han, Hiragana, Katakana and other scripts written without spaces into one token per
character, and stems (if asked) only ASCII tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from ..errors import ConfigError

__all__ = ["TOKENIZERS", "get_tokenizer", "tokenize"]

TOKENIZERS = ("rouge", "unicode")

_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")
_ASCII_TOKEN = re.compile(r"[a-z0-9]+\Z")

# Scripts written without spaces between words: one token per character.
_PER_CHAR_RANGES = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u3040-\u309f"  # Hiragana
    "\u30a0-\u30ff"  # Katakana
    "\u3100-\u312f"  # Bopomofo
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uff9f"  # half-width Katakana
    "\U00020000-\U0003134f"  # CJK extensions B-G
)
_UNICODE_TOKEN = re.compile(rf"[{_PER_CHAR_RANGES}]|[^\W_{_PER_CHAR_RANGES}]+")


@lru_cache(maxsize=1)
def _porter() -> Callable[[str], str]:
    try:
        from nltk.stem import porter
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "use_stemmer=True needs nltk: pip install 'selfinstruct[stem]' (or pip install nltk)"
        ) from error
    stemmer = porter.PorterStemmer()
    # Stemming is the slow part of tokenizing; tokens repeat a lot, so remember them.
    return lru_cache(maxsize=1 << 18)(stemmer.stem)


def _rouge_tokens(text: str) -> list[str]:
    return _ROUGE_TOKEN.findall(text.lower())


def _rouge_tokens_stemmed(text: str) -> list[str]:
    stem = _porter()
    tokens = [stem(token) if len(token) > 3 else token for token in _ROUGE_TOKEN.findall(text.lower())]
    return [token for token in tokens if _VALID_TOKEN.match(token)]


def _unicode_tokens(text: str) -> list[str]:
    return _UNICODE_TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


def _unicode_tokens_stemmed(text: str) -> list[str]:
    stem = _porter()
    return [
        stem(token) if len(token) > 3 and _ASCII_TOKEN.match(token) else token
        for token in _unicode_tokens(text)
    ]


def get_tokenizer(tokenizer: str = "rouge", *, use_stemmer: bool = False) -> Callable[[str], list[str]]:
    """Return the tokenize function for a tokenizer name.

    Raises:
        ConfigError: unknown tokenizer name, or ``use_stemmer`` without nltk installed.
    """
    if tokenizer == "rouge":
        if use_stemmer:
            _porter()
            return _rouge_tokens_stemmed
        return _rouge_tokens
    if tokenizer == "unicode":
        if use_stemmer:
            _porter()
            return _unicode_tokens_stemmed
        return _unicode_tokens
    raise ConfigError(f"unknown tokenizer {tokenizer!r}: use one of {', '.join(TOKENIZERS)}")


def tokenize(text: str, *, tokenizer: str = "rouge", use_stemmer: bool = False) -> list[str]:
    """Split ``text`` into the tokens ROUGE-L is computed over.

    With ``tokenizer="rouge"`` the result equals rouge-score's ``DefaultTokenizer(use_stemmer)``.
    """
    return get_tokenizer(tokenizer, use_stemmer=use_stemmer)(text)
