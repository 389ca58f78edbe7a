"""``BatchRunner``: requests in, batches out, results into the same journal the online engine uses.

Life of a request: queued -> written into a batch input file (split within the limits) ->
uploaded -> the batch created, its id **recorded in the ledger before anything else** -> polled
(with backoff) until the batch is done -> its output and error files downloaded -> the answer
journaled under the request's key. A retryable failure (5xx, 429, a timeout, an expired batch)
goes back to the queue for a new batch, up to ``max_rounds`` times.

Resuming: requests inside batches the ledger knows are never submitted again; those batches
are polled and collected. Answers already in the journal are replayed without a call. So a
process killed at any moment and started again pays for nothing twice.

Two ways in: ``await runner.run(requests)`` for a known set (``complete --batch``), or
``runner.drive()`` in a task while other tasks ``await runner.complete(request)`` and finally
``runner.close_input()`` (``run --batch``: requests arrive as instructions are accepted).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import anyio
import orjson

from ..engine import Clock, EngineConfig, ErrorInfo, Journal, RealClock, Request, Result, RetryPolicy
from ..engine.requests import AnswerScope
from ..errors import JOURNALED_KINDS, RETRYABLE_KINDS, APIError, ConfigError, ErrorKind
from .client import BatchClient, BatchInfo
from .config import BatchConfig
from .files import ENDPOINTS, request_from_line, split_into_files
from .ledger import Ledger, Part
from .results import LineOutcome, read_result_file

__all__ = ["BatchRunner", "BatchStats", "ledger_path"]

_KIND_OF_ENDPOINT = {path: kind for kind, path in ENDPOINTS.items()}
# Batches listed when looking for one created just before a kill (newest first, 100 a page).
_RECOVERY_PAGES = 20


def ledger_path(journal: str | Path) -> Path:
    """Where the batch ledger of a journal lives: ``journal.jsonl`` -> ``journal.batches.jsonl``."""
    journal = Path(journal)
    return journal.with_name(f"{journal.stem}.batches.jsonl")


@dataclass(frozen=True)
class BatchStats:
    """What a batch job has done so far.

    ``open_batches`` counts this job's unfinished batches by status (``validating``,
    ``in_progress``, ``finalizing``, ``cancelling``); ``finished_batches`` the collected ones by
    final status. ``requests`` counts distinct requests handed in (not replayed); ``queued`` wait
    for a batch; ``in_batches`` are inside open batches, ``server_done`` of them already done by
    the server's count. ``resubmitted`` counts requests sent again after a retryable failure.
    ``batches_created`` were created by this process, ``batches_resumed`` found in the ledger
    (and ``batches_adopted`` found on the server after a kill between creating and recording).
    ``cost`` applies the batch discount.
    """

    open_batches: Mapping[str, int]
    finished_batches: Mapping[str, int]
    requests: int
    replayed: int
    queued: int
    in_batches: int
    server_done: int
    succeeded: int
    failed: int
    resubmitted: int
    errors: Mapping[str, int]
    batches_created: int
    batches_resumed: int
    batches_adopted: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    elapsed: float

    @property
    def done(self) -> int:
        """Requests with a final outcome (answered or failed for good)."""
        return self.succeeded + self.failed


@dataclass
class _Counters:
    requests: int = 0
    replayed: int = 0
    succeeded: int = 0
    failed: int = 0
    resubmitted: int = 0
    created: int = 0
    resumed: int = 0
    adopted: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


class BatchRunner:
    """Run requests through the Batch API of ``engine_config``'s first base URL.

    Args:
        engine_config: model, base URL, API key, default params, prices (the cost applies
            ``config.discount``), budgets (checked between batches).
        journal: the durable results (same format as the online engine's); answers in it are
            replayed without a call. A path, or an open :class:`Journal` shared with an engine
            (``engine.journal``: one writer per file), which is then left open.
        config: batch settings.
        ledger: the batch ledger; default beside the journal (:func:`ledger_path`).
        session: a caller-owned ``aiohttp.ClientSession`` (left open); None = own one.
        clock: for poll intervals and backoff.
        on_result: called with each final result this runner produces (not for replays).
        progress: called with a :class:`BatchStats` after every poll round.
    """

    def __init__(
        self,
        engine_config: EngineConfig,
        *,
        journal: str | Path | Journal,
        config: BatchConfig | None = None,
        ledger: str | Path | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        on_result: Callable[[Result], None] | None = None,
        progress: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.engine_config = engine_config
        self.config = config or BatchConfig()
        self._owns_journal = not isinstance(journal, Journal)
        self.journal = (
            journal if isinstance(journal, Journal) else Journal(journal, scope=AnswerScope.of(engine_config))
        )
        self.ledger = Ledger(ledger if ledger is not None else ledger_path(self.journal.path))
        self.spool = self.ledger.path.with_name(self.ledger.path.name.removesuffix(".jsonl") + ".files")
        self.clock: Clock = clock or RealClock()
        self.on_result = on_result
        self.progress = progress
        self.stopped_reason: ErrorKind | None = None
        self._retry = retry
        self._session = session
        self._owns_session = session is None
        self._client: BatchClient | None = None
        self._queue: dict[str, Request] = {}
        self._queued_since: float | None = None
        self._last_arrival = 0.0
        self._known: dict[str, Request] = {}
        self._waiters: dict[str, list[tuple[Request, asyncio.Future[Result]]]] = {}
        self._open_keys: set[str] = set()
        self._rounds: Counter[str] = Counter()
        self._status: dict[str, BatchInfo] = {}
        self._finished: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._counters = _Counters()
        self._closed = False
        self._cancelling = False
        self._hold_until_collect = False
        self._recovered = False
        self._wake = anyio.Event()
        self._started = self.clock.now()

    # -- life cycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> BatchRunner:
        cfg = self.engine_config
        if self._owns_journal:
            self.journal.open()
        try:
            self.ledger.open()
        except BaseException:
            if self._owns_journal:
                self.journal.close()
            raise
        self._open_keys = self.ledger.open_keys()
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))
        headers = {"User-Agent": "selfinstruct"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        headers.update(cfg.headers)
        self._client = BatchClient(
            cfg.base_urls[0],
            self._session,
            headers=headers,
            retry=self._retry
            or RetryPolicy(max_retries=max(cfg.max_retries, 3), base=cfg.backoff_base, cap=cfg.backoff_max),
            clock=self.clock,
            timeout=self.config.api_timeout,
        )
        self._started = self.clock.now()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._owns_journal:
                self.journal.close()
            self.ledger.close()
        finally:
            for waiters in self._waiters.values():
                for _, future in waiters:
                    future.cancel()
            self._waiters.clear()
            if self._owns_session and self._session is not None:
                session, self._session = self._session, None
                await session.close()

    @property
    def client(self) -> BatchClient:
        if self._client is None:
            raise RuntimeError("use the runner inside 'async with BatchRunner(...) as runner:'")
        return self._client

    # -- feeding --------------------------------------------------------------------------------

    def add(self, request: Request) -> Result | None:
        """Hand in one single-sample request; a result when one is there at once, else None.

        The result at once is the journaled answer (no call), or a failure when the job has
        stopped (budget reached).

        Raises:
            ConfigError: ``n > 1`` (fan it out first) or the runner is closed for input.
        """
        if request.n > 1:
            raise ConfigError("BatchRunner takes single-sample requests: use request.fan_out() for n > 1")
        key = request.key
        replay = self.journal.get(key, request)
        if replay is not None:
            self._counters.replayed += 1
            return replay
        if key in self._known:
            return None
        if self._closed:
            raise ConfigError("this BatchRunner takes no more requests (close_input() was called)")
        self._known[key] = request
        self._counters.requests += 1
        if self.stopped_reason is not None:
            stopped = ErrorInfo(ErrorKind.BUDGET, "not run: the token or cost budget was reached")
            return self._final(key, request, stopped)
        if key not in self._open_keys:
            if not self._queue:
                self._queued_since = self.clock.now()
            self._last_arrival = self.clock.now()
            self._queue[key] = request
            self._wake.set()
        return None

    async def complete(self, request: Request) -> Result:
        """One request's result, once its batch is in (the ``Completer`` protocol).

        Needs :meth:`drive` running in another task.
        """
        replay = self.add(request)
        if replay is not None:
            return replay
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request.key, []).append((request, future))
        return await future

    def close_input(self) -> None:
        """No more requests will come: submit what is queued now and finish when all are in."""
        self._closed = True
        self._wake.set()

    async def run(self, requests: Iterable[Request]) -> BatchStats:
        """Run every request (``n > 1`` fanned out) to an outcome; return the statistics."""
        for request in requests:
            for single in request.fan_out():
                self.add(single)
        self.close_input()
        await self.drive()
        return self.statistics()

    # -- the loop -------------------------------------------------------------------------------

    async def drive(self) -> None:
        """Submit queued requests and poll open batches until the input is closed and all are in."""
        await self._recover()
        interval = self.config.poll_interval
        next_poll = self.clock.now()
        while True:
            now = self.clock.now()
            if self._flush_due(now):
                await self._flush()
            open_parts = [p for p in self.ledger.open_parts() if p.batch_id is not None]
            if not open_parts and not self._queue and self._closed:
                break
            if open_parts and self.clock.now() >= next_poll:
                changed = await self._poll(open_parts)
                interval = self.config.poll_interval if changed else min(interval * 1.5, self.config.poll_max)
                next_poll = self.clock.now() + interval
                self._report()
                continue
            deadlines = [next_poll] if open_parts else []
            if self._queue and not self._held() and self._queued_since is not None:
                deadlines.append(self._queued_since + self.config.flush_after)
                deadlines.append(self._last_arrival + self.config.flush_idle)
            await self._wait(min(deadlines) - self.clock.now() if deadlines else None)
        self._report()

    def _held(self) -> bool:
        """True while new batches must wait (open-batch cap, or the provider's enqueued-token limit)."""
        open_count = sum(1 for _ in self.ledger.open_parts())
        if self._hold_until_collect and open_count:
            return True
        cap = self.config.max_open_batches
        return cap is not None and open_count >= cap

    def _flush_due(self, now: float) -> bool:
        if not self._queue or self._held():
            return False
        if self._closed or len(self._queue) >= self.config.max_requests_per_file:
            return True
        if now - self._last_arrival >= self.config.flush_idle:
            return True  # nothing new is coming for now: do not keep these waiting
        return self._queued_since is not None and now - self._queued_since >= self.config.flush_after

    async def _wait(self, seconds: float | None) -> None:
        """Sleep for ``seconds`` (None: no limit) or until a request arrives, whichever is first."""
        if self._wake.is_set():
            self._wake = anyio.Event()
            return
        wake = self._wake

        async def wait_for(awaitable: Any, scope: anyio.CancelScope) -> None:
            await awaitable
            scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(wait_for, wake.wait(), group.cancel_scope)
            if seconds is not None:
                group.start_soon(wait_for, self.clock.sleep(max(seconds, 0.0)), group.cancel_scope)
        if wake.is_set():
            self._wake = anyio.Event()

    # -- submitting -----------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write the queue into batch files (within the limits), upload each and create its batch."""
        queued = list(self._queue.values())
        self._queue.clear()
        self._queued_since = None
        cfg = self.engine_config
        prefix = f"queued-{os.getpid()}-{time.monotonic_ns()}"
        spooled = split_into_files(
            queued,
            self.spool,
            model=cfg.model,
            default_params=cfg.default_params,
            limits=self.config.limits,
            prefix=prefix,
        )
        for file in spooled:
            cap = self.config.max_open_batches
            if cap is not None and sum(1 for _ in self.ledger.open_parts()) >= cap:
                # Over the cap: put the rest back, in order, for when a batch is collected.
                self._requeue_file(file.path)
                for rest in spooled:
                    self._requeue_file(rest.path)
                return
            name = self.ledger.next_name()
            path = self.spool / f"{name}.input.jsonl"
            file.path.replace(path)
            file_id = await self.client.upload(path)
            round_ = max((self._rounds[key] for key in file.keys), default=0)
            part = self.ledger.uploaded(
                name, endpoint=file.endpoint, keys=file.keys, round=round_, file_id=file_id
            )
            self._open_keys.update(file.keys)
            await self._create(part)

    def _requeue_file(self, path: Path) -> None:
        with open(path, "rb") as handle:
            for raw in handle:
                key = orjson.loads(raw)["custom_id"]
                request = self._known.get(key)
                if request is not None:
                    if not self._queue:
                        self._queued_since = self.clock.now()
                    self._queue[key] = request
        path.unlink(missing_ok=True)

    async def _create(self, part: Part) -> None:
        metadata = {"selfinstruct_part": part.name, **self.config.metadata}
        info = await self.client.create(part.file_id, part.endpoint, metadata=metadata)
        self.ledger.created(part, info.id)  # before anything else: a kill now still finds it
        self._status[part.name] = info
        self._counters.created += 1

    async def _recover(self) -> None:
        """Pick up the ledger's open parts: poll created batches; finish parts cut off mid-creation."""
        if self._recovered:
            return
        self._recovered = True
        for part in list(self.ledger.open_parts()):
            if part.batch_id is not None:
                self._counters.resumed += 1
                continue
            found = await self._find_batch(part)
            if found is not None:
                self.ledger.created(part, found.id)
                self._status[part.name] = found
                self._counters.adopted += 1
                continue
            try:
                await self._create(part)
            except APIError as error:
                if error.status != 404:
                    raise
                # The uploaded file is gone: nothing was submitted from it; queue its requests anew.
                self.ledger.collected(part, {"abandoned": f"input file {part.file_id} not found"})
                self._open_keys.difference_update(part.keys)
                for key in part.keys:
                    request = self._known.get(key)
                    if request is not None and key not in self.journal:
                        if not self._queue:
                            self._queued_since = self.clock.now()
                        self._queue[key] = request

    async def _find_batch(self, part: Part) -> BatchInfo | None:
        """The batch created over ``part``'s file before a kill left it unrecorded, if any."""
        after = None
        for _ in range(_RECOVERY_PAGES):
            batches, more = await self.client.list(after=after)
            for info in batches:
                if info.input_file_id == part.file_id:
                    return info
            if not more or not batches or batches[-1].created_at < part.uploaded_at - 3600:
                return None
            after = batches[-1].id
        return None

    # -- polling and collecting -----------------------------------------------------------------

    async def _poll(self, parts: list[Part]) -> bool:
        """Check each open batch; collect the finished ones. True when some status changed."""
        changed = False
        for part in parts:
            assert part.batch_id is not None
            info = await self.client.retrieve(part.batch_id)
            previous = self._status.get(part.name)
            if previous is None or previous.status != info.status:
                changed = True
            self._status[part.name] = info
            if info.terminal:
                await self._collect(part, info)
        return changed

    async def _collect(self, part: Part, info: BatchInfo) -> None:
        """Journal a finished batch's answers, requeue what is worth retrying, close the part."""
        outcomes, unreadable = await self._download(part, info)
        failed_lines = self._validation_failures(part, info)
        counts: Counter[str] = Counter()
        rebuilt = _Rebuilder(self.spool / f"{part.name}.input.jsonl")
        for key in part.keys:
            request = self._known.get(key) or rebuilt.request(key)
            if key in self.journal:  # collected before a kill; nothing to do again
                counts["already_journaled"] += 1
                self._settle_from_journal(key, request)
                continue
            outcome = outcomes.get(key)
            if outcome is not None and outcome.completion is not None:
                self._succeed(key, request, outcome)
                counts["ok"] += 1
                continue
            # An error the server tied to this request is the request's own; one it did not
            # (the batch failed as a whole, or said nothing) is not kept: a re-run tries again.
            error = outcome.error if outcome is not None else failed_lines.get(key)
            own = error is not None
            if error is None:
                error = self._missing(info, others_named=bool(failed_lines))
            if self._retryable(part, info, key, error):
                self._requeue(key, request)
                counts["resubmitted"] += 1
            else:
                counts[f"failed_{error.kind}"] += 1
                self._final(key, request, error, journal=own and error.kind in JOURNALED_KINDS)
        if unreadable:
            counts["unreadable_lines"] = unreadable
        self._hold_until_collect = any(code == "token_limit_exceeded" for code, _, _ in info.errors)
        self.ledger.collected(part, {"status": info.status, **counts})
        self._open_keys.difference_update(part.keys)
        self._finished[info.status] += 1
        for label in ("input", "output", "errors"):
            (self.spool / f"{part.name}.{label}.jsonl").unlink(missing_ok=True)
        self._check_budget()

    async def _download(self, part: Part, info: BatchInfo) -> tuple[dict[str, LineOutcome], int]:
        """The outcome of each of the part's requests in its error and output files; unreadable lines."""
        kind = _KIND_OF_ENDPOINT.get(part.endpoint, "chat")
        outcomes: dict[str, LineOutcome] = {}
        unreadable = 0
        members = set(part.keys)
        self.spool.mkdir(parents=True, exist_ok=True)
        for label, file_id in (("errors", info.error_file_id), ("output", info.output_file_id)):
            if file_id is None:
                continue
            path = self.spool / f"{part.name}.{label}.jsonl"
            await self.client.download(file_id, path)
            for outcome in read_result_file(path, kind):
                if outcome is None or outcome.key not in members:
                    unreadable += 1
                    continue
                outcomes[outcome.key] = outcome  # the output file is read last: an answer wins
        return outcomes, unreadable

    def _requeue(self, key: str, request: Request) -> None:
        """Send a request again in a later batch (after a retryable failure)."""
        self._rounds[key] += 1
        self._counters.resubmitted += 1
        if not self._queue:
            self._queued_since = self.clock.now()
        self._queue[key] = request
        self._known[key] = request

    def _validation_failures(self, part: Part, info: BatchInfo) -> dict[str, ErrorInfo]:
        """Errors of a batch that failed validation, by the key of the line they name."""
        if info.status != "failed":
            return {}
        failures: dict[str, ErrorInfo] = {}
        for code, message, line in info.errors:
            if line is not None and 1 <= line <= len(part.keys):
                key = part.keys[line - 1]
                failures[key] = ErrorInfo(ErrorKind.BAD_REQUEST, f"{code}: {message}", 400, 1, None, code)
        return failures

    def _missing(self, info: BatchInfo, *, others_named: bool) -> ErrorInfo:
        """The error of a request the batch's files say nothing about."""
        if info.status == "failed" and others_named:
            # Refused because of other lines of its file: send it again without them.
            return ErrorInfo(ErrorKind.SERVER, f"batch {info.id} failed validation because of other requests")
        if info.status == "failed":
            detail = "; ".join(f"{code}: {message}" for code, message, _ in info.errors) or "no reason given"
            if any(code == "token_limit_exceeded" for code, _, _ in info.errors):
                return ErrorInfo(ErrorKind.RATE_LIMIT, f"batch {info.id} was refused: {detail}", None, 1)
            # Not journaled (only lines named by the server are): a re-run sends them again.
            return ErrorInfo(ErrorKind.BAD_REQUEST, f"batch {info.id} failed validation: {detail}", None, 1)
        return ErrorInfo(ErrorKind.INVALID_BODY, f"batch {info.id} ({info.status}) returned no result for it")

    def _retryable(self, part: Part, info: BatchInfo, key: str, error: ErrorInfo) -> bool:
        if self._cancelling or part.cancel_requested or self.stopped_reason is not None:
            return False
        if error.kind == ErrorKind.RATE_LIMIT and any(
            code == "token_limit_exceeded" for code, _, _ in info.errors
        ):
            # Refused for the enqueued-token limit: wait for a batch of ours to finish, then resend.
            return self._rounds[key] < max(self.config.max_rounds, 1) * 10
        return error.kind in RETRYABLE_KINDS and self._rounds[key] < self.config.max_rounds

    def _succeed(self, key: str, request: Request, outcome: LineOutcome) -> None:
        completion = outcome.completion
        assert completion is not None
        usage = completion.usage
        result = Result(
            request,
            key,
            completion.text,
            completion.finish_reason,
            usage,
            None,
            attempts=self._rounds[key] + 1,
            model=completion.model or self.engine_config.model,
        )
        self.journal.append(result)
        counters = self._counters
        counters.succeeded += 1
        if usage is not None:
            counters.prompt_tokens += usage.prompt_tokens
            counters.completion_tokens += usage.completion_tokens
            config = self.engine_config
            standard = config.cost(usage.prompt_tokens, usage.completion_tokens) / config.price_factor
            counters.cost += standard * self.config.discount
        self._deliver(result)

    def _settle_from_journal(self, key: str, request: Request) -> None:
        result = self.journal.get(key, request)
        if result is not None:
            self._deliver(result)

    def _final(self, key: str, request: Request, error: ErrorInfo, *, journal: bool = False) -> Result:
        result = Result(request, key, None, None, None, error, attempts=error.attempts)
        if journal:
            self.journal.append(result)
        self._counters.failed += 1
        self._errors[str(error.kind)] += 1
        self._deliver(result)
        return result

    def _deliver(self, result: Result) -> None:
        key = result.key
        self._known.pop(key, None)
        for request, future in self._waiters.pop(key, []):
            if not future.done():
                future.set_result(dataclasses.replace(result, request=request))
        if self.on_result is not None:
            self.on_result(result)

    def _check_budget(self) -> None:
        cfg, counters = self.engine_config, self._counters
        total = counters.prompt_tokens + counters.completion_tokens
        over_tokens = cfg.max_total_tokens is not None and total >= cfg.max_total_tokens
        over_cost = cfg.max_cost is not None and counters.cost >= cfg.max_cost
        if (over_tokens or over_cost) and self.stopped_reason is None:
            self.stopped_reason = ErrorKind.BUDGET
            queued, self._queue = self._queue, {}
            for key, request in queued.items():
                budget = ErrorInfo(ErrorKind.BUDGET, "not run: the token or cost budget was reached")
                self._final(key, request, budget)

    # -- cancelling -----------------------------------------------------------------------------

    async def cancel(self) -> int:
        """Cancel this job's open batches, collect what they finished; return how many were asked.

        Requests still queued fail with ``cancelled``; answers the batches completed before the
        cancel took effect are journaled (they are paid for).
        """
        await self._recover()
        self._cancelling = True
        queued, self._queue = self._queue, {}
        for key, request in queued.items():
            self._final(key, request, ErrorInfo(ErrorKind.CANCELLED, "not run: the batch job was cancelled"))
        asked = 0
        for part in list(self.ledger.open_parts()):
            if part.batch_id is None:
                continue
            info = await self.client.cancel(part.batch_id)
            self.ledger.cancel_requested(part)
            if info is not None:
                self._status[part.name] = info
                asked += 1
        self.close_input()
        await self.drive()
        return asked

    # -- reporting ------------------------------------------------------------------------------

    def statistics(self) -> BatchStats:
        """A frozen snapshot of the job so far."""
        open_batches: Counter[str] = Counter()
        in_batches = server_done = 0
        for part in self.ledger.open_parts():
            info = self._status.get(part.name)
            open_batches[info.status if info is not None else "submitting"] += 1
            in_batches += len(part.keys)
            if info is not None:
                server_done += info.completed + info.failed
        c = self._counters
        return BatchStats(
            open_batches=dict(open_batches),
            finished_batches=dict(self._finished),
            requests=c.requests,
            replayed=c.replayed,
            queued=len(self._queue),
            in_batches=in_batches,
            server_done=server_done,
            succeeded=c.succeeded,
            failed=c.failed,
            resubmitted=c.resubmitted,
            errors=dict(self._errors),
            batches_created=c.created,
            batches_resumed=c.resumed,
            batches_adopted=c.adopted,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            cost=c.cost,
            elapsed=self.clock.now() - self._started,
        )

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.statistics())


class _Rebuilder:
    """Requests rebuilt from a part's spooled input file, for answers whose caller is gone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: dict[str, Mapping[str, Any]] | None = None

    def request(self, key: str) -> Request:
        if self._lines is None:
            self._lines = {}
            if self.path.exists():
                with open(self.path, "rb") as handle:
                    for raw in handle:
                        line = orjson.loads(raw)
                        self._lines[line["custom_id"]] = line
        line = self._lines.get(key)
        if line is None:
            return Request(prompt="", params={})
        return request_from_line(line)
