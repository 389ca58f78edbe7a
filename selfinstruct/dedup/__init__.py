"""Exact, fast ROUGE-L novelty filtering (the SELF-INSTRUCT dedup step).

    >>> from selfinstruct.dedup import NoveltyIndex, rouge_l
    >>> index = NoveltyIndex(threshold=0.7)
    >>> index.add_if_novel("Write a poem about the sea.").novel
    True
    >>> index.add_if_novel("Write a poem about the sea!").novel
    False
    >>> rouge_l("the cat sat", "the cat sat down")
    0.8571428571428571

``rouge_l`` equals rouge-score's rougeL F-measure bit for bit; ``NoveltyIndex`` makes the same
decisions as scoring a candidate against every pool item with rouge-score, without doing so.
``similar_pairs(left, right=None)`` lists every pair the keep-first rule treats as duplicates
(an exact prefix-filter join, all cores); ``tokenize_block`` tokenizes texts once for it.
``dedup_file(input, output)`` is the exact keep-first dedup of a JSONL file (all cores, same
output for any number), the library side of ``selfinstruct dedup``.
``kernel_name()`` names the LCS implementation in use ("numba", or "python" for the plain twin);
the compiled kernels load on first use.
"""

from ._backend import kernel_name
from ._blocks import TokenBlock, tokenize_block
from ._file import DedupSummary, ProgressCallback, dedup_file
from ._index import IndexConfig, IndexStatistics, Match, NoveltyIndex
from ._join import default_workers, similar_pairs
from ._score import lcs_tokens, rouge_l, rouge_l_tokens
from ._tokenize import TOKENIZERS, tokenize

__all__ = [
    "DedupSummary",
    "ProgressCallback",
    "TOKENIZERS",
    "IndexConfig",
    "IndexStatistics",
    "Match",
    "NoveltyIndex",
    "TokenBlock",
    "dedup_file",
    "default_workers",
    "lcs_tokens",
    "rouge_l",
    "kernel_name",
    "rouge_l_tokens",
    "similar_pairs",
    "tokenize",
    "tokenize_block",
]
