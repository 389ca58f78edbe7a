"""``selfinstruct dedup``: drop near-duplicate instructions from a JSONL file, exactly.

Streams IN.jsonl in order and keeps a record only if the ROUGE-L similarity of its --field to every
record kept so far (and to every record of --against POOL.jsonl) is below --threshold: the
SELF-INSTRUCT rule, decided exactly as rouge-score would. The first of each near-duplicate group
is kept. Outputs are written atomically (never half a file). IN and POOL may be Parquet files
(pyarrow needed): row k is line k, outputs are JSONL. Each line of --rejects is
{"line", "score", "nearest", "nearest_file", "nearest_line", "record"}: the rejected record, its
ROUGE-L to the most similar kept (or pool) record, and where that record is.

All cores are used (--workers to change that); the output does not depend on the number.
Inputs under 64 KB are scored with the plain-Python kernels, which is quicker than loading Numba
(about a second); the answers are the same. This command is ``selfinstruct.dedup_file`` (see
``selfinstruct.dedup``) plus argument parsing and printing.

With --ray (or --ray-address) the same outputs, bit for bit, come from a similarity join in Ray
tasks (``selfinstruct.distributed.dedup_file_ray``): on a cluster, or a private Ray on this machine.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from . import help_text
from ._dedup_ray import add_ray_arguments, run_on_ray, wants_ray

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``dedup`` command."""
    parser = subparsers.add_parser(
        "dedup",
        help="remove near-duplicate instructions (exact ROUGE-L)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        type=Path,
        metavar="IN.jsonl",
        help="records to deduplicate, in order (JSONL, or Parquet: rows numbered as lines)",
    )
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
        help="an existing pool (JSONL or Parquet): input records near these are rejected too (repeatable)",
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
        default=None,
        help="threads (default: all cores); the output is the same for any number",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    add_ray_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Deduplicate ``args.input`` into ``args.output`` with ``dedup_file``; print a one-line summary."""
    from ..parquet_input import dedup_file_any

    if wants_ray(args):
        return run_on_ray(args)
    with ExitStack() as stack:
        bars: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                from tqdm import tqdm

                for bar in bars.values():
                    bar.close()
                unit = " lines" if stage == "read" else " records"
                bars[stage] = stack.enter_context(tqdm(total=total, unit=unit, desc=stage, file=sys.stderr))
            bar = bars[stage]
            bar.update(max(0, done - bar.n))

        show = sys.stderr.isatty() and not args.no_progress
        summary = dedup_file_any(
            args.input,
            args.output,
            field=args.field,
            threshold=args.threshold,
            against=args.against,
            rejects=args.rejects,
            tokenizer=args.tokenizer,
            stemmer=args.stemmer,
            rule=args.rule,
            skip_invalid=args.skip_invalid,
            workers=args.workers,
            progress=progress if show else None,
        )
    line = f"dedup: read {summary.read}, kept {summary.kept}, rejected {summary.rejected}"
    if args.against:
        line += f" (against a pool of {summary.pooled})"
    if summary.invalid:
        line += f", skipped {summary.invalid} invalid"
    line += f" in {summary.seconds:.2f} s on {summary.workers} threads -> {args.output}"
    print(line)
    for example in summary.examples:
        print(f"  skipped: {example}", file=sys.stderr)
    return 0
