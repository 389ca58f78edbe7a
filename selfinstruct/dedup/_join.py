"""``similar_pairs``: every pair of texts the keep-first rule treats as duplicates, exactly.

The pairs come from the prefix-filter join in ``_prefix`` (candidates through the rarest tokens of
each text, pruned by length and position bounds, verified with the LCS kernel), run on all cores:
query rows are split into chunks, each checked on its own thread against the same read-only
postings (the compiled kernels release the GIL), and the chunks' pairs concatenated in order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import ConfigError
from ._backend import get_prefix
from ._blocks import TokenBlock, _as_block, align
from ._tokenize import TOKENIZERS

__all__ = ["Workers", "default_workers", "similar_pairs", "token_rank", "validate"]

RULES = ("paper", "original")
# The LCS bit masks of one text take (distinct tokens) x (length / 64) words; above this many
# bytes a text is compared only with identical texts (longer near-duplicates are an error).
MASK_BUDGET = 64 << 20


def too_long_message(row: int, offsets: np.ndarray) -> str:
    """Why row ``row`` could not be compared exactly (its bit masks exceed ``MASK_BUDGET``)."""
    length = int(offsets[row + 1] - offsets[row])
    return (
        f"text {row} has {length} tokens and a near-duplicate that is not identical; comparing "
        f"them exactly needs more than {MASK_BUDGET >> 20} MiB of LCS bit masks (split or drop it)"
    )


def default_workers() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def validate(threshold: float, rule: str, tokenizer: str) -> None:
    """Check the shared dedup settings.

    Raises:
        ConfigError: a setting out of range, with what to use instead.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold!r}")
    if rule not in RULES:
        raise ConfigError(
            "rule must be 'paper' (duplicate if a score >= threshold) or 'original' "
            f"(duplicate if a score > threshold), got {rule!r}"
        )
    if tokenizer not in TOKENIZERS:
        raise ConfigError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {tokenizer!r}")


def token_rank(tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """The global token order: rank 0 for the rarest token (fewest occurrences), ties by id."""
    counts = np.bincount(tokens, minlength=vocab_size)[:vocab_size] if tokens.size else np.zeros(vocab_size)
    order = np.lexsort((np.arange(vocab_size), counts))
    rank = np.empty(vocab_size, dtype=np.int32)
    rank[order] = np.arange(vocab_size, dtype=np.int32)
    return rank


class Workers:
    """A thread pool that runs chunked kernel calls, each thread with its own scratch dict.

    Use as a context manager; ``map_chunks`` may be called many times (threads and their scratch
    arrays are reused).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def _scratch(self) -> dict[str, Any]:
        if not hasattr(self._local, "scratch"):
            self._local.scratch = {}
        return self._local.scratch

    def map_chunks(
        self,
        lo: int,
        hi: int,
        job: Callable[[int, int, dict[str, Any]], Any],
        *,
        min_chunk: int = 64,
    ) -> list[Any]:
        """``job(a, b, scratch)`` over chunks of [lo, hi), results in chunk order."""
        total = hi - lo
        if self._pool is None or total < 2 * min_chunk:
            return [job(lo, hi, self._scratch())]
        size = max(min_chunk, -(-total // (self.workers * 8)))
        bounds = [(a, min(hi, a + size)) for a in range(lo, hi, size)]
        return list(self._pool.map(lambda bound: job(bound[0], bound[1], self._scratch()), bounds))


def similar_pairs(
    left: Sequence[str] | TokenBlock,
    right: Sequence[str] | TokenBlock | None = None,
    *,
    threshold: float = 0.7,
    rule: str = "paper",
    tokenizer: str = "rouge",
    stemmer: bool = False,
    workers: int | None = None,
    backend: str = "auto",
) -> list[tuple[int, int, float]]:
    """Every pair the keep-first rule treats as a duplicate, with its exact ROUGE-L F.

    With ``right=None``: all (i, j, F) with i < j indexing ``left``; otherwise all (i, j, F) with i
    indexing ``left`` and j indexing ``right``. A pair is a duplicate when F >= threshold
    (``rule="paper"``) or F > threshold (``rule="original"``); F equals rouge-score's rougeL
    F-measure bit for bit. Sorted by (j, i).

    Args:
        left, right: texts, or ``TokenBlock``s from ``tokenize_block`` (made with the same
            tokenizer settings) to skip tokenizing again.
        threshold, rule, tokenizer, stemmer: as for ``dedup_file`` and ``NoveltyIndex``.
        workers: threads (default: all cores); the result does not depend on it.
        backend: "auto" (Numba when available), "numba" or "python" (the plain twin).

    Raises:
        ConfigError: a setting out of range, or a block made with other tokenizer settings.
    """
    validate(threshold, rule, tokenizer)
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers!r}")
    blocks = [_as_block(texts, tokenizer, stemmer) for texts in (left, right) if texts is not None]
    for block in blocks:
        if (block.tokenizer, block.stemmer) != (tokenizer, stemmer):
            raise ConfigError(
                f"a TokenBlock made with tokenizer={block.tokenizer!r}, stemmer={block.stemmer} "
                f"cannot be joined with tokenizer={tokenizer!r}, stemmer={stemmer}"
            )
    prefix = get_prefix(backend)
    other = blocks[1] if len(blocks) == 2 else None
    join = _PairJoin(prefix, blocks[0], other, float(threshold), strict=rule == "original")
    plain = prefix.__name__.endswith("_py") or backend == "python"
    pairs: list[tuple[int, int, float]] = []
    with Workers(1 if plain else (workers or default_workers())) as pool:
        chunks = pool.map_chunks(0, join.queries, join.chunk)
    for out_i, out_j, out_f in chunks:
        pairs.extend(zip(out_i.tolist(), out_j.tolist(), out_f.tolist(), strict=True))
    return pairs


class _PairJoin:
    """The prefix-filter index of one block (``base``), and the join of query rows against it.

    The queries are ``base``'s own rows (a self-join) or the rows of ``other``; ``chunk`` joins a
    range of them and may run on several threads at once (the index is read-only).
    """

    def __init__(
        self, prefix: Any, base: TokenBlock, other: TokenBlock | None, threshold: float, *, strict: bool
    ) -> None:
        self.prefix, self.base, self.threshold, self.strict = prefix, base, threshold, strict
        self.self_join = other is None
        if other is None:
            vocab, self.query_tokens, self.query_offsets = base.vocab, base.tokens, base.offsets
            every_token = base.tokens
        else:
            vocab, self.query_tokens = align(base, other)
            self.query_offsets = other.offsets
            every_token = np.concatenate([base.tokens, self.query_tokens])
        self.vocab_size = len(vocab)
        self.queries = int(self.query_offsets.shape[0]) - 1
        self.rank = token_rank(every_token, self.vocab_size)
        self.wide = prefix.wide_signatures(base.tokens, base.offsets)
        self.postings = prefix.build_postings(
            base.tokens, base.offsets, self.rank, threshold, np.arange(len(base), dtype=np.int64)
        )

    def chunk(self, lo: int, hi: int, scratch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pairs of query rows [lo, hi): (base rows, query rows, scores), sorted by (query, base)."""
        if "slot" not in scratch:
            scratch["slot"] = np.full(max(self.vocab_size, 1), -1, dtype=np.int32)
        base = self.base
        state = np.zeros(max(len(base), 1), dtype=np.int64)
        error = np.full(1, -1, dtype=np.int64)
        found = self.prefix.pair_join(
            self.query_tokens,
            self.query_offsets,
            lo,
            hi,
            base.tokens,
            base.offsets,
            self.wide,
            self.rank,
            self.threshold,
            self.strict,
            self.self_join,
            *self.postings,
            state,
            scratch["slot"],
            MASK_BUDGET,
            error,
        )
        if error[0] >= 0:
            raise ConfigError(too_long_message(int(error[0]), self.query_offsets))
        return found
