"""``dedup_file``: exact keep-first ROUGE-L dedup of a JSONL file, on all cores.

Three passes over the data:

1. **Read**: every record's text is tokenized once into token ids (4 bytes a token; records
   are not kept in memory), pool files (``against``) first, then the input.
2. **Decide**: token frequencies over everything read give the global order. Input rows are
   decided in batches: each row of a batch is checked on the worker threads against the rows
   kept before the batch (prefix postings of kept rows only, in levels: ``_levels``), then the
   batch is settled in order on one thread against its own earlier kept rows (postings of the
   batch alone), and its kept rows join the levels. Together the two give, for every row, the
   exact best score over all rows kept before it, so the output does not depend on the number
   of workers.
3. **Write**: the input is read again and kept records are written (and rejects, with the text
   and place of their nearest kept record), atomically.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ConfigError, InputError
from ..jsonl import ReadStats, atomic_write, check_input_file, dumps_line, iter_jsonl, missing_or_null
from ._backend import compiled_cache_ready, get_prefix, warm_up_in_background
from ._join import MASK_BUDGET, Workers, default_workers, token_rank, validate
from ._levels import LeveledPostings
from ._tokenize import get_tokenizer

__all__ = ["DedupSummary", "ProgressCallback", "dedup_file"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``: stage "read" counts lines, "dedup" and "write" records."""

# Rows decided per batch: large enough to keep every thread busy, small enough that the batch's
# in-order settling (on one thread) stays a small share of the work.
_BATCH = 8192
# Below this many input bytes the plain-Python kernels finish before Numba would have loaded.
_SMALL_INPUT = 64 * 1024
# Below this many input bytes, with Numba's cache still empty, the twin beats compiling.
_COLD_INPUT = 512 * 1024
# A text longer than this is refused (or skipped): tokenizing it would take ~15x its size.
MAX_CHARS = 16 << 20


@dataclass(frozen=True)
class DedupSummary:
    """What ``dedup_file`` did.

    Attributes:
        read: input records with a text (invalid ones skipped are not counted).
        kept: records written to the output.
        rejected: records dropped as near-duplicates.
        pooled: records read from the ``against`` files.
        invalid: lines skipped as malformed (only with ``skip_invalid``).
        examples: the first few skipped lines' errors.
        seconds: wall time.
        workers: threads used.
    """

    read: int
    kept: int
    rejected: int
    pooled: int
    invalid: int
    examples: tuple[str, ...]
    seconds: float
    workers: int


class _Rows:
    """Token ids of every row read, and where each row came from."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.tokens = array("i")
        self.offsets = array("q", [0])
        self.lines = array("q")
        self.files: list[tuple[int, str]] = []  # (first row, path) per file

    def add(self, tokens: list[str], line: int) -> None:
        vocab = self.vocab
        setdefault = vocab.setdefault
        if len(tokens) < 4096:
            self.tokens.extend([setdefault(token, len(vocab)) for token in tokens])
        else:  # a long text: no list of Python ints in between
            self.tokens.extend(setdefault(token, len(vocab)) for token in tokens)
        self.offsets.append(len(self.tokens))
        self.lines.append(line)

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, row: int) -> tuple[str, int]:
        """(path, line) of ``row``."""
        path = next(path for first, path in reversed(self.files) if first <= row)
        return path, int(self.lines[row])


class _Reader:
    """Streams (line, record, text) from a JSONL file with dedup_file's validation rules."""

    def __init__(self, field: str, skip_invalid: bool, max_chars: int) -> None:
        self.field = field
        self.skip_invalid = skip_invalid
        self.max_chars = max_chars

    def records(self, path: Path, stats: ReadStats) -> Any:
        for line, record in iter_jsonl(path, skip_invalid=self.skip_invalid, stats=stats):
            value = record.get(self.field)
            problem = None
            if not isinstance(value, str):
                kind = (
                    missing_or_null(record, self.field)
                    if value is None
                    else f"not a string ({type(value).__name__})"
                )
                problem = f"field {self.field!r} is {kind}"
            elif len(value) > self.max_chars:
                problem = (
                    f"field {self.field!r} is {len(value):,} characters long, over the limit of "
                    f"{self.max_chars:,} (max_chars); split the record or raise the limit"
                )
            if problem is not None:
                error = InputError(problem, path=path, line=line)
                if not self.skip_invalid:
                    raise error
                stats.note_invalid(error)
                continue
            yield line, record, value


def _pick_backend(size: int) -> str:
    """Return "python" where the plain twin beats loading (or first compiling) Numba, else "auto".

    Under 64 KB the twin is quicker than importing Numba. Right after an install, with Numba's
    cache still empty, the twin also takes inputs up to 512 KB (a few seconds, where compiling
    would take 20-40 s) while a background process fills the cache for the next command.
    """
    if size < _SMALL_INPUT or os.environ.get("SELFINSTRUCT_PURE_PYTHON", "") not in ("", "0"):
        return "python"
    if size < _COLD_INPUT and not compiled_cache_ready():
        warm_up_in_background()
        return "python"
    return "auto"


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


class _Decisions:
    """The arrays of pass 2 and the two kernel calls it makes (see the module docstring)."""

    def __init__(self, rows: _Rows, pooled: int, threshold: float, strict: bool, nearest: bool, backend: str):
        self.rows = rows
        self.prefix = get_prefix(backend)
        self.n = n = len(rows)
        self.tok = np.frombuffer(rows.tokens, dtype=np.int32) if len(rows.tokens) else np.zeros(0, np.int32)
        self.off = np.frombuffer(rows.offsets, dtype=np.int64)
        self.vocab_size = max(len(rows.vocab), 1)
        self.rank = token_rank(self.tok, self.vocab_size)
        self.threshold, self.strict, self.nearest = threshold, strict, nearest
        self.kept = np.zeros(max(n, 1), dtype=np.uint8)
        self.kept[:pooled] = 1
        self.best = np.full(max(n, 1), -1.0)
        self.best_id = np.full(max(n, 1), -1, dtype=np.int64)
        self.error = np.full(1, -1, dtype=np.int64)
        self.wide = self.prefix.wide_signatures(self.tok, self.off)

    def postings(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Prefix postings of ``rows`` (one level)."""
        return self.prefix.build_postings(
            self.tok, self.off, self.rank, self.threshold, rows.astype(np.int64)
        )

    def check(
        self, lo: int, hi: int, scratch: dict[str, Any], index: Any, visible_hi: int, settle: bool
    ) -> None:
        """``best_matches`` of rows [lo, hi) against ``index`` (rows below ``visible_hi``)."""
        if "state" not in scratch:
            scratch["state"] = np.zeros(max(self.n, 1), dtype=np.int64)
            scratch["slot"] = np.full(self.vocab_size, -1, dtype=np.int32)
        self.prefix.best_matches(
            self.tok, self.off, self.rank, self.threshold, lo, hi, *index, visible_hi, self.kept,
            self.wide, settle, self.strict, not self.nearest, self.best, self.best_id,
            scratch["state"], lo, scratch["slot"], MASK_BUDGET, self.error,
        )  # fmt: skip

    def raise_if_failed(self) -> None:
        """The InputError for a very long text the kernels could not compare, if one was met."""
        if self.error[0] < 0:
            return
        row = int(self.error[0])
        path, line = self.rows.where(row)
        length = int(self.off[row + 1] - self.off[row])
        raise InputError(
            f"the text has {length:,} tokens and a near-duplicate that is not identical; "
            f"comparing them exactly needs over {MASK_BUDGET >> 20} MiB (split or drop it)",
            path=path,
            line=line,
        )


def _decide(
    rows: _Rows,
    pooled: int,
    *,
    threshold: float,
    strict: bool,
    backend: str,
    workers: int,
    nearest: bool,
    progress: ProgressCallback | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep-first decisions for rows [pooled, n): (kept flags, best score, best row) per row.

    With ``nearest``, a rejected row's best score and row are its nearest kept row's; without,
    a row stops at the first duplicate found (only the kept flags are exact).
    """
    d = _Decisions(rows, pooled, threshold, strict, nearest, backend)
    n = d.n
    # Only kept rows are indexed: each settled batch's kept rows join the levels.
    pool_index = LeveledPostings(d.postings)
    pool_index.add(np.arange(pooled))
    main_scratch: dict[str, Any] = {}
    with Workers(workers) as pool:
        b0 = pooled
        while b0 < n:
            b1 = min(n, b0 + _BATCH)
            if len(pool_index):
                index = pool_index.arrays()
                pool.map_chunks(b0, b1, partial(d.check, index=index, visible_hi=b0, settle=False))
            if d.error[0] < 0:
                p_off, *entries = d.postings(np.arange(b0, b1))
                d.check(b0, b1, main_scratch, (p_off.reshape(1, -1), *entries), n, True)
                pool_index.add(b0 + np.flatnonzero(d.kept[b0:b1]))
            d.raise_if_failed()
            if progress is not None:
                progress("dedup", b1 - pooled, n - pooled)
            b0 = b1
    return d.kept[:n], d.best[:n], d.best_id[:n]


def dedup_file(
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
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    backend: str = "auto",
    max_chars: int = MAX_CHARS,
) -> DedupSummary:
    """Drop near-duplicate records from a JSONL file, keeping the first of each group, exactly.

    A record is kept only if the ROUGE-L F of its ``field`` to every record kept before it (and
    to every record of the ``against`` files) is below ``threshold`` (``rule="paper"``; with
    ``rule="original"``, not above it): the decisions of an exhaustive rouge-score scan. Each line
    of ``rejects`` is {"line", "score", "nearest", "nearest_file", "nearest_line", "record"}: the
    rejected record, its ROUGE-L to the most similar kept (or pool) record, and where that is.
    Outputs are written atomically.

    Args:
        input: the JSONL file to deduplicate (read twice).
        output: where kept records go.
        field: the text field to compare.
        threshold, rule, tokenizer, stemmer: the ROUGE-L test (see ``NoveltyIndex``).
        against: pool files; input records near their records are rejected too (not written).
        rejects: where rejected records go (optional).
        skip_invalid: skip and count malformed lines, records without the field and texts over
            ``max_chars`` instead of raising.
        workers: threads (default: all cores); the output does not depend on it.
        progress: ``progress(stage, done, total)`` callback (see ``ProgressCallback``).
        backend: "auto" (Numba; the plain-Python twin for inputs under 64 KB, or under 512 KB
            while Numba's cache is still empty), "numba" or "python".
        max_chars: the longest text accepted, in characters.

    Raises:
        InputError: a missing file, a malformed line, a record without the field or with a text
            over ``max_chars`` (each naming file and line, unless ``skip_invalid``), or a very long
            text (over ~100k tokens) with a near-duplicate that is not identical to it.
        ConfigError: a setting out of range.
    """
    started = time.perf_counter()
    validate(threshold, rule, tokenizer)
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers!r}")
    if max_chars < 1:
        raise ConfigError(f"max_chars must be >= 1, got {max_chars!r}")
    input_path, output_path = Path(input), Path(output)
    pool_paths = [Path(path) for path in against]
    for path in [*pool_paths, input_path]:
        check_input_file(path, empty_ok=True)
    sizes = [path.stat().st_size for path in [*pool_paths, input_path]]
    if backend == "auto":
        backend = _pick_backend(sum(sizes))
    threads = 1 if backend == "python" else workers or default_workers()
    reader = _Reader(field, skip_invalid, max_chars)
    stats = ReadStats()
    rows = _read(
        [*pool_paths, input_path], reader, get_tokenizer(tokenizer, use_stemmer=stemmer), stats, progress
    )
    pooled = rows.files[-1][0]
    read = len(rows) - pooled
    kept, best, best_id = _decide(
        rows,
        pooled,
        threshold=float(threshold),
        strict=rule == "original",
        backend=backend,
        workers=threads,
        nearest=rejects is not None,
        progress=progress,
    )
    n_kept = int(kept[pooled:].sum()) if read else 0
    _write(input_path, output_path, rejects, reader, rows, pool_paths, pooled, kept, best, best_id, progress)
    return DedupSummary(
        read=read,
        kept=n_kept,
        rejected=read - n_kept,
        pooled=pooled,
        invalid=stats.invalid,
        examples=tuple(stats.examples),
        seconds=time.perf_counter() - started,
        workers=threads,
    )


def _read(
    paths: list[Path],
    reader: _Reader,
    tokenize: Callable[[str], list[str]],
    stats: ReadStats,
    progress: ProgressCallback | None,
) -> _Rows:
    """Pass 1: every record's tokens, file by file (the input last)."""
    rows = _Rows()
    total_lines = sum(_count_lines(path) for path in paths) if progress else 0
    done_lines = 0
    for path in paths:
        rows.files.append((len(rows), str(path)))
        line = 0
        for line, _, text in reader.records(path, stats):
            rows.add(tokenize(text), line)
            if progress is not None and len(rows) % 65536 == 0:
                progress("read", done_lines + line, total_lines)
        done_lines += line
    if progress is not None:
        progress("read", total_lines, total_lines)
    return rows


def _write(
    input_path: Path,
    output_path: Path,
    rejects_path: str | Path | None,
    reader: _Reader,
    rows: _Rows,
    pool_paths: list[Path],
    pooled: int,
    kept: np.ndarray,
    best: np.ndarray,
    best_id: np.ndarray,
    progress: ProgressCallback | None,
) -> None:
    """Pass 3: write kept records (and rejects with their nearest record's text and place)."""
    texts: dict[int, str] = {}
    if rejects_path is not None:
        # Only the texts rejects point at are kept in memory; each precedes its reject.
        wanted = set(best_id[pooled:][kept[pooled:] == 0].tolist())
        row = 0
        for path in pool_paths:
            for _, _, text in reader.records(path, ReadStats()):
                if row in wanted:
                    texts[row] = text
                row += 1
    total = len(rows) - pooled
    with ExitStack() as stack:
        out: IO[bytes] = stack.enter_context(atomic_write(output_path))
        rejects: IO[bytes] | None = None
        if rejects_path is not None:
            rejects = stack.enter_context(atomic_write(rejects_path))
            wanted_here = {y for y in wanted if y >= pooled}
        row = pooled
        for line, record, text in reader.records(input_path, ReadStats()):
            if row >= len(rows) or rows.lines[row] != line:
                raise InputError("the file changed while it was being deduplicated", path=input_path)
            if kept[row]:
                out.write(dumps_line(record))
            elif rejects is not None:
                nearest = int(best_id[row])
                nearest_file, nearest_line = rows.where(nearest)
                rejects.write(
                    dumps_line(
                        {
                            "line": line,
                            "score": float(best[row]),
                            "nearest": texts[nearest],
                            "nearest_file": nearest_file,
                            "nearest_line": nearest_line,
                            "record": record,
                        }
                    )
                )
            if rejects is not None and row in wanted_here:
                texts[row] = text
            row += 1
            if progress is not None and (row - pooled) % 65536 == 0:
                progress("write", row - pooled, total)
        if progress is not None:
            progress("write", total, total)
