"""``selfinstruct complete``: run a JSONL file of prompts through the engine, resumably.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}`` plus
optional sampling parameters (temperature, max_tokens, stop, n, ...). The output has one line per
input id, in input order: text, finish_reason and usage, or an error. Results are journaled beside
the output (``OUT.journal``) as they arrive, so re-running the same command resumes; the output
itself is written atomically at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine, EngineStats, Request, Result

from . import configured_base_urls, help_text

__all__ = ["add_parser", "run"]

_RESERVED = ("id", "prompt", "messages", "meta", "model", "stream")


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
    parser.add_argument("--model", help="model name (optional with the embedded local model)")
    parser.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help="GGUF file to serve locally when no endpoint is given (default: the embedded SmolLM2-135M)",
    )
    parser.add_argument(
        "--base-url",
        action="append",
        dest="base_urls",
        metavar="URL",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1; repeat to spread load over "
        "replicas (default $OPENAI_BASE_URL; if neither is set, the embedded local model)",
    )
    parser.add_argument(
        "--chat", action="store_true", help="send prompts as one user message to chat/completions"
    )
    parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 64)")
    parser.add_argument("--rpm", type=float, default=None, help="requests per minute, per endpoint")
    parser.add_argument("--tpm", type=float, default=None, help="tokens per minute, per endpoint")
    parser.add_argument("--max-retries", type=int, default=6, help="retries per request (default 6)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per attempt (default 120)")
    parser.add_argument(
        "--max-total-tokens", type=int, default=None, help="stop once this many tokens are used"
    )
    parser.add_argument("--max-cost", type=float, default=None, help="stop once this many USD are spent")
    parser.add_argument("--price-in", type=float, default=None, help="USD per 1M input tokens")
    parser.add_argument("--price-out", type=float, default=None, help="USD per 1M output tokens")
    parser.add_argument("--no-adaptive", action="store_true", help="keep concurrency fixed (no AIMD)")
    parser.add_argument("--journal", type=Path, default=None, help="journal path (default OUTPUT.journal)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")


def _requests_of(record: dict[str, Any], chat: bool, path: Path, line: int) -> list[Request]:
    """The request(s) for one input line (one per sample when n > 1)."""
    from ..engine import Request
    from ..errors import ConfigError, InputError

    prompt, messages = record.get("prompt"), record.get("messages")
    if (prompt is None) == (messages is None):
        raise InputError("each line needs exactly one of 'prompt' or 'messages'", path=path, line=line)
    if chat and prompt is not None:
        if not isinstance(prompt, str):
            raise InputError("'prompt' must be a string", path=path, line=line)
        prompt, messages = None, [{"role": "user", "content": prompt}]
    params = {k: v for k, v in record.items() if k not in _RESERVED}
    meta = record.get("meta")
    try:
        request = Request(
            prompt=prompt,
            messages=messages,
            params=params,
            id=str(record["id"]),
            meta=meta if isinstance(meta, dict) else {},
        )
    except ConfigError as error:
        raise InputError(str(error), path=path, line=line) from None
    return request.fan_out()


def _validate(path: Path, chat: bool) -> int:
    """Check every line before spending anything; return how many requests (samples) there are."""
    from ..errors import InputError
    from ..jsonl import iter_jsonl

    seen: set[str] = set()
    total = 0
    for line, record in iter_jsonl(path):
        if "id" not in record or record["id"] is None:
            raise InputError("each line needs an 'id'", path=path, line=line)
        ident = str(record["id"])
        if ident in seen:
            raise InputError(f"duplicate id {ident!r}", path=path, line=line)
        seen.add(ident)
        total += len(_requests_of(record, chat, path, line))
    return total


def _iter_requests(path: Path, chat: bool) -> Iterator[Request]:
    from ..jsonl import iter_jsonl

    for line, record in iter_jsonl(path):
        yield from _requests_of(record, chat, path, line)


def _error_dict(result: Result) -> dict[str, Any] | None:
    error = result.error
    if error is None:
        return None
    return {
        "kind": error.kind,
        "message": error.message,
        "status": error.status,
        "attempts": error.attempts,
        "request_id": error.request_id,
    }


def _output_record(ident: Any, results: list[Result]) -> dict[str, Any]:
    """One output line; ``ident`` is the input's id as it was written (number or string)."""
    prompt_tokens = sum(r.usage.prompt_tokens for r in results if r.usage is not None)
    completion_tokens = sum(r.usage.completion_tokens for r in results if r.usage is not None)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if len(results) == 1:
        result = results[0]
        return {
            "id": ident,
            "text": result.text,
            "finish_reason": result.finish_reason,
            "usage": usage if result.usage is not None else None,
            "error": _error_dict(result),
        }
    errors = [_error_dict(r) for r in results if r.error is not None]
    return {
        "id": ident,
        "choices": [
            {"sample": i, "text": r.text, "finish_reason": r.finish_reason, "error": _error_dict(r)}
            for i, r in enumerate(results)
        ],
        "usage": usage,
        "error": errors[0] if errors else None,
    }


def _write_output(
    args: argparse.Namespace, journal_path: Path, unfinished: dict[str, Result]
) -> tuple[int, Counter[str]]:
    """Write the output in input order from the journal and this run's failures."""
    from ..engine import Journal
    from ..engine.requests import ErrorInfo
    from ..engine.requests import Result as ResultType
    from ..errors import ErrorKind
    from ..jsonl import atomic_write, dumps_line, iter_jsonl

    lines = 0
    errors: Counter[str] = Counter()
    with Journal(journal_path, fsync_interval=None) as journal, atomic_write(args.output) as handle:
        for line, record in iter_jsonl(args.input):
            results = []
            for request in _requests_of(record, args.chat, args.input, line):
                result = journal.get(request.key, request) or unfinished.get(request.key)
                if result is None:
                    info = ErrorInfo(ErrorKind.CANCELLED, "not run (interrupted before it started)")
                    result = ResultType(request, request.key, None, None, None, info)
                results.append(result)
                if result.error is not None:
                    errors[str(result.error.kind)] += 1
            handle.write(dumps_line(_output_record(record["id"], results)))
            lines += 1
    return lines, errors


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
    if stats.latency_p50 is not None and stats.latency_p95 is not None:
        parts.append(f"latency p50 {stats.latency_p50:.3f}s p95 {stats.latency_p95:.3f}s")
    if stats.limiter_wait:
        parts.append(f"limiter wait {stats.limiter_wait:.1f}s")
    if stats.cost:
        parts.append(f"cost ${stats.cost:.4f}")
    done = stats.succeeded + stats.failed
    parts.append(f"{elapsed:.1f}s ({done / elapsed if elapsed > 0 else 0:.1f} req/s)")
    return "; ".join(parts)


async def _complete(
    args: argparse.Namespace,
    base_urls: list[str],
    model: str,
    concurrency: int,
    total: int,
    journal_path: Path,
) -> tuple[Engine, dict[str, Result], float]:
    from tqdm import tqdm

    from ..engine import Engine, EngineConfig
    from ..errors import JOURNALED_KINDS

    prices = None
    if args.price_in is not None or args.price_out is not None:
        prices = (args.price_in or 0.0, args.price_out or 0.0)
    config = EngineConfig(
        model=model,
        base_urls=base_urls,
        concurrency=concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        max_retries=args.max_retries,
        timeout=args.timeout,
        adaptive=not args.no_adaptive,
        max_total_tokens=args.max_total_tokens,
        max_cost=args.max_cost,
        prices=prices,
    )
    unfinished: dict[str, Result] = {}
    show = sys.stderr.isatty() and not args.no_progress
    started = time.monotonic()
    with tqdm(total=total, file=sys.stderr, disable=not show, unit="req", dynamic_ncols=True) as bar:
        async with Engine(config, journal=journal_path) as engine:
            async for result in engine.run(_iter_requests(args.input, args.chat)):
                if result.error is not None and result.error.kind not in JOURNALED_KINDS:
                    unfinished[result.key] = result
                else:
                    unfinished.pop(result.key, None)
                bar.update(1)
                if show and bar.n % 64 == 0:
                    stats = engine.statistics()
                    bar.set_postfix(failed=stats.failed, inflight=stats.in_flight, refresh=False)
    return engine, unfinished, time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 when every request succeeded, 1 when some failed (see the output)."""
    from ..errors import ConfigError, InputError

    if not args.input.is_file():
        raise InputError("input file not found", path=args.input)
    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigError("--concurrency must be >= 1")
    journal_path = args.journal or args.output.with_name(args.output.name + ".journal")
    total = _validate(args.input, args.chat)
    base_urls = configured_base_urls(args.base_urls)

    async def main() -> tuple[Engine, dict[str, Result], float]:
        if base_urls:
            if not args.model:
                raise ConfigError("--model is required with --base-url / OPENAI_BASE_URL")
            from ..engine import probe_endpoints

            await probe_endpoints(base_urls, api_key=os.environ.get("OPENAI_API_KEY"))
            return await _complete(args, base_urls, args.model, args.concurrency or 64, total, journal_path)
        from ..local import LOCAL_CONCURRENCY, LOCAL_HINT, serve_local_model

        async with serve_local_model(args.model_path) as local:
            print(LOCAL_HINT, file=sys.stderr)
            concurrency = args.concurrency or LOCAL_CONCURRENCY
            return await _complete(
                args, [local.base_url], args.model or local.model, concurrency, total, journal_path
            )

    async def guarded() -> tuple[Engine, dict[str, Result], float]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        engine, unfinished, elapsed = asyncio.run(guarded())
    except asyncio.CancelledError:
        print(
            f"selfinstruct complete: stopped by SIGTERM; finished results are in {journal_path}; "
            "re-run the same command to resume",
            file=sys.stderr,
        )
        return 143
    lines, errors = _write_output(args, journal_path, unfinished)
    print(f"selfinstruct complete: {_summary(engine.statistics(), elapsed)}", file=sys.stderr)
    print(f"selfinstruct complete: wrote {lines:,} lines to {args.output}", file=sys.stderr)
    if engine.stop_error is not None:
        print(f"selfinstruct complete: stopped early: {engine.stop_error}", file=sys.stderr)
    if errors:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(errors.items()))
        print(
            f"selfinstruct complete: {sum(errors.values()):,} requests failed ({kinds}); "
            "re-run the same command to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``complete`` on its own (``python -m selfinstruct.cli.complete``), as the dispatcher would."""
    from ..errors import SelfInstructError

    parser = argparse.ArgumentParser(prog="selfinstruct")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["complete", *(sys.argv[1:] if argv is None else argv)])
    try:
        return run(args)
    except SelfInstructError as error:
        print(f"selfinstruct complete: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("selfinstruct complete: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
