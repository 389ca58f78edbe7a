"""selfinstruct export: turn a run's tasks into a fine-tuning file.

Formats: prompt-completion (several prompt templates drawn at random per instance), alpaca
(instruction/input/output), openai-chat (messages) and sharegpt (conversations). Duplicates are
removed; the same --seed gives the same file.

--to jsonl (default) or parquet writes one file; --to hf writes a dataset folder: README.md (a
dataset card with YAML metadata, the model, the run's settings, counts and rejections) and
data/train-00000-of-00001.parquet, loadable with datasets.load_dataset(FOLDER). Parquet needs
pyarrow (pip install 'selfinstruct[parquet]').
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import help_text

__all__ = ["add_parser", "run"]

_FORMATS = ("prompt-completion", "alpaca", "openai-chat", "sharegpt")


def add_parser(subparsers: Any) -> None:
    """Register the ``export`` command."""
    parser = subparsers.add_parser(
        "export",
        help="export a run's tasks for fine-tuning",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by 'selfinstruct run'")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="output file (a folder with --to hf)"
    )
    parser.add_argument("--format", choices=_FORMATS, default="alpaca", help="record format (alpaca)")
    parser.add_argument(
        "--to",
        choices=("jsonl", "parquet", "hf"),
        default="jsonl",
        help="jsonl file (default), parquet file, or hf: a dataset folder with a card and Parquet data",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for template choice (prompt-completion)")
    parser.add_argument("--include-seeds", action="store_true", help="also export the seed tasks first")
    parser.add_argument("--seeds", type=Path, default=None, help="seed file (default: the run's, else ours)")


def _run_seeds(run_dir: Path) -> Path | None:
    import orjson

    path = run_dir / "run.json"
    if not path.exists():
        return None
    try:
        seeds = (orjson.loads(path.read_bytes()).get("config") or {}).get("seeds_path")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return Path(seeds) if seeds else None


def run(args: argparse.Namespace) -> int:
    """Export; print what was written."""
    from ..pipeline.export import export_run

    seeds = args.seeds or (_run_seeds(args.run_dir) if args.include_seeds else None)
    summary = export_run(
        args.run_dir,
        args.output,
        fmt=args.format,
        seed=args.seed,
        include_seeds=args.include_seeds,
        seeds_path=seeds,
        to=args.to,
    )
    print(
        f"wrote {summary.written:,} {args.format} records ({args.to}) from {summary.tasks:,} tasks to "
        f"{summary.path} "
        f"({summary.duplicates:,} duplicates removed)"
    )
    return 0
