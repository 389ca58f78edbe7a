"""``selfinstruct complete``: run a JSONL file of prompts through the engine, resumably.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}`` plus
optional sampling parameters (temperature, max_tokens, stop, n, ...). The output has one line per
input id, in input order: text, finish_reason and usage, or an error. Results are journaled beside
the output (``OUT.journal``) as they arrive, so re-running the same command resumes; the output
itself is written atomically at the end. The library call is ``selfinstruct.complete_file``.

With --batch the requests go through OpenAI's Batch API at half the price (answers within 24 h):
the output file is the same. Each batch id is recorded (OUT.batches.jsonl) before anything else,
so re-running the same command after a kill polls the same batches instead of paying again;
--batch-cancel cancels them. The library call is ``selfinstruct.complete_file_in_batches``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..batch import BatchCompleteReport
    from ..engine import EngineStats
    from ..engine.files import CompleteProgress, CompleteReport

from . import configured_base_urls, help_text
from ._batch import (
    BatchProgress,
    add_batch_arguments,
    batch_config_from_args,
    batch_summary,
    check_batch_arguments,
)
from ._engine import (
    Terminated,
    add_engine_arguments,
    check_engine_arguments,
    engine_endpoint,
    run_until_sigterm,
)

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``complete`` command."""
    parser = subparsers.add_parser(
        "complete",
        help="run completions for a JSONL file of prompts (resumable)",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input", type=Path, help="JSONL: one {'id', 'prompt' | 'messages', ...params} per line"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output JSONL (one line per id)")
    parser.add_argument(
        "--chat", action="store_true", help="send prompts as one user message to chat/completions"
    )
    parser.add_argument("--journal", type=Path, default=None, help="journal path (default OUTPUT.journal)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    add_engine_arguments(parser)
    add_batch_arguments(parser, cancel=True)


def _summary(stats: EngineStats, elapsed: float) -> str:
    parts = [
        f"{stats.succeeded:,} done, {stats.from_journal:,} from the journal, {stats.failed:,} failed",
        f"{stats.requests:,} HTTP requests",
        f"tokens {stats.prompt_tokens:,} in / {stats.completion_tokens:,} out",
    ]
    if stats.retries:
        parts.append("retries " + ", ".join(f"{k} {v}" for k, v in sorted(stats.retries.items())))
    if stats.errors:
        parts.append("errors " + ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())))
    if stats.usage_estimated:
        parts.append(f"usage estimated for {stats.usage_estimated:,} answers (missing or unreadable)")
    if stats.latency_p50 is not None and stats.latency_p95 is not None:
        parts.append(f"latency p50 {stats.latency_p50:.3f}s p95 {stats.latency_p95:.3f}s")
    if stats.limiter_wait:
        parts.append(f"limiter wait {stats.limiter_wait:.1f}s")
    if stats.cost:
        parts.append(f"cost ${stats.cost:.4f}")
    done = stats.succeeded + stats.failed
    parts.append(f"{elapsed:.1f}s ({done / elapsed if elapsed > 0 else 0:.1f} req/s)")
    return "; ".join(parts)


class _Bar:
    """A tqdm bar on a terminal (nothing otherwise), fed by ``complete_file``'s progress."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, file=sys.stderr, disable=not enabled, unit="req", dynamic_ncols=True)
        self.enabled = enabled

    def __call__(self, p: CompleteProgress) -> None:
        self.bar.update(1)
        if self.enabled and p.done % 64 == 0:
            self.bar.set_postfix(failed=p.failed, inflight=p.in_flight, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _report(report: CompleteReport) -> int:
    print(f"selfinstruct complete: {_summary(report.stats, report.elapsed)}", file=sys.stderr)
    print(f"selfinstruct complete: wrote {report.lines:,} lines to {report.output}", file=sys.stderr)
    if report.stop_error is not None:
        print(f"selfinstruct complete: stopped early: {report.stop_error}", file=sys.stderr)
    errors = report.errors
    if errors:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
        print(
            f"selfinstruct complete: {sum(errors.values()):,} requests failed ({kinds}); "
            "re-run the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _report_batch(report: BatchCompleteReport) -> int:
    print(f"selfinstruct complete: {batch_summary(report.stats, report.elapsed)}", file=sys.stderr)
    if report.cancelled:
        print(f"selfinstruct complete: {report.cancelled:,} batches cancelled", file=sys.stderr)
    print(f"selfinstruct complete: wrote {report.lines:,} lines to {report.output}", file=sys.stderr)
    errors = report.errors
    if errors:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
        again = "--batch" if not report.cancelled else "the command with --batch"
        print(
            f"selfinstruct complete: {sum(errors.values()):,} requests failed ({kinds}); "
            f"re-run {again} to send them again",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_batch(args: argparse.Namespace, journal_path: Path) -> int:
    from ..batch import complete_file_in_batches
    from ._engine import engine_config_from_args

    batch_config = batch_config_from_args(args)
    config = engine_config_from_args(
        args, model=args.model, base_urls=configured_base_urls(args.base_urls), concurrency=1
    )
    display = BatchProgress(not args.no_progress, label="selfinstruct complete")

    async def main() -> BatchCompleteReport:
        from ..engine import probe_endpoints

        await probe_endpoints(config.base_urls, api_key=config.api_key)
        return await complete_file_in_batches(
            args.input,
            args.output,
            engine_config=config,
            batch_config=batch_config,
            chat=args.chat,
            journal=journal_path,
            progress=display,
            cancel=args.batch_cancel,
        )

    try:
        report = run_until_sigterm(main)
    except Terminated:
        print(
            "selfinstruct complete: stopped by SIGTERM; the batches keep running at the provider: "
            "re-run the same command to collect their answers, or cancel them with --batch-cancel; "
            f"answers collected so far are in {journal_path}",
            file=sys.stderr,
        )
        return 143
    finally:
        display.close()
    return _report_batch(report)


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 when every request succeeded, 1 when some failed (see the output)."""
    from ..engine.files import count_requests
    from ..errors import ConfigError
    from ..rundir import open_output

    check_engine_arguments(args)
    check_batch_arguments(args)
    journal_path = args.journal or args.output.with_name(args.output.name + ".journal")
    total = count_requests(args.input, chat=args.chat)  # bad input fails before any model starts
    if (args.batch or args.batch_cancel) and not args.model:
        raise ConfigError("--model is required with --batch (the Batch API needs a model name)")
    with open_output(args.output):  # a second process on this output is refused before anything starts
        if args.batch or args.batch_cancel:
            return _run_batch(args, journal_path)
        return _run_online(args, journal_path, total)


def _run_online(args: argparse.Namespace, journal_path: Path, total: int) -> int:
    from ..engine import EngineConfig
    from ..engine.files import complete_file, replays_entirely
    from ..engine.requests import AnswerScope

    bar = _Bar(total, enabled=sys.stderr.isatty() and not args.no_progress)

    def replays(config: EngineConfig) -> bool:
        scope = AnswerScope.of(config)
        return replays_entirely(args.input, journal_path, scope=scope, chat=args.chat)

    async def main() -> CompleteReport:
        async with engine_endpoint(args, replays=replays) as endpoint:
            return await complete_file(
                args.input,
                args.output,
                engine_config=endpoint.config,
                chat=args.chat,
                journal=journal_path,
                progress=bar,
            )

    try:
        report = run_until_sigterm(main)
    except Terminated:
        print(
            f"selfinstruct complete: stopped by SIGTERM; finished results are in {journal_path}; "
            "re-run the same command to resume",
            file=sys.stderr,
        )
        return 143
    finally:
        bar.close()
    return _report(report)


def main(argv: list[str] | None = None) -> int:
    """Run ``complete`` on its own (``python -m selfinstruct.cli.complete``), as the dispatcher would."""
    from . import main as dispatch

    return dispatch(["complete", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
