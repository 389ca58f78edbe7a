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
   ``a``'s kept rows (a rejected row rejects nothing, and near-duplicate groups of k rows would
   otherwise give k (k - 1) / 2 pairs), or earlier with all of ``a``'s rows when CPUs are idle
   (``_schedule.JoinPlan`` decides which and when).
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
from ._schedule import Join, JoinPlan
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
        eager_joins: joins of two input blocks started with all the earlier block's rows, before it was
            resolved, because CPUs were idle (see ``_schedule.JoinPlan``).
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
    eager_joins: int
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
    started = time.perf_counter()
    options = JoinOptions(threshold=threshold, rule=rule, tokenizer=tokenizer, stemmer=stemmer)
    _check_options(options, blocks)
    input_path = Path(input)
    pool_paths = [Path(p) for p in against]
    for path in [*pool_paths, input_path]:
        check_input_file(path, empty_ok=True)
    stage_seconds = dict.fromkeys(("connect", *STAGES), 0.0)

    def report(stage: str, done: int, total: int, rows: int, pairs: int) -> None:
        if progress is not None:
            progress(RayDedupProgress(stage=stage, done=done, total=total, rows=rows, pairs=pairs))

    with ray_session(address, num_cpus=num_cpus) as ray:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        stage_seconds["connect"] = time.perf_counter() - started
        mark = time.perf_counter()
        remote = _Remote(ray)
        corpus = _read_all(remote, input_path, pool_paths, cpus, blocks, field, skip_invalid, options, report)
        stage_seconds["read"] = time.perf_counter() - mark
        driver = _Driver(remote, corpus, cpus, field, options, report)
        with ExitStack() as stack:
            out: IO[bytes] = stack.enter_context(atomic_write(output))
            rej = None if rejects is None else stack.enter_context(atomic_write(rejects))
            driver.run(out, rej)
        stage_seconds.update(driver.stage_seconds)
    return RayDedupResult(
        read=corpus.rows - corpus.pooled,
        kept=driver.kept_count,
        rejected=driver.rejected_count,
        pooled=corpus.pooled,
        invalid=sum(_meta(src).invalid for src in corpus.everything),
        invalid_examples=tuple(e for src in corpus.everything for e in _meta(src).examples)[:5],
        seconds=time.perf_counter() - started,
        stage_seconds=stage_seconds,
        pairs=driver.pairs_found,
        blocks=len(corpus.inputs),
        pool_blocks=corpus.first_input,
        cpus=cpus,
        joins=tuple(driver.joins),
        eager_joins=driver.eager_joins,
        bytes_shuffled=driver.shuffled,
    )


def _check_options(options: JoinOptions, blocks: int | None) -> None:
    """Raise ConfigError now, not in a worker, for a bad setting or a tokenizer that cannot load."""
    from ..dedup import IndexConfig
    from ..dedup._tokenize import get_tokenizer

    IndexConfig(
        threshold=options.threshold,
        tokenizer=options.tokenizer,
        use_stemmer=options.stemmer,
        rule=options.rule,
    )
    get_tokenizer(options.tokenizer, use_stemmer=options.stemmer)  # nltk missing for the stemmer
    if blocks is not None and blocks < 1:
        raise ConfigError(f"blocks must be >= 1, got {blocks}")


@dataclass
class _Corpus:
    """Every block read (pool blocks first), with global row offsets set."""

    everything: list[_Source]
    first_input: int  # pool blocks before the input's
    rows: int
    pooled: int

    @property
    def inputs(self) -> list[_Source]:
        return self.everything[self.first_input :]


def _read_all(
    remote: _Remote,
    input_path: Path,
    pool_paths: list[Path],
    cpus: int,
    blocks: int | None,
    field_name: str,
    skip_invalid: bool,
    options: JoinOptions,
    report: Callable[[str, int, int, int, int], None],
) -> _Corpus:
    """Cut the files into blocks, read them in tasks and number their rows (pool rows first)."""
    input_size = file_size(input_path)
    pieces = blocks if blocks is not None else _default_blocks(cpus, input_size)
    piece_bytes = max(_MIN_BLOCK_BYTES if blocks is None else 1, math.ceil(input_size / pieces))
    pool = [
        src
        for path in pool_paths
        for src in _plan(remote, path, max(1, math.ceil(file_size(path) / piece_bytes)))
    ]
    everything = [*pool, *_plan(remote, input_path, pieces)]
    metas = []
    for src in everything:
        src.tokens, src.block, meta_ref = remote.read.remote(src.span, field_name, skip_invalid, options)
        metas.append(meta_ref)
    rows_read = 0
    for done, (src, meta_ref) in enumerate(zip(everything, metas, strict=True), start=1):
        src.meta = remote.ray.get(meta_ref)
        rows_read += _meta(src).rows
        report("read", done, len(everything), rows_read, 0)
    _raise_first_error(everything)
    offset = 0
    for src in everything:
        src.offset = offset
        offset += _meta(src).rows
    return _Corpus(everything, len(pool), offset, sum(_meta(src).rows for src in pool))


class _Driver:
    """The join, resolve and write stages of one dedup.

    Starts join tasks as ``JoinPlan`` says, resolves blocks in input order as their joins finish,
    and writes each block's rendered lines in order.
    """

    def __init__(
        self,
        remote: _Remote,
        corpus: _Corpus,
        cpus: int,
        field_name: str,
        options: JoinOptions,
        report: Callable[[str, int, int, int, int], None],
    ) -> None:
        self.remote, self.corpus, self.report = remote, corpus, report
        self.field_name, self.options = field_name, options
        self.plan = JoinPlan(corpus.first_input, [_meta(src).rows for src in corpus.everything], cpus)
        self.kept = bytearray(b"\x01") * corpus.rows
        self.running: dict[Any, tuple[Join, Any]] = {}  # stats ref -> (join, pairs ref)
        self.done_pairs: dict[int, list[Any]] = {}  # input block -> pairs refs of its finished joins
        self.renders: list[Any] = []  # per resolved input block: its render task, None once written
        self.joins: list[JoinStats] = []
        self.eager_joins = 0
        self.pairs_found = self.rows_joined = self.shuffled = 0
        self.kept_count = self.rejected_count = 0
        self.stage_seconds = {"join": 0.0, "write": 0.0, "resolve": 0.0}
        self._bytes = [_meta(src).block_bytes for src in corpus.everything]
        self._kept_rows: dict[int, np.ndarray] = {}  # the block just resolved: its kept row indices

    def run(self, out: IO[bytes], rej: IO[bytes] | None) -> None:
        """Run the stages to the end, writing kept lines to ``out`` and rejects to ``rej``."""
        mark = time.perf_counter()
        join_end: float | None = None
        self._submit_all(self.plan.start())
        written, blocks = 0, len(self.corpus.inputs)
        while written < blocks:
            self._resolve_ready(want_rejects=rej is not None)
            self._submit_all(self.plan.fill(len(self.running)))
            waitables = [*self.running, *([self.renders[written]] if written < len(self.renders) else [])]
            ready, _ = self.remote.ray.wait(waitables, num_returns=1)
            for ref in ready:
                if ref in self.running:
                    self._join_done(ref)
                    if join_end is None and len(self.joins) == self.plan.total:
                        join_end = time.perf_counter()
                    continue
                kept_lines, reject_lines = self.remote.ray.get(ref)
                self.renders[written] = None
                self.shuffled += len(kept_lines) + len(reject_lines)
                out.write(kept_lines)
                if rej is not None:
                    rej.write(reject_lines)
                written += 1
                stage = "join" if len(self.joins) < self.plan.total else "write"
                self.report(stage, written, blocks, self.rows_joined, self.pairs_found)
        end = time.perf_counter()
        join_end = end if join_end is None else join_end
        self.stage_seconds.update(join=join_end - mark, write=end - join_end)

    def _submit_all(self, joins: list[Join]) -> None:
        for join in joins:
            left, right = self.corpus.everything[join.left], self.corpus.everything[join.right]
            left_rows = None
            if join.kept_only:
                left_rows = self._kept_rows[join.left]
                self.shuffled += left_rows.nbytes
            elif join.left >= self.corpus.first_input and join.left != join.right:
                self.eager_joins += 1
            other = None if join.left == join.right else right.tokens
            pairs_ref, stats_ref = self.remote.join.remote(
                left.tokens, left.offset, join.left, other, right.offset, join.right, self.options, left_rows
            )
            self.running[stats_ref] = (join, pairs_ref)
            self.shuffled += self._bytes[join.left] + (0 if other is None else self._bytes[join.right])

    def _join_done(self, ref: Any) -> None:
        join, pairs_ref = self.running.pop(ref)
        stats = self.remote.ray.get(ref)
        self.joins.append(stats)
        self.pairs_found += stats.pairs
        self.done_pairs.setdefault(join.right, []).append(pairs_ref)
        self.plan.finished(join)
        self.report("join", len(self.joins), self.plan.total, self.rows_joined, self.pairs_found)

    def _resolve_ready(self, *, want_rejects: bool) -> None:
        """Resolve every input block whose joins are all done, in input order, and start its render."""
        while (block := self.plan.next_resolvable()) is not None:
            tick = time.perf_counter()
            src = self.corpus.everything[block]
            found = self.remote.ray.get(self.done_pairs.pop(block, []))
            rejected = _resolve_block(self.kept, found)
            self.shuffled += sum(arr.nbytes for triple in found for arr in triple)
            rows = _meta(src).rows
            mask = np.frombuffer(bytes(self.kept[src.offset : src.offset + rows]), dtype=np.uint8)
            kept = int(mask.sum())
            self.stage_seconds["resolve"] += time.perf_counter() - tick
            self.rows_joined += rows
            self.kept_count += kept
            self.rejected_count += rows - kept
            everything = self.corpus.everything
            self.renders.append(
                _render(self.remote, src, self.field_name, mask, rejected, everything, want_rejects)
            )
            self.shuffled += mask.nbytes + rejected.rows.nbytes * 4
            # Every later block's kept-only join with this one reads the same rows.
            self._kept_rows = {block: np.flatnonzero(mask).astype(np.int64)}
            self._submit_all(self.plan.resolved(block, kept))


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
        [everything[k].path for k in needed],
        want_rejects,
        *[everything[k].block for k in needed],
    )
