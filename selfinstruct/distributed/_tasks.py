"""The work done inside Ray workers: count, read, join and render one block.

These are plain functions (the orchestrator wraps them with ``ray.remote``), so they can be read,
typed and unit-tested without a cluster. A worker process runs many tasks, so the Numba kernels
load once per worker process, not once per task.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import numpy as np

from ..dedup import TokenBlock, similar_pairs, tokenize_block
from ..jsonl import dumps_line
from ._ranges import Block, BlockMeta, Range, count_newlines, iter_range, read_block, text_of

__all__ = [
    "JoinOptions",
    "JoinStats",
    "Pairs",
    "count_task",
    "join_task",
    "read_task",
    "render_task",
    "subset",
]

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # left ids (int64), right ids (int64), scores (float64)


@dataclass(frozen=True)
class JoinOptions:
    """How pairs are judged: the settings of the local command."""

    threshold: float
    rule: str
    tokenizer: str
    stemmer: bool


@dataclass(frozen=True)
class JoinStats:
    """One join task, as measured inside the worker (the input of the cost model)."""

    left_block: int
    right_block: int
    left_rows: int
    right_rows: int
    pairs: int
    seconds: float
    pid: int

    @property
    def self_join(self) -> bool:
        return self.left_block == self.right_block


def count_task(path: str, start: int, end: int) -> int:
    """Newlines in one byte range (to number the lines of the ranges after it)."""
    return count_newlines(path, start, end)


def read_task(
    span: Range, field_name: str, skip_invalid: bool, options: JoinOptions
) -> tuple[TokenBlock, Block, BlockMeta]:
    """Read one range: its token ids (tokenized once, for every join), its texts and line numbers
    (for the rejects' nearest records) and its small metadata (the only part the driver fetches).
    """
    block, meta = read_block(span, field_name, skip_invalid)
    tokens = tokenize_block(block.texts, tokenizer=options.tokenizer, stemmer=options.stemmer)
    meta.block_bytes = tokens.tokens.nbytes + tokens.offsets.nbytes + sum(map(len, tokens.vocab))
    return tokens, block, meta


def join_task(
    left: TokenBlock,
    left_offset: int,
    left_block: int,
    right: TokenBlock | None,
    right_offset: int,
    right_block: int,
    options: JoinOptions,
    left_rows: np.ndarray | None = None,
) -> tuple[Pairs, JoinStats]:
    """Every duplicate pair inside ``left`` (no ``right``) or across the two, in global row ids.

    With ``left_rows`` (ascending row indices of ``left``: its kept rows, once decided), only those
    rows of ``left`` are joined: a rejected row never rejects a later one, so no answer changes.
    """
    started = time.perf_counter()
    if left_rows is not None:
        left = subset(left, left_rows)
    # One thread: Ray runs one task per CPU, so the cores are already shared out.
    found = similar_pairs(
        left,
        right,
        threshold=options.threshold,
        rule=options.rule,
        tokenizer=options.tokenizer,
        stemmer=options.stemmer,
        workers=1,
    )
    count = len(found)
    if count:
        table = np.asarray(found, dtype=np.float64)
        lefts = table[:, 0].astype(np.int64)
        lefts = (lefts if left_rows is None else left_rows[lefts]) + left_offset
        rights = table[:, 1].astype(np.int64) + (left_offset if right is None else right_offset)
        scores = np.ascontiguousarray(table[:, 2])
    else:
        lefts = np.zeros(0, dtype=np.int64)
        rights = np.zeros(0, dtype=np.int64)
        scores = np.zeros(0, dtype=np.float64)
    stats = JoinStats(
        left_block=left_block,
        right_block=right_block,
        left_rows=len(left),
        right_rows=len(left) if right is None else len(right),
        pairs=count,
        seconds=time.perf_counter() - started,
        pid=os.getpid(),
    )
    return (lefts, rights, scores), stats


def subset(block: TokenBlock, rows: np.ndarray) -> TokenBlock:
    """The rows ``rows`` (ascending indices) of ``block``, as a block of their own (same vocabulary)."""
    offsets = block.offsets
    lengths = offsets[rows + 1] - offsets[rows]
    bounds = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    # Position p of the new tokens comes from p + (old start - new start) of its row.
    shift = np.repeat(offsets[rows] - bounds[:-1], lengths)
    tokens = block.tokens[np.arange(bounds[-1], dtype=np.int64) + shift]
    return replace(block, tokens=tokens, offsets=bounds)


def render_task(
    span: Range,
    field_name: str,
    kept: np.ndarray,
    rejected: np.ndarray,
    nearest_source: np.ndarray,
    nearest_row: np.ndarray,
    scores: np.ndarray,
    source_paths: list[str],
    want_rejects: bool,
    *blocks: Block,
) -> tuple[bytes, bytes]:
    """The output lines of one range: kept records, and reject records if asked.

    Args:
        kept: one byte per valid row of the range (1 = kept).
        rejected: the block rows rejected, ascending; ``nearest_source[k]``/``nearest_row[k]`` name the
            block (an index into ``sources``) and row of the nearest kept record, ``scores[k]`` its score.
        source_paths: the file each of ``blocks`` came from, as the user named it.
        blocks: the blocks holding the nearest records. The driver passes their object refs as
            top-level arguments, so Ray fetches them (and rebuilds one lost with its node) before the
            task runs; a ref nested in a list would be fetched inside the task instead.
    """
    out: list[bytes] = []
    rejects: list[bytes] = []
    rejected_rows = rejected.tolist()
    cursor = 0
    row = -1
    for number, record, problem in iter_range(span):
        if problem is not None or text_of(record, field_name)[0] is None:
            continue  # skipped (the driver has already failed the job when invalid lines are errors)
        row += 1
        if kept[row]:
            out.append(dumps_line(record))
            continue
        if not want_rejects:
            continue
        assert rejected_rows[cursor] == row, "a dropped row must be among the rejects"
        source = int(nearest_source[cursor])
        near = int(nearest_row[cursor])
        block = blocks[source]
        rejects.append(
            dumps_line(
                {
                    "line": number,
                    "score": float(scores[cursor]),
                    "nearest": block.texts[near],
                    "nearest_file": source_paths[source],
                    "nearest_line": int(block.lines[near]),
                    "record": record,
                }
            )
        )
        cursor += 1
    return b"".join(out), b"".join(rejects)
