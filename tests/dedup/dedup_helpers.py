"""Shared pieces for the dedup tests: the rouge-score oracle and text strategies."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from selfinstruct.dedup import _kernels, _kernels_py

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

ORACLE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
ORACLE_STEM = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

# Words chosen to exercise the tokenizer: punctuation, case, digits, U+0130 and U+212A (which
# lower-case into ASCII), other scripts (which vanish under the rouge tokenizer), stemmable forms.
WORDS = [
    "the",
    "The",
    "cat",
    "cats",
    "running",
    "runs",
    "ran",
    "a",
    "an",
    "of",
    "write",
    "Write",
    "poem",
    "poems",
    "don't",
    "it's",
    "e-mail",
    "3.14",
    "x1",
    "42",
    "İstanbul",
    "\u212aelvin",
    "über",
    "naïve",
    "東京",
    "日本語",
    "Привет",
    "!!",
    "...",
    "—",
    "(a)",
    "ｆｕｌｌ",
    "generously",
    "\t",
    "\n",
    "",
    "ΣΊΣΥΦΟΣ",
]
texts = st.lists(st.sampled_from(WORDS), max_size=25).map(" ".join)
small_vocab_texts = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "A.", "b!"]), max_size=12).map(
    " ".join
)
any_texts = st.one_of(texts, st.text(max_size=60), small_vocab_texts)

BACKENDS = [
    pytest.param(_kernels, id="numba"),
    pytest.param(_kernels_py, id="python"),
]


def oracle_f(a: str, b: str, *, stem: bool = False) -> float:
    """rouge-score's rougeL F-measure (target=a, prediction=b)."""
    return (ORACLE_STEM if stem else ORACLE).score(a, b)["rougeL"].fmeasure


def brute_force(pool: list[str], text: str, *, stem: bool = False) -> tuple[float, int | None]:
    """Exact max rouge-score F over the pool and the lowest id reaching it (None if 0)."""
    best, best_id = 0.0, None
    for i, item in enumerate(pool):
        f = oracle_f(item, text, stem=stem)
        if f > best:
            best, best_id = f, i
    return best, best_id
