"""selfinstruct run: generate a SELF-INSTRUCT dataset into RUN_DIR (re-run the same command to resume).

All stages (bootstrap, filters, dedup, classification, instances) stream through one engine.
Every model answer is journaled in RUN_DIR/journal.jsonl as it arrives, so an interrupted run
resumes without paying twice; the data files are written atomically at the end:
instructions.jsonl, tasks.jsonl (the seed schema), rejections.json and run.json.

With --batch the classification and instance requests (most of the calls) go through OpenAI's
Batch API at half the price as instructions are accepted; the bootstrap stays online. The data
is the same as an online run with the same seed; the run ends when the last batch is in.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..pipeline.run import Progress, RunConfig, RunSummary

from . import configured_base_urls, help_text
from ._batch import BatchProgress, add_batch_arguments, batch_config_from_args, check_batch_arguments
from ._engine import (
    Terminated,
    add_engine_arguments,
    check_engine_arguments,
    engine_endpoint,
    request_fields,
    run_until_sigterm,
)
from ._flags import flags_in_errors

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``run`` command."""
    parser = subparsers.add_parser(
        "run",
        help="generate instructions, classify them and write instances (resumable)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", dest="run_dir", type=Path, required=True, help="run directory")
    parser.add_argument("--num-instructions", type=int, required=True, help="accepted instructions to make")
    parser.add_argument("--chat", action="store_true", help="use chat/completions prompts")
    parser.add_argument("--seeds", type=Path, default=None, help="seed tasks JSONL (original schema)")
    parser.add_argument("--classification-examples", type=Path, default=None, help="few-shot JSONL")
    parser.add_argument("--instance-examples", type=Path, default=None, help="few-shot JSONL")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run)")
    parser.add_argument("--classification-only", action="store_true", help="bootstrap classification tasks")
    parser.add_argument("--instances-per-task", type=int, default=5, help="max instances per task (5)")
    parser.add_argument("--threshold", type=float, default=0.7, help="ROUGE-L novelty threshold (0.7)")
    parser.add_argument("--tokenizer", choices=("rouge", "unicode"), default="rouge", help="dedup tokenizer")
    parser.add_argument("--window", type=int, default=None, help="bootstrap requests in flight")
    parser.add_argument(
        "--no-nearest",
        action="store_true",
        help="do not record each accepted instruction's most similar pool item (dedup ~3x faster)",
    )
    parser.add_argument(
        "--new-run",
        action="store_true",
        help="start a new run in RUN_DIR even though it holds one made with other settings (its data "
        "files are replaced; the journal stays, so answers to the very same requests are replayed)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line")
    parser.add_argument("--no-stats", action="store_true", help="do not print the stats table at the end")
    add_engine_arguments(parser)
    add_batch_arguments(parser, cancel=False)


class _ProgressLine:
    """A one-line progress display: redrawn on a terminal, a line per 10% otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.decile = -1

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        decile = 10 * p.accepted // max(1, p.target)
        if self.tty and now - self.last < 0.2 and p.accepted < p.target:
            return
        if not self.tty and decile == self.decile:
            return
        self.last, self.decile = now, decile
        rate = p.accepted / p.elapsed if p.elapsed > 0 else 0.0
        line = (
            f"accepted {p.accepted:,}/{p.target:,} | bootstrap answers {p.bootstrap_answers:,} | "
            f"tasks done {p.tasks_done:,} | rejected {p.rejected:,} | {rate:,.1f}/s"
        )
        if self.tty:
            print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


def _print_summary(summary: RunSummary) -> None:
    t = summary.timings
    print(
        f"{summary.status}: {summary.accepted:,} instructions accepted, {summary.tasks:,} tasks with "
        f"{summary.instances:,} instances ({summary.classification_tasks:,} classification), "
        f"{summary.tasks_dropped:,} tasks dropped"
    )
    print(
        f"requests: {summary.calls:,} sent, {summary.replayed:,} replayed from the journal, "
        f"{summary.bootstrap_requests:,} bootstrap answers; errors: {summary.errors or 'none'}"
    )
    wall = t.get("wall", 0.0) or 1e-9
    shares = ", ".join(
        f"{k} {t.get(k, 0.0):.2f}s ({100 * t.get(k, 0.0) / wall:.0f}%)"
        for k in ("dedup", "prompt", "parse", "io")
    )
    print(f"time: {wall:.2f}s wall; {shares}")
    print(f"files: {summary.out_dir}/{{instructions.jsonl, tasks.jsonl, rejections.json, run.json}}")


def _run_config(args: argparse.Namespace, *, compact: bool) -> RunConfig:
    from ..pipeline.run import RunConfig

    return RunConfig(
        out_dir=args.run_dir,
        num_instructions=args.num_instructions,
        chat=args.chat,
        seeds_path=args.seeds,
        classification_examples_path=args.classification_examples,
        instance_examples_path=args.instance_examples,
        seed=args.seed,
        classification_only=args.classification_only,
        instances_per_task=args.instances_per_task,
        threshold=args.threshold,
        tokenizer=args.tokenizer,
        window=args.window,
        compact_prompts=compact,
        record_nearest=not args.no_nearest,
    )


def _check_inputs(config: RunConfig) -> None:
    """Read the seed and few-shot files now, so a bad one is reported before any model starts."""
    from ..pipeline.seeds import load_classification_examples, load_instance_examples, load_seed_tasks

    load_seed_tasks(config.seeds_path)
    if not config.classification_only:
        load_classification_examples(config.classification_examples_path)
    load_instance_examples(config.instance_examples_path)


def run(args: argparse.Namespace) -> int:
    """Run the pipeline with the command-line settings; return the exit code."""
    from ..pipeline.run import generate
    from ..pipeline.stats import format_stats, load_stats
    from ..rundir import open_run_dir

    # Everything that can be checked is checked before the local model starts (seconds) and
    # before any request: flags, input files, and whether RUN_DIR may be continued.
    check_engine_arguments(args)
    check_batch_arguments(args)
    batch = batch_config_from_args(args) if args.batch else None
    # The local model gets compact prompts (they fit its 2k context), in completion form unless
    # --chat: measured on SmolLM2-135M (N=10), completions gave 8 tasks with instances, chat
    # prompts none (the model restarts the numbering, rambles, and ignores the Input/Output shape).
    local = not configured_base_urls(args.base_urls)
    with flags_in_errors():
        config = _run_config(args, compact=local)
    _check_inputs(config)
    progress = _ProgressLine(not args.no_progress)
    batch_progress = BatchProgress(not args.no_progress, label="selfinstruct run", bar=False)

    async def main() -> RunSummary:
        async with engine_endpoint(args) as endpoint:
            return await generate(
                config,
                engine_config=endpoint.config,
                progress=progress,
                batch=batch,
                batch_progress=batch_progress if batch is not None else None,
                new_run=args.new_run,
            )

    engine = {"model": args.model, "params": request_fields(args)}
    try:
        with open_run_dir(
            args.run_dir, config.to_json(), window=args.window, engine=engine, new_run=args.new_run
        ):
            summary = run_until_sigterm(main)
    except Terminated:
        print(
            f"selfinstruct run: stopped by SIGTERM; finished results are in {args.run_dir}/journal.jsonl; "
            "re-run the same command to resume"
            + ("; the batches keep running at the provider and are collected then" if batch else ""),
            file=sys.stderr,
        )
        return 143
    finally:
        progress.close()
        batch_progress.close()
    _print_summary(summary)
    if not args.no_stats:
        print()
        print(format_stats(load_stats(summary.out_dir)))
    return 0 if summary.status in ("complete", "exhausted") else 1
