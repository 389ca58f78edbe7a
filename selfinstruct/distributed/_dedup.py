"""``dedup_file_ray``: the exact keep-first file dedup as a similarity join on a Ray cluster.

Stages (each a wave of Ray tasks; the driver holds one byte per row and the rejects' ids, never
the texts):

1. **read**: the input and each ``--against`` file are cut into line-aligned byte ranges; a task
   counts each range's newlines (so every range knows its first line number), then a task reads each
   range into a block of texts that stays in the object store.
2. **join**: for input blocks ``a <= b`` a task finds every duplicate pair inside ``b`` (``a == b``)
   or between ``a`` and ``b``, and for each pool block ``p`` every pair between ``p`` and ``b``,
   with ``selfinstruct.dedup.similar_pairs`` (the exact index and kernels of the local command).
   Pool blocks and self-joins start at once; ``a < b`` starts once ``a`` is resolved, with only
   ``a``'s kept rows: a rejected row rejects nothing, and near-duplicate groups of k rows would
   otherwise give k (k - 1) / 2 pairs.
3. **resolve**: as soon as every task ending in block ``b`` is done, the driver decides ``b``'s rows in
   order over those pairs (``_keep_first.resolve``), which is linear in the pairs.
4. **write**: a task per range re-reads it and renders its kept records and rejects; the driver
   appends them to the outputs in input order (atomic writes, as the local command).

The answer depends only on the pairs, and the pairs only on the texts, so the kept lines and
rejects are the local command's, byte for byte, whatever the number of blocks or workers. Tasks
are retried by Ray when a worker dies; lost blocks are rebuilt from their lineage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ConfigError, InputError
from ..jsonl import atomic_write, check_input_file
from ..parquet_input import is_parquet, parquet_row_groups, parquet_rows
from ._keep_first import Rejected, resolve
from ._ranges import BlockMeta, Range, align, file_size
from ._session import ray_session
from ._tasks import JoinOptions, JoinStats, count_task, join_task, read_task, render_task

__all__ = ["RayDedupProgress", "RayDedupResult", "dedup_file_ray"]

_MIN_BLOCK_BYTES = 1 << 20  # below this a block's fixed costs outweigh what splitting gains
_TARGET_BLOCK_BYTES = 8 << 20  # ~60k instruction-sized lines: a 1M-line file is 18 blocks
_RETRIES = 5
STAGES = ("read", "join", "resolve", "write")


@dataclass(frozen=True)
class RayDedupProgress:
    """Where a distributed dedup is, passed to the ``progress`` callback after every step.

    Attributes:
        stage: "read", "join" (joins running; blocks are resolved and written as they complete) or
            "write" (joins done, the last outputs being written).
        done, total: tasks of this stage finished and planned.
        rows: rows read (read stage) or rows whose pairs are all known (later stages).
        pairs: duplicate pairs found so far.
    """

    stage: str
    done: int
    total: int
    rows: int
    pairs: int


@dataclass(frozen=True)
class RayDedupResult:
    """What ``dedup_file_ray`` did, with the figures a scaling model needs.

    Attributes:
        read, kept, rejected, pooled, invalid: rows as the local command counts them.
        invalid_examples: the first few skipped lines, located.
        seconds: wall time, connecting to Ray included; ``stage_seconds`` splits it: "connect",
            "read" (until every block is read), "join" (then until the last join task is done, with
            resolving and writing overlapped), "write" (the rest), and "resolve", the driver's time
            in the keep-first pass (part of the join and write wall times).
        pairs: duplicate pairs found by the join.
        blocks, pool_blocks: input and ``against`` blocks; ``cpus`` the cluster's CPUs.
        joins: every join task's measured rows, pairs and seconds.
        bytes_shuffled: bytes passed between tasks and the driver through the object store (block
            texts into join tasks, pairs out, kept masks and rendered lines), as counted by the driver.
    """

    read: int
    kept: int
    rejected: int
    pooled: int
    invalid: int
    invalid_examples: tuple[str, ...]
    seconds: float
    stage_seconds: dict[str, float]
    pairs: int
    blocks: int
    pool_blocks: int
    cpus: int
    joins: tuple[JoinStats, ...] = field(repr=False)
    bytes_shuffled: int


@dataclass
class _Source:
    """One block being read or already read."""

    span: Range
    path: str  # as the user named the file (for rejects' nearest_file)
    tokens: Any = None  # ObjectRef of the TokenBlock (what joins read)
    block: Any = None  # ObjectRef of the Block (texts and lines: what rejects' nearest records need)
    meta: BlockMeta | None = None
    offset: int = 0  # global id of the block's first row


def _default_blocks(cpus: int, size: int) -> int:
    # At least sqrt(2 * cpus) blocks, so the joins that start at once (each block with itself)
    # keep every CPU busy; and blocks of at most _TARGET_BLOCK_BYTES: a self-join finds every
    # pair inside its block (near-duplicate groups of k rows give k (k - 1) / 2), while joins
    # across blocks only read the kept rows of the earlier one.
    wanted = max(1, round(math.sqrt(2 * cpus)), math.ceil(size / _TARGET_BLOCK_BYTES))
    return max(1, min(wanted, math.ceil(size / _MIN_BLOCK_BYTES)))


def _cut(path: Path, pieces: int) -> list[tuple[int, int]]:
    size = file_size(path)
    if size == 0:
        return []
    starts = sorted({align(path, size * k // pieces, size) for k in range(pieces)} | {0})
    bounds = [*starts, size]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def dedup_file_ray(
    input: str | Path,
    output: str | Path,
    *,
    field: str = "instruction",
    threshold: float = 0.7,
    against: Sequence[str | Path] = (),
    rejects: str | Path | None = None,
    tokenizer: str = "rouge",
    stemmer: bool = False,
    rule: str = "paper",
    skip_invalid: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    blocks: int | None = None,
    progress: Callable[[RayDedupProgress], None] | None = None,
) -> RayDedupResult:
    """Deduplicate a JSONL (or Parquet) file on Ray: the same kept lines and rejects as the local command.

    Args:
        input, output: records in, kept records out as JSONL (written atomically, in input order).
            The input and ``against`` files may be Parquet (rows read in the tasks, numbered from 1
            as lines; see ``selfinstruct.parquet_input``; pyarrow needed on every node).
        field, threshold, against, rejects, tokenizer, stemmer, rule, skip_invalid: as for the local
            ``selfinstruct dedup`` (``against`` files are pools whose near-duplicates are rejected).
        address: a Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); default
            ``RAY_ADDRESS``, else a private Ray on this machine (loopback only, no dashboard). An
            already initialised Ray is used as it is. Every node needs ``selfinstruct[ray]`` installed
            and the files at the same paths.
        num_cpus: CPUs of the private Ray (default: all of this machine's).
        blocks: input blocks (default: about ``sqrt(2 * cluster CPUs)``, more for files over 256 MB
            per block, fewer for small files); the answer is the same for any value.
        progress: called with a ``RayDedupProgress`` after each finished task.

    Raises:
        InputError: a missing file, or a bad line (the first one, in reading order) unless
            ``skip_invalid``.
        ConfigError: a bad setting, or Ray not installed.
    """
    from ..dedup import IndexConfig
    from ..dedup._tokenize import get_tokenizer

    started = time.perf_counter()
    IndexConfig(threshold=threshold, tokenizer=tokenizer, use_stemmer=stemmer, rule=rule)
    get_tokenizer(tokenizer, use_stemmer=stemmer)  # fails now, not in a worker, when nltk is missing
    if blocks is not None and blocks < 1:
        raise ConfigError(f"blocks must be >= 1, got {blocks}")
    input_path = Path(input)
    pool_paths = [Path(p) for p in against]
    for path in [*pool_paths, input_path]:
        check_input_file(path, empty_ok=True)
    options = JoinOptions(threshold=threshold, rule=rule, tokenizer=tokenizer, stemmer=stemmer)
    stage_seconds = dict.fromkeys(("connect", *STAGES), 0.0)

    def report(stage: str, done: int, total: int, rows: int, pairs: int) -> None:
        if progress is not None:
            progress(RayDedupProgress(stage=stage, done=done, total=total, rows=rows, pairs=pairs))

    with ray_session(address, num_cpus=num_cpus) as ray:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        stage_seconds["connect"] = time.perf_counter() - started
        mark = time.perf_counter()
        remote = _Remote(ray)

        input_size = file_size(input_path)
        pieces = blocks if blocks is not None else _default_blocks(cpus, input_size)
        piece_bytes = max(_MIN_BLOCK_BYTES if blocks is None else 1, math.ceil(input_size / pieces))
        pool = [
            src
            for path in pool_paths
            for src in _plan(remote, path, max(1, math.ceil(file_size(path) / piece_bytes)))
        ]
        sources = _plan(remote, input_path, pieces)
        everything = [*pool, *sources]
        for src in everything:
            src.tokens, src.block, meta_ref = remote.read.remote(src.span, field, skip_invalid, options)
            src.meta = meta_ref  # resolved below, in order
        rows_read = 0
        for done, src in enumerate(everything, start=1):
            src.meta = ray.get(src.meta)
            assert src.meta is not None
            rows_read += src.meta.rows
            report("read", done, len(everything), rows_read, 0)
        _raise_first_error(everything)
        offset = 0
        for src in everything:
            src.offset = offset
            offset += _meta(src).rows
        total_rows = offset
        pooled = sum(_meta(src).rows for src in pool)
        read = total_rows - pooled
        invalid = sum(_meta(src).invalid for src in everything)
        examples = tuple(e for src in everything for e in _meta(src).examples)[:5]
        stage_seconds["read"] = time.perf_counter() - mark
        mark = time.perf_counter()

        # Join: tasks grouped by the input block their pairs end in. Pool blocks and each block with
        # itself are joined at once; an earlier input block a with a later b only once a is resolved,
        # and then only a's kept rows (rejected rows never reject), which removes most pairs.
        block_bytes = [_meta(src).block_bytes for src in everything]
        first_input = len(pool)
        by_block: list[list[Any]] = [[] for _ in sources]
        remaining: dict[int, int] = {}
        stats_refs: dict[Any, int] = {}
        shuffled = 0

        def submit(k: int, b: int, left_rows: np.ndarray | None) -> None:
            nonlocal shuffled
            left, right = everything[k], everything[b]
            other = None if k == b else right.tokens
            pairs_ref, stats_ref = remote.join.remote(
                left.tokens, left.offset, k, other, right.offset, b, options, left_rows
            )
            by_block[b - first_input].append((pairs_ref, stats_ref))
            stats_refs[stats_ref] = b - first_input
            pending.append(stats_ref)
            shuffled += block_bytes[k] + (0 if k == b else block_bytes[b])
            shuffled += 0 if left_rows is None else left_rows.nbytes

        pending: list[Any] = []
        for b, right in enumerate(sources, start=first_input):
            lefts = [k for k in range(b + 1) if _meta(everything[k]).rows] if _meta(right).rows else []
            remaining[b - first_input] = len(lefts)
            for k in lefts:
                if k < first_input or k == b:
                    submit(k, b, None)
        joins_total = sum(remaining.values())
        joins: list[JoinStats] = []
        kept = bytearray(b"\x01") * total_rows
        pairs_found = 0
        rows_joined = 0
        resolve_seconds = 0.0
        renders: list[Any] = []
        paths = [src.path for src in everything]
        kept_count = rejected_count = 0

        with ExitStack() as stack:
            out: IO[bytes] = stack.enter_context(atomic_write(output))
            rej: IO[bytes] | None = None
            if rejects is not None:
                rej = stack.enter_context(atomic_write(rejects))
            written = 0
            while written < len(sources):
                # Resolve every block whose joins are all done, in input order.
                while len(renders) < len(sources) and remaining[len(renders)] == 0:
                    b = len(renders)
                    tick = time.perf_counter()
                    src = sources[b]
                    found = ray.get([pairs_ref for pairs_ref, _ in by_block[b]])
                    rejected = _resolve_block(kept, found)
                    shuffled += sum(arr.nbytes for triple in found for arr in triple)
                    resolve_seconds += time.perf_counter() - tick
                    rows = _meta(src).rows
                    rows_joined += rows
                    mask = np.frombuffer(bytes(kept[src.offset : src.offset + rows]), dtype=np.uint8)
                    kept_count += int(mask.sum())
                    rejected_count += rows - int(mask.sum())
                    renders.append(
                        _render(remote, src, field, mask, rejected, everything, paths, rej is not None)
                    )
                    shuffled += mask.nbytes + rejected.rows.nbytes * 4
                    by_block[b] = []
                    kept_rows = np.flatnonzero(mask).astype(np.int64)
                    for later in range(b + 1, len(sources)):
                        if not _meta(sources[later]).rows:
                            continue
                        if len(kept_rows):
                            submit(first_input + b, first_input + later, kept_rows)
                        else:  # nothing kept here: no pair can end in a later block
                            remaining[later] -= 1
                            joins_total -= 1
                # Then wait for the next join to finish or the next block's lines to be ready.
                waitables = [*pending, *([renders[written]] if written < len(renders) else [])]
                ready, _ = ray.wait(waitables, num_returns=1)
                for ref in ready:
                    if ref in stats_refs:
                        pending.remove(ref)
                        stats = ray.get(ref)
                        joins.append(stats)
                        pairs_found += stats.pairs
                        remaining[stats_refs[ref]] -= 1
                        report("join", len(joins), joins_total, rows_joined, pairs_found)
                        if len(joins) == joins_total:
                            stage_seconds["join"] = time.perf_counter() - mark
                            mark = time.perf_counter()
                        continue
                    kept_lines, reject_lines = ray.get(ref)
                    renders[written] = None
                    shuffled += len(kept_lines) + len(reject_lines)
                    out.write(kept_lines)
                    if rej is not None:
                        rej.write(reject_lines)
                    written += 1
                    stage = "join" if len(joins) < joins_total else "write"
                    report(stage, written, len(sources), rows_joined, pairs_found)
        stage_seconds["write"] = time.perf_counter() - mark
        stage_seconds["resolve"] = resolve_seconds
    seconds = time.perf_counter() - started
    return RayDedupResult(
        read=read,
        kept=kept_count,
        rejected=rejected_count,
        pooled=pooled,
        invalid=invalid,
        invalid_examples=examples,
        seconds=seconds,
        stage_seconds=stage_seconds,
        pairs=pairs_found,
        blocks=len(sources),
        pool_blocks=len(pool),
        cpus=cpus,
        joins=tuple(joins),
        bytes_shuffled=shuffled,
    )


class _Remote:
    """The task functions wrapped for Ray (retried when a worker dies, not on an error of ours)."""

    def __init__(self, ray: Any) -> None:
        self.ray = ray
        self.count = ray.remote(max_retries=_RETRIES)(count_task)
        self.read = ray.remote(num_returns=3, max_retries=_RETRIES)(read_task)
        self.join = ray.remote(num_returns=2, max_retries=_RETRIES)(join_task)
        self.render = ray.remote(max_retries=_RETRIES)(render_task)


def _meta(src: _Source) -> BlockMeta:
    assert isinstance(src.meta, BlockMeta)
    return src.meta


def _plan(remote: _Remote, path: Path, pieces: int) -> list[_Source]:
    """Line-aligned ranges of ``path``, numbered by counting the newlines before each (in tasks).

    A Parquet file is cut into row ranges instead, at row-group starts when it has enough groups.
    """
    if is_parquet(path):
        rows = parquet_rows(path)
        groups = parquet_row_groups(path)
        wanted = {rows * k // pieces for k in range(pieces)}
        if len(groups) >= pieces:  # each range reads only its own row groups
            wanted = {max(g for g in groups if g <= cut) for cut in wanted}
        bounds = [*sorted(wanted | {0}), rows]
        return [
            _Source(span=Range(str(path), a, b, a + 1, parquet=True), path=str(path))
            for a, b in zip(bounds, bounds[1:], strict=False)
            if b > a
        ]
    cuts = _cut(path, pieces)
    counts = remote.ray.get([remote.count.remote(str(path), a, b) for a, b in cuts])
    sources = []
    first_line = 1
    for (a, b), newlines in zip(cuts, counts, strict=True):
        sources.append(_Source(span=Range(str(path), a, b, first_line), path=str(path)))
        first_line += newlines
    return sources


def _raise_first_error(sources: Iterable[_Source]) -> None:
    for src in sources:
        meta = _meta(src)
        if meta.error is not None:
            message, line = meta.error
            raise InputError(message, path=src.path, line=line)


def _resolve_block(kept: bytearray, found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Rejected:
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return Rejected(empty, empty, np.zeros(0, dtype=np.float64))
    lefts = np.concatenate([f[0] for f in found])
    rights = np.concatenate([f[1] for f in found])
    scores = np.concatenate([f[2] for f in found])
    return resolve(kept, lefts, rights, scores)


def _render(
    remote: _Remote,
    src: _Source,
    field_name: str,
    mask: np.ndarray,
    rejected: Rejected,
    everything: list[_Source],
    paths: list[str],
    want_rejects: bool,
) -> Any:
    """Submit the task writing one block's lines; it fetches the blocks its rejects' nearest rows are in."""
    offsets = np.asarray([s.offset for s in everything], dtype=np.int64)
    which = np.searchsorted(offsets, rejected.nearest, side="right") - 1
    # Blocks with no rows share their offset with the next one; searchsorted lands on the last of them,
    # which is the one holding the row.
    needed = sorted(set(which.tolist())) if want_rejects else []
    slot = {k: n for n, k in enumerate(needed)}
    nearest_source = np.asarray([slot[k] for k in which.tolist()], dtype=np.int64) if needed else which
    nearest_row = rejected.nearest - offsets[which] if len(which) else rejected.nearest
    return remote.render.remote(
        src.span,
        field_name,
        mask,
        rejected.rows - src.offset,
        nearest_source,
        nearest_row,
        rejected.score,
        [everything[k].block for k in needed],
        [paths[k] for k in needed],
        want_rejects,
    )
