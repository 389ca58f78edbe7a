"""``selfinstruct dedup``: drop near-duplicate instructions from a JSONL file, exactly.

Streams IN.jsonl in order and keeps a record only if the ROUGE-L similarity of its --field to every
record kept so far (and to every record of --against POOL.jsonl) is below --threshold: the
SELF-INSTRUCT rule, decided exactly as rouge-score would. The first of each near-duplicate group
is kept. Outputs are written atomically (never half a file). Each line of --rejects is
{"line", "score", "nearest", "nearest_file", "nearest_line", "record"}: the rejected record, its
ROUGE-L to the most similar kept (or pool) record, and where that record is.

Inputs under 64 KB are scored with the plain-Python kernels, which is quicker than loading Numba
(about a second); the answers are the same.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from . import help_text

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``dedup`` command."""
    parser = subparsers.add_parser(
        "dedup",
        help="remove near-duplicate instructions (exact ROUGE-L)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, metavar="IN.jsonl", help="records to deduplicate, in order")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.jsonl", help="kept records")
    parser.add_argument(
        "--field", default="instruction", help="the text field to compare (default: instruction)"
    )
    parser.add_argument("--threshold", type=float, default=0.7, help="ROUGE-L bar (default: 0.7)")
    parser.add_argument(
        "--against",
        type=Path,
        action="append",
        default=[],
        metavar="POOL.jsonl",
        help="an existing pool: input records near these are rejected too (repeatable; not written out)",
    )
    parser.add_argument(
        "--rejects", type=Path, default=None, metavar="REJECTS.jsonl", help="write rejects here"
    )
    parser.add_argument("--tokenizer", choices=("rouge", "unicode"), default="rouge", help="default: rouge")
    parser.add_argument(
        "--stemmer", action="store_true", help="Porter-stem tokens like rouge-score (needs nltk)"
    )
    parser.add_argument(
        "--rule",
        choices=("paper", "original"),
        default="paper",
        help="paper: keep only if every score < threshold (default); original: reject only if one is >",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip (and count) malformed lines and records without the field instead of failing",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads checking each batch of lines against the pool (default: 1); same result either way",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


_BATCH = 256
# Below this many input bytes the plain-Python kernels finish before Numba would have loaded.
_SMALL_INPUT = 64 * 1024


def run(args: argparse.Namespace) -> int:
    """Deduplicate ``args.input`` into ``args.output``; print a one-line summary."""
    from ..dedup import NoveltyIndex
    from ..errors import ConfigError, InputError
    from ..jsonl import ReadStats, atomic_write, dumps_line, iter_jsonl

    started = time.perf_counter()
    workers = args.workers
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    for path in [*args.against, args.input]:
        if not path.is_file():
            raise InputError("no such file", path=path)
    small = sum(path.stat().st_size for path in [*args.against, args.input]) < _SMALL_INPUT
    index = NoveltyIndex(
        threshold=args.threshold,
        tokenizer=args.tokenizer,
        use_stemmer=args.stemmer,
        rule=args.rule,
        backend="python" if small else "auto",
    )
    field: str = args.field
    # Where each pool item came from, by index id: (file, line).
    origin: list[tuple[str, int]] = []
    stats = ReadStats()

    def text_of(record: dict[str, Any], path: Path, line: int) -> str | None:
        value = record.get(field)
        if isinstance(value, str):
            return value
        problem = "missing" if value is None else f"not a string ({type(value).__name__})"
        error = InputError(f"field {field!r} is {problem}", path=path, line=line)
        if not args.skip_invalid:
            raise error
        stats.note_invalid(error)
        return None

    pooled = 0
    for path in args.against:
        for line, record in iter_jsonl(path, skip_invalid=args.skip_invalid, stats=stats):
            text = text_of(record, path, line)
            if text is not None:
                index.add(text)
                origin.append((str(path), line))
                pooled += 1

    read = kept = rejected = 0
    progress: Any = None
    with ExitStack() as stack:
        out: IO[bytes] = stack.enter_context(atomic_write(args.output))
        rejects: IO[bytes] | None = None
        if args.rejects is not None:
            rejects = stack.enter_context(atomic_write(args.rejects))
        if sys.stderr.isatty() and not args.no_progress:
            from tqdm import tqdm

            progress = stack.enter_context(
                tqdm(total=_count_lines(args.input), unit=" lines", desc="dedup", file=sys.stderr)
            )
        source = str(args.input)
        batch: list[tuple[int, dict[str, Any], str]] = []

        def settle() -> None:
            nonlocal kept, rejected
            matches = index.check_batch([text for _, _, text in batch], workers=workers)
            for (line, record, _), match in zip(batch, matches, strict=True):
                if match.novel:
                    kept += 1
                    origin.append((source, line))
                    out.write(dumps_line(record))
                    continue
                rejected += 1
                if rejects is not None:
                    where = origin[match.nearest] if match.nearest is not None else (None, None)
                    rejects.write(
                        dumps_line(
                            {
                                "line": line,
                                "score": match.score,
                                "nearest": match.nearest_text,
                                "nearest_file": where[0],
                                "nearest_line": where[1],
                                "record": record,
                            }
                        )
                    )
            if progress is not None:
                progress.update(max(0, batch[-1][0] - progress.n))
            batch.clear()

        for line, record in iter_jsonl(args.input, skip_invalid=args.skip_invalid, stats=stats):
            text = text_of(record, args.input, line)
            if text is None:
                continue
            read += 1
            batch.append((line, record, text))
            if len(batch) == _BATCH:
                settle()
        if batch:
            settle()
        if progress is not None:
            progress.update(max(0, progress.total - progress.n))
    seconds = time.perf_counter() - started
    summary = f"dedup: read {read}, kept {kept}, rejected {rejected}"
    if args.against:
        summary += f" (against a pool of {pooled})"
    if stats.invalid:
        summary += f", skipped {stats.invalid} invalid"
    summary += f" in {seconds:.2f} s -> {args.output}"
    print(summary)
    for example in stats.examples:
        print(f"  skipped: {example}", file=sys.stderr)
    return 0
