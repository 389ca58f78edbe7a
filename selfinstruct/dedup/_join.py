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

__all__ = ["default_workers", "similar_pairs", "token_rank"]

RULES = ("paper", "original")


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


def run_chunks(
    total: int, workers: int, job: Callable[[int, int, dict[str, Any]], Any], *, min_chunk: int = 64
) -> list[Any]:
    """Run ``job(lo, hi, scratch)`` over [0, total) in chunks on ``workers`` threads, results in order.

    ``scratch`` is a dict private to the calling thread (for per-thread arrays).
    """
    if workers <= 1 or total < 2 * min_chunk:
        return [job(0, total, {})]
    size = max(min_chunk, -(-total // (workers * 8)))
    bounds = [(lo, min(total, lo + size)) for lo in range(0, total, size)]
    local = threading.local()

    def run(bound: tuple[int, int]) -> Any:
        if not hasattr(local, "scratch"):
            local.scratch = {}
        return job(bound[0], bound[1], local.scratch)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, bounds))


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
    base = blocks[0]
    if len(blocks) == 1:
        vocab, query_tokens = base.vocab, base.tokens
        query_offsets = base.offsets
    else:
        vocab, query_tokens = align(base, blocks[1])
        query_offsets = blocks[1].offsets
    prefix = get_prefix(backend)
    n_vocab = len(vocab)
    every_token = np.concatenate([base.tokens, query_tokens]) if len(blocks) == 2 else base.tokens
    rank = token_rank(every_token, n_vocab)
    p_off, p_row, p_len, p_pos = prefix.build_postings(
        base.tokens, base.offsets, rank, float(threshold), 0, len(base)
    )
    strict = rule == "original"
    self_join = len(blocks) == 1
    n_queries = int(query_offsets.shape[0]) - 1
    plain = prefix.__name__.endswith("_py") or backend == "python"
    threads = 1 if plain else (workers or default_workers())

    def job(lo: int, hi: int, scratch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if "slot" not in scratch:
            scratch["slot"] = np.full(max(n_vocab, 1), -1, dtype=np.int32)
        state = np.zeros(max(len(base), 1), dtype=np.int64)
        return prefix.pair_join(
            query_tokens,
            query_offsets,
            lo,
            hi,
            base.tokens,
            base.offsets,
            rank,
            float(threshold),
            strict,
            self_join,
            p_off,
            p_row,
            p_len,
            p_pos,
            state,
            scratch["slot"],
        )

    pairs: list[tuple[int, int, float]] = []
    for out_i, out_j, out_f in run_chunks(n_queries, threads, job):
        pairs.extend(zip(out_i.tolist(), out_j.tolist(), out_f.tolist(), strict=True))
    return pairs
