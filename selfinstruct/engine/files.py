"""``complete_file``: run a JSONL file of prompts through the engine into a JSONL file of answers.

Each input line is ``{"id": ..., "prompt": "..."}`` or ``{"id": ..., "messages": [...]}`` plus
optional sampling parameters (temperature, max_tokens, stop, n, ...). The output has one line per
input id, in input order: text, finish_reason and usage, or an error. Every line is checked before
anything is sent; results are journaled as they arrive (default ``OUTPUT.journal``), so calling
again with the same files resumes; the output is written atomically at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    JOURNALED_KINDS,
    ConfigError,
    EngineError,
    ErrorKind,
    InputError,
    OutputWriteError,
    one_error,
)
from ..jsonl import atomic_write, check_input_file, dumps_line, iter_jsonl, missing_or_null
from ..rundir import open_output
from .config import EngineConfig
from .engine import Engine
from .journal import Journal, read_journal
from .requests import AnswerScope, ErrorInfo, Request, Result
from .stats import EngineStats

__all__ = [
    "CompleteProgress",
    "CompleteReport",
    "complete_file",
    "count_requests",
    "read_requests",
    "replays_entirely",
    "write_output",
]

# Fields of an input line that are not sampling parameters.
_RESERVED = ("id", "prompt", "messages", "meta", "model", "stream")


@dataclass(frozen=True)
class CompleteProgress:
    """Handed to ``complete_file``'s ``progress`` after each result."""

    done: int
    total: int
    failed: int
    in_flight: int


@dataclass(frozen=True)
class CompleteReport:
    """What ``complete_file`` did.

    ``errors`` counts the failed requests in the output by kind (a re-run retries them);
    ``stop_error`` is set when a quota or budget stopped the engine early.
    """

    output: Path
    journal: Path
    lines: int
    errors: dict[str, int]
    stats: EngineStats
    stop_error: EngineError | None
    elapsed: float


def _requests_of(record: dict[str, Any], chat: bool, path: Path, line: int) -> list[Request]:
    """The request(s) for one input line (one per sample when n > 1)."""
    prompt, messages = record.get("prompt"), record.get("messages")
    if prompt is None and messages is None:
        given = [f"'{key}' is null" for key in ("prompt", "messages") if key in record]
        why = f" ({' and '.join(given)})" if given else ""
        raise InputError(f"each line needs one of 'prompt' or 'messages'{why}", path=path, line=line)
    if prompt is not None and messages is not None:
        raise InputError(
            "each line needs exactly one of 'prompt' or 'messages', not both", path=path, line=line
        )
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


def count_requests(path: str | Path, *, chat: bool = False) -> int:
    """Check every line of an input file; return how many requests (samples) it holds.

    Raises:
        InputError: not a readable regular file (a directory, /dev/null...), a line that is not
            JSON or not UTF-8, lacks an id or a prompt (or has it null), repeats an id, or has bad params.
    """
    path = check_input_file(path, empty_ok=True)  # an empty file: an empty output
    seen: set[str] = set()
    total = 0
    for line, record in iter_jsonl(path):
        if record.get("id") is None:
            raise InputError(
                f"each line needs an 'id' (it is {missing_or_null(record, 'id')})", path=path, line=line
            )
        ident = str(record["id"])
        if ident in seen:
            raise InputError(f"duplicate id {ident!r}", path=path, line=line)
        seen.add(ident)
        total += len(_requests_of(record, chat, path, line))
    return total


def read_requests(path: str | Path, *, chat: bool = False) -> Iterator[Request]:
    """The requests of an input file, lazily, in file order (``n > 1`` fanned out)."""
    path = Path(path)
    for line, record in iter_jsonl(path):
        yield from _requests_of(record, chat, path, line)


def replays_entirely(
    input: str | Path, journal: str | Path, *, scope: AnswerScope, chat: bool = False
) -> bool:
    """True when the journal answers every request of ``input`` under ``scope`` (nothing to send).

    A command can then skip starting a model server: ``complete_file`` would only replay.
    """
    journal = Path(journal)
    if not journal.is_file():
        return False
    done = {result.key for result in read_journal(journal, scope)}
    return all(request.key in done for request in read_requests(input, chat=chat))


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


def write_output(
    source: Path, output: Path, chat: bool, journal: Journal, unfinished: dict[str, Result]
) -> tuple[int, Counter[str]]:
    """Write the output in input order from the journal and this run's unjournaled failures.

    Returns (lines written, failed requests by error kind). Shared by ``complete_file`` and the
    Batch API's ``complete_file_in_batches``, so both write the same file for the same answers.
    """
    lines = 0
    errors: Counter[str] = Counter()
    try:
        with atomic_write(output) as handle:
            for line, record in iter_jsonl(source):
                results = []
                for request in _requests_of(record, chat, source, line):
                    result = journal.get(request.key, request) or unfinished.get(request.key)
                    if result is None:
                        info = ErrorInfo(ErrorKind.CANCELLED, "not run (interrupted before it started)")
                        result = Result(request, request.key, None, None, None, info)
                    results.append(result)
                    if result.error is not None:
                        errors[str(result.error.kind)] += 1
                handle.write(dumps_line(_output_record(record["id"], results)))
                lines += 1
    except OutputWriteError as error:
        raise error.saving(
            f"it is left as it was; the {len(journal):,} answers are saved in the journal {journal.path}"
        ) from None
    return lines, errors


async def complete_file(
    input: str | Path,
    output: str | Path,
    *,
    engine_config: EngineConfig | None = None,
    engine: Engine | None = None,
    chat: bool = False,
    journal: str | Path | None = None,
    progress: Callable[[CompleteProgress], None] | None = None,
) -> CompleteReport:
    """Complete every request of a JSONL file and write the answers, one line per id, in input order.

    Args:
        input: JSONL, one ``{"id", "prompt" | "messages", ...params}`` per line.
        output: the JSONL to write (atomically, at the end).
        engine_config: settings for an engine opened (and closed) here, journaling to ``journal``.
        engine: an open :class:`Engine` with a journal to use instead (``journal`` is then ignored).
        chat: send each ``prompt`` as one user message to chat/completions.
        journal: the journal path (default ``OUTPUT.journal``); a second call resumes from it.
        progress: called after each result with a :class:`CompleteProgress`.

    Returns:
        A :class:`CompleteReport`; failed requests are in the output with their error.

    Raises:
        InputError: a bad input line (before anything is sent). ConfigError: neither engine given.
        OutputBusyError: another process is writing ``output``.
        OutputWriteError: the disk is full (what is saved is in the journal: call again to resume).
    """
    source, output = Path(input), Path(output)
    total = count_requests(source, chat=chat)
    journal_path = Path(journal) if journal is not None else output.with_name(output.name + ".journal")
    started = time.monotonic()
    async with AsyncExitStack() as stack:
        stack.enter_context(open_output(output))  # one writer per output: a second is refused
        if engine is None:
            if engine_config is None:
                raise ConfigError("complete_file() needs engine_config= or engine= (an open Engine)")
            engine = await stack.enter_async_context(Engine(engine_config, journal=journal_path))
        if engine.journal is None:
            raise ConfigError("complete_file() needs an engine with a journal (Engine(..., journal=path))")
        with one_error():  # a full disk under N requests in flight is one error, not N
            unfinished = await _run_requests(engine, read_requests(source, chat=chat), total, progress)
        lines, errors = write_output(source, output, chat, engine.journal, unfinished)
        return CompleteReport(
            output=output,
            journal=engine.journal.path,
            lines=lines,
            errors=dict(errors),
            stats=engine.statistics(),
            stop_error=engine.stop_error,
            elapsed=time.monotonic() - started,
        )


async def _run_requests(
    engine: Engine,
    requests: Iterator[Request],
    total: int,
    progress: Callable[[CompleteProgress], None] | None,
) -> dict[str, Result]:
    """Run the requests; return this run's failures that the journal does not keep, by key."""
    unfinished: dict[str, Result] = {}
    done = failed = 0
    async for result in engine.run(requests):
        done += 1
        if result.error is not None:
            failed += 1
        if result.error is not None and result.error.kind not in JOURNALED_KINDS:
            unfinished[result.key] = result
        else:
            unfinished.pop(result.key, None)
        if progress is not None:
            progress(CompleteProgress(done, total, failed, engine.window.in_flight))
    return unfinished
