"""Exact ROUGE-L between two texts or two token lists, bit-identical to rouge-score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._backend import get_kernels
from ._tokenize import get_tokenizer

__all__ = ["lcs_tokens", "rouge_l", "rouge_l_tokens"]


def _ids(a: Sequence[str], b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    vocab: dict[str, int] = {}
    ids_a = np.fromiter((vocab.setdefault(t, len(vocab)) for t in a), dtype=np.int32, count=len(a))
    ids_b = np.fromiter((vocab.setdefault(t, len(vocab)) for t in b), dtype=np.int32, count=len(b))
    return ids_a, ids_b


def lcs_tokens(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    ids_a, ids_b = _ids(a, b)
    return int(get_kernels().lcs_length(ids_a, ids_b))


def rouge_l_tokens(a: Sequence[str], b: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists, computed exactly as rouge-score's ``_score_lcs``.

    ``a`` plays rouge-score's target and ``b`` its prediction; the F-measure is symmetric.
    """
    return float(get_kernels().fmeasure(lcs_tokens(a, b), len(a), len(b)))


def rouge_l(a: str, b: str, *, tokenizer: str = "rouge", use_stemmer: bool = False) -> float:
    """ROUGE-L F-measure of two texts.

    With the default ``tokenizer="rouge"`` this equals, bit for bit,
    ``RougeScorer(["rougeL"], use_stemmer=use_stemmer).score(a, b)["rougeL"].fmeasure``.

    Raises:
        ConfigError: unknown tokenizer, or ``use_stemmer`` without nltk installed.
    """
    tok = get_tokenizer(tokenizer, use_stemmer=use_stemmer)
    return rouge_l_tokens(tok(a), tok(b))
