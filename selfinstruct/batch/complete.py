"""``complete_file_in_batches``: ``complete_file`` through the Batch API, at half the price.

Same input, same output file (one line per id, in input order, written from the same journal by
the same writer), but the requests go out as batches: split within the limits, uploaded, each
batch id recorded before anything else, polled until done. Calling it again with the same files
resumes: batches already submitted are polled, never submitted again; answers already journaled
are not asked for. ``cancel=True`` cancels the batches an earlier call submitted instead, keeps
what they finished, and writes the output with the rest marked ``cancelled``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ..engine import EngineConfig, Result
from ..engine.files import count_requests, read_requests, write_output
from ..errors import JOURNALED_KINDS, one_error
from ..rundir import open_output
from .config import BatchConfig
from .runner import BatchRunner, BatchStats

__all__ = ["BatchCompleteReport", "complete_file_in_batches"]


@dataclass(frozen=True)
class BatchCompleteReport:
    """What ``complete_file_in_batches`` did.

    ``errors`` counts the failed requests in the output by kind (a re-run sends them again);
    ``cancelled`` is how many batches a ``cancel=True`` call asked the server to cancel.
    """

    output: Path
    journal: Path
    ledger: Path
    lines: int
    errors: dict[str, int]
    stats: BatchStats
    cancelled: int
    elapsed: float


async def complete_file_in_batches(
    input: str | Path,
    output: str | Path,
    *,
    engine_config: EngineConfig,
    batch_config: BatchConfig | None = None,
    chat: bool = False,
    journal: str | Path | None = None,
    ledger: str | Path | None = None,
    progress: Callable[[BatchStats], None] | None = None,
    cancel: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> BatchCompleteReport:
    """Complete every request of a JSONL file through the Batch API; write the answers in input order.

    Args:
        input: JSONL, one ``{"id", "prompt" | "messages", ...params}`` per line.
        output: the JSONL to write (atomically, at the end), as ``complete_file`` writes it.
        engine_config: model, base URL (the first is used), key, default params, prices.
        batch_config: file limits, polling, retries (default :class:`BatchConfig`).
        chat: send each ``prompt`` as one user message to chat/completions.
        journal: the journal (default ``OUTPUT.journal``, as ``complete_file``: the two share it).
        ledger: the batch ledger (default beside the journal).
        progress: called with a :class:`BatchStats` after every poll round.
        cancel: cancel what an earlier call submitted instead of submitting.
        session: an ``aiohttp.ClientSession`` to use (left open).

    Raises:
        InputError: a bad input line (before anything is sent). APIError: the Files/Batches
            endpoints refused a call for a reason retrying cannot fix (re-run to resume).
    """
    source, output = Path(input), Path(output)
    count_requests(source, chat=chat)  # every line checked before anything is sent
    journal_path = Path(journal) if journal is not None else output.with_name(output.name + ".journal")
    unfinished: dict[str, Result] = {}

    def keep_failure(result: Result) -> None:
        if result.error is not None and result.error.kind not in JOURNALED_KINDS:
            unfinished[result.key] = result
        else:
            unfinished.pop(result.key, None)

    started = time.monotonic()
    asked = 0
    with open_output(output):  # one writer per output: a second is refused
        async with BatchRunner(
            engine_config,
            journal=journal_path,
            config=batch_config,
            ledger=ledger,
            session=session,
            on_result=keep_failure,
            progress=progress,
        ) as runner:
            if cancel:
                asked = await runner.cancel()
            else:
                with one_error():  # a full disk under many tasks is one error, not one per task
                    await runner.run(read_requests(source, chat=chat))
            lines, errors = write_output(source, output, chat, runner.journal, unfinished)
            return BatchCompleteReport(
                output=output,
                journal=journal_path,
                ledger=runner.ledger.path,
                lines=lines,
                errors=dict(errors),
                stats=runner.statistics(),
                cancelled=asked,
                elapsed=time.monotonic() - started,
            )
