"""``Engine``: many concurrent completions through a window, rate limiters, retries and a journal.

Data flow for one request: journal hit? -> replay. Otherwise: take a slot in the in-flight window
-> choose an endpoint -> wait in its rate limiter -> POST -> on success reconcile tokens, journal
the result, report it; on failure classify, maybe pause/shrink, back off and try again.

``run`` consumes its input lazily with a fixed pool of ``concurrency`` worker tasks (never one
task per input), so memory stays flat in the job size; results are yielded as they complete.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import anyio
import orjson
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from ..errors import (
    BAD_BODY_KINDS,
    CONGESTION_KINDS,
    JOURNALED_KINDS,
    STOP_IN_A_ROW,
    STOP_IN_A_ROW_KINDS,
    APIError,
    BudgetExceededError,
    ConfigError,
    EngineError,
    ErrorKind,
    QuotaExhaustedError,
    TransportError,
)
from .adaptive import AdaptiveWindow
from .clock import Clock, RealClock
from .config import EngineConfig
from .endpoints import Endpoint, EndpointPool
from .http import Completion, Transport, build_body, post_completion
from .journal import Journal
from .limits import Permit, RateLimiter, estimate_usage
from .requests import AnswerScope, ErrorInfo, Request, Result
from .retry import RetryPolicy
from .stats import EngineStats, StatsCollector

__all__ = ["Engine"]


@dataclasses.dataclass(slots=True)
class _Call:
    """One request on its way through the engine: what its attempts share, and their count."""

    request: Request
    key: str
    session: aiohttp.ClientSession
    body: bytes
    kind: str
    path: str
    guess: tuple[int, int]
    estimate: int
    started: float
    attempts: int = 0
    bad_bodies: int = 0


class _Attempt:
    """One try: where it went, its limiter permit, and its answer or failure."""

    __slots__ = ("completion", "endpoint", "epoch", "failure", "permit")

    def __init__(self, endpoint: Endpoint, permit: Permit, epoch: int) -> None:
        self.endpoint = endpoint
        self.permit = permit
        self.epoch = epoch
        self.completion: Completion | None = None
        self.failure: EngineError | None = None


class _Shared:
    """The answer of a request in flight, for identical requests that arrive meanwhile."""

    __slots__ = ("_event", "result")

    def __init__(self) -> None:
        self.result: Result | None = None
        self._event: anyio.Event | None = None  # made only when someone waits: most never do

    def set(self, result: Result) -> None:
        self.result = result
        if self._event is not None:
            self._event.set()

    async def wait(self) -> Result:
        if self.result is None:
            if self._event is None:
                self._event = anyio.Event()
            await self._event.wait()
        assert self.result is not None
        return self.result


class _Driver:
    """One ``run()``'s workers as the consumer sees them: a scope to cancel, done, their error."""

    __slots__ = ("done", "error", "scope")

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.error: Exception | None = None


class _Source:
    """The caller's requests, pulled one at a time (sync or async iterable), ``n`` fanned out."""

    def __init__(self, requests: Iterable[Request] | AsyncIterable[Request]) -> None:
        self._sync: Iterator[Request] | None = None
        self._async: AsyncIterator[Request] | None = None
        if isinstance(requests, AsyncIterable):
            self._async = requests.__aiter__()
        else:
            self._sync = iter(requests)
        self._lock = anyio.Lock()
        self._pending: deque[Request] = deque()
        self._done = False
        self.pulled = 0

    async def next(self) -> Request | None:
        if self._pending:
            return self._pending.popleft()
        if self._done:
            return None
        item: Any
        if self._sync is not None:
            try:
                item = next(self._sync)
            except StopIteration:
                self._done = True
                return None
        else:
            assert self._async is not None
            async with self._lock:  # an async generator must not be advanced concurrently
                if self._pending:
                    return self._pending.popleft()
                if self._done:
                    return None
                try:
                    item = await self._async.__anext__()
                except StopAsyncIteration:
                    self._done = True
                    return None
        if not isinstance(item, Request):
            raise ConfigError(f"Engine.run() takes Request objects, got {type(item).__name__}")
        self.pulled += 1
        parts = item.fan_out()
        self._pending.extend(parts[1:])
        return parts[0]


class Engine:
    """Run completions against one or more OpenAI-compatible endpoints.

    Use as ``async with Engine(config) as engine:`` then ``async for result in engine.run(requests)``
    or ``await engine.complete(request)``. Per-request failures never raise: the ``Result``
    carries an ``ErrorInfo``. ``insufficient_quota``, a reached budget, or ``STOP_IN_A_ROW``
    auth failures in a row stop the engine: later requests come back with error kind
    ``"quota"`` / ``"budget"`` / ``"auth"`` without a call, and ``stopped_reason`` (the kind) and
    ``stop_error`` (the exception, with a message) are set. The journal is keyed by request and
    by :class:`AnswerScope` (model and default params).

    Args:
        config: the engine settings.
        session: a caller-owned ``aiohttp.ClientSession`` (left open on exit); None = own one.
        journal: path of the durable journal; results already in it are replayed, not re-run.
        clock: time source for limiter waits and backoff (tests pass a ``FakeClock``).
        retry: the retry policy; default from ``config`` (max_retries, backoff_base/max).
        fsync_interval: see ``Journal``.
        transport: what sends one request (default ``post_completion``, over ``session``); unit
            tests pass one that answers without sockets.
    """

    def __init__(
        self,
        config: EngineConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        journal: str | Path | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        fsync_interval: float | None = 1.0,
        transport: Transport = post_completion,
    ) -> None:
        self.config = config
        self._transport = transport
        self.clock: Clock = clock or RealClock()
        self.retry = retry or RetryPolicy(
            max_retries=config.max_retries, base=config.backoff_base, cap=config.backoff_max
        )
        self.window = AdaptiveWindow(config.concurrency, adaptive=config.adaptive)
        self.pool = EndpointPool(config.base_urls, self._make_limiter, self.clock)
        self.journal = (
            None
            if journal is None
            else Journal(journal, fsync_interval=fsync_interval, scope=AnswerScope.of(config))
        )
        self.stopped_reason: ErrorKind | None = None
        self.stop_error: EngineError | None = None
        self._session = session
        self._owns_session = session is None
        self._stats = StatsCollector(self.clock.now())
        self._inflight: dict[str, _Shared] = {}
        self._stop_run = 0  # results in a row that failed with one of STOP_IN_A_ROW_KINDS
        self._open = False
        self._tasks: TaskGroup | None = None  # every run()'s driver runs here, inside 'async with'
        headers = {"Content-Type": "application/json", "User-Agent": "selfinstruct"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        headers.update(config.headers)
        self._headers = headers

    def _make_limiter(self) -> RateLimiter:
        cfg = self.config
        return RateLimiter(rpm=cfg.rpm, tpm=cfg.tpm, clock=self.clock, window=cfg.limit_window)

    # -- life cycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        if self._open:
            raise RuntimeError("this Engine is already open")
        if self.journal is not None:
            self.journal.open()
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)
        tasks = anyio.create_task_group()
        await tasks.__aenter__()
        self._tasks = tasks
        self._open = True
        self._stats = StatsCollector(self.clock.now())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        try:
            tasks, self._tasks = self._tasks, None
            if tasks is not None:
                # Runs still going (a loop left without closing its generator) stop here, before
                # the journal closes. Drivers keep their errors to themselves, so none comes out.
                tasks.cancel_scope.cancel()
                await tasks.__aexit__(None, None, None)
        finally:
            try:
                if self.journal is not None:
                    self.journal.close()
            finally:
                if self._owns_session and self._session is not None:
                    session, self._session = self._session, None
                    await session.close()

    def _check_open(self) -> aiohttp.ClientSession:
        if not self._open or self._session is None:
            raise RuntimeError("use the engine inside 'async with Engine(...) as engine:'")
        return self._session

    # -- public API ---------------------------------------------------------------------------

    async def run(self, requests: Iterable[Request] | AsyncIterable[Request]) -> AsyncIterator[Result]:
        """Yield a ``Result`` for every request (one per sample when ``n > 1``) as they complete.

        Inputs are pulled lazily: at most ``concurrency`` (plus the fan-out of one request) ahead
        of the results. Journaled results are replayed without a call. Leaving the loop early
        cancels what is in flight (use ``contextlib.aclosing`` to do it deterministically).
        """
        self._check_open()
        assert self._tasks is not None
        send, receive = anyio.create_memory_object_stream[Result](max_buffer_size=self.config.concurrency)
        driver = _Driver()
        self._tasks.start_soon(self._drive, _Source(requests), send, driver)
        try:
            while True:
                # Drain without a scheduler pass per item (receive() checkpoints every call, which
                # would cap throughput at one result per event-loop iteration).
                try:
                    result = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        result = await receive.receive()
                    except anyio.EndOfStream:
                        break
                except anyio.EndOfStream:
                    break
                yield result
            await driver.done.wait()
            if driver.error is not None:  # a failure of the input iterator
                raise driver.error
        finally:
            # Stop the workers before closing the stream, so none fails on a closed stream.
            driver.scope.cancel()
            with anyio.CancelScope(shield=True):  # wait even when we are being cancelled
                await driver.done.wait()
            receive.close()

    async def complete(self, request: Request) -> Result:
        """Run one single-sample request through the same window, limiters, retries and journal."""
        if request.n > 1:
            raise ConfigError(
                "complete() returns one Result: use run() for n > 1, or one request per sample="
            )
        self._check_open()
        key = request.key
        stats = self._stats
        if self.journal is not None:
            replay = self.journal.get(key, request)
            if replay is not None:
                stats.from_journal += 1
                stats.note_done(self.clock.now())
                return replay
        pending = self._inflight.get(key)
        if pending is not None:  # the same content is already on its way: share its answer
            shared = await pending.wait()
            return dataclasses.replace(shared, request=request)
        future = self._inflight[key] = _Shared()
        try:
            result = await self._execute(request, key)
        except BaseException as error:
            future.set(
                self._failure(request, key, ErrorKind.CANCELLED, f"the shared request failed: {error!r}")
            )
            raise
        finally:
            del self._inflight[key]
        future.set(result)
        if result.ok:
            stats.succeeded += 1
        else:
            stats.failed += 1
            stats.errors[str(result.error.kind) if result.error else "unknown"] += 1
        stats.note_done(self.clock.now())
        return result

    def statistics(self) -> EngineStats:
        """A frozen snapshot of what the engine has done so far."""
        return self._stats.snapshot(
            now=self.clock.now(),
            in_flight=self.window.in_flight,
            concurrency=self.window.size,
            limiters=tuple(e.limiter.statistics() for e in self.pool.endpoints),
        )

    # -- internals ------------------------------------------------------------------------------

    async def _drive(self, source: _Source, send: MemoryObjectSendStream[Result], driver: _Driver) -> None:
        """Run ``concurrency`` workers over ``source``; keep an error for the consumer to raise."""
        try:
            with driver.scope:
                async with send, anyio.create_task_group() as group:
                    for _ in range(self.config.concurrency):
                        group.start_soon(self._worker, source, send)
        except Exception as error:  # raised in the consumer's task by run(), not in the engine's
            driver.error = error
        finally:
            driver.done.set()

    async def _worker(self, source: _Source, send: MemoryObjectSendStream[Result]) -> None:
        while True:
            request = await source.next()
            if request is None:
                return
            result = await self.complete(request)
            try:
                send.send_nowait(result)
            except anyio.WouldBlock:
                await send.send(result)

    def _failure(
        self,
        request: Request,
        key: str,
        kind: ErrorKind | str,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 0,
        request_id: str | None = None,
        code: str | None = None,
        latency: float = 0.0,
    ) -> Result:
        error = ErrorInfo(kind, message, status, attempts, request_id, code)
        return Result(request, key, None, None, None, error, attempts=attempts, latency=latency)

    def _stopped(self, request: Request, key: str, attempts: int) -> Result:
        reason = self.stopped_reason or ErrorKind.CANCELLED
        return self._failure(request, key, reason, f"not run: {self.stop_error}", attempts=attempts)

    def _stop(self, error: EngineError, kind: ErrorKind) -> None:
        if self.stopped_reason is None:
            self.stopped_reason = kind
            self.stop_error = error

    def _account(self, prompt_tokens: int, completion_tokens: int) -> None:
        cfg, stats = self.config, self._stats
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += completion_tokens
        stats.cost += cfg.cost(prompt_tokens, completion_tokens)
        total = stats.prompt_tokens + stats.completion_tokens
        if cfg.max_total_tokens is not None and total >= cfg.max_total_tokens:
            self._stop(
                BudgetExceededError(
                    f"token budget reached: {total:,} tokens used "
                    f"of --max-total-tokens {cfg.max_total_tokens:,}"
                ),
                ErrorKind.BUDGET,
            )
        if cfg.max_cost is not None and stats.cost >= cfg.max_cost:
            self._stop(
                BudgetExceededError(
                    f"cost budget reached: ${stats.cost:.4f} spent of --max-cost ${cfg.max_cost:g}"
                ),
                ErrorKind.BUDGET,
            )

    def _note_final_failure(self, failure: EngineError, cause: ErrorKind) -> None:
        """Stop once ``STOP_IN_A_ROW`` requests in a row failed with a ``STOP_IN_A_ROW_KINDS`` cause."""
        if cause not in STOP_IN_A_ROW_KINDS:
            return
        self._stop_run += 1
        if self._stop_run >= STOP_IN_A_ROW:
            status = failure.status if isinstance(failure, APIError) else None
            self._stop(
                APIError(
                    f"{self._stop_run} requests in a row failed with {cause} (last: {failure}); "
                    "check the API key (OPENAI_API_KEY) and that it may use this model, then re-run "
                    "the same command to resume",
                    status=status or 401,
                ),
                cause,
            )

    async def _execute(self, request: Request, key: str) -> Result:
        """Call until the request succeeds, fails for good, or the engine stops."""
        call = self._prepare(request, key)
        while True:
            if self.stopped_reason is not None:
                return self._stopped(request, key, call.attempts)
            attempt = await self._attempt(call)
            if attempt is None:  # the engine stopped while this request waited in the limiter
                return self._stopped(request, key, call.attempts)
            if attempt.failure is None:
                return self._on_success(call, attempt)
            outcome = self._on_failure(call, attempt, attempt.failure)
            if isinstance(outcome, Result):
                return outcome
            if outcome > 0:
                await self.clock.sleep(outcome)

    def _prepare(self, request: Request, key: str) -> _Call:
        """What every attempt of one request shares: the body, the path, the token estimate."""
        cfg = self.config
        kind = request.kind
        guess = estimate_usage(
            request.prompt,
            request.messages,
            {**cfg.default_params, **request.params},
            completion_estimate=cfg.completion_estimate,
        )
        return _Call(
            request,
            key,
            self._check_open(),
            orjson.dumps(build_body(request, cfg.model, cfg.default_params)),
            kind,
            "/chat/completions" if kind == "chat" else "/completions",
            guess,
            sum(guess),
            self.clock.now(),
        )

    async def _attempt(self, call: _Call) -> _Attempt | None:
        """One try: a window slot, an endpoint, a limiter permit, the transport call.

        Returns None when the engine stopped while the request waited for its permit.
        """
        epoch = await self.window.acquire()
        try:
            endpoint = self.pool.choose()
            endpoint.outstanding += 1
            try:
                permit = await endpoint.limiter.acquire(call.estimate)
                if self.stopped_reason is not None:
                    return None
                call.attempts += 1
                self._stats.requests += 1
                endpoint.sent += 1
                attempt = _Attempt(endpoint, permit, epoch)
                try:
                    attempt.completion = await self._transport(
                        call.session,
                        endpoint.url + call.path,
                        call.body,
                        kind=call.kind,
                        headers=self._headers,
                        timeout=self.config.timeout,
                    )
                except (APIError, TransportError) as error:
                    attempt.failure = error
                return attempt
            finally:
                endpoint.outstanding -= 1
        finally:
            self.window.release()

    def _on_success(self, call: _Call, attempt: _Attempt) -> Result:
        """Reconcile tokens and limits, count, journal (durable before it is reported)."""
        completion = attempt.completion
        assert completion is not None
        usage = completion.usage
        limiter = attempt.endpoint.limiter
        limiter.settle(attempt.permit, usage.total_tokens if usage is not None else call.estimate)
        limiter.observe(completion.rate_limits)
        self.pool.record_success(attempt.endpoint)
        self.window.on_success()
        latency = self.clock.now() - call.started
        self._stats.latencies.append(latency)
        self._stop_run = 0
        if usage is not None:
            self._account(usage.prompt_tokens, usage.completion_tokens)
        else:  # missing or unreadable usage: budgets and cost count the estimate
            self._stats.usage_estimated += 1
            self._account(*call.guess)
        result = Result(
            call.request,
            call.key,
            completion.text,
            completion.finish_reason,
            usage,
            None,
            attempts=call.attempts,
            latency=latency,
            model=completion.model or self.config.model,
        )
        if self.journal is not None:
            self.journal.append(result)
        return result

    def _on_failure(self, call: _Call, attempt: _Attempt, failure: EngineError) -> Result | float:
        """Classify a failed try: pause or shrink, maybe stop; the final ``Result``, or seconds to wait."""
        cause = failure.kind
        endpoint, limiter = attempt.endpoint, attempt.endpoint.limiter
        status = retry_after = request_id = code = None
        if isinstance(failure, APIError):
            status, retry_after = failure.status, failure.retry_after
            request_id, code = failure.request_id, failure.code
            if failure.rate_limits is not None:
                limiter.observe(failure.rate_limits)
        if cause == ErrorKind.RATE_LIMIT and retry_after is not None:
            # The server said how long to wait: everyone waits, not just this request.
            limiter.pause(retry_after)
        elif cause in CONGESTION_KINDS or status == 503:
            # No instructions (a bare 429, a 503, a timeout): find the server's limit by
            # shrinking the in-flight window (AIMD).
            self.window.on_congestion(attempt.epoch)
        self.pool.record_failure(endpoint, cause)
        if isinstance(failure, QuotaExhaustedError):
            self._stop_for_quota(failure)
        if cause in BAD_BODY_KINDS:
            call.bad_bodies += 1
        if not self.retry.should_retry(cause, call.attempts, call.bad_bodies):
            self._note_final_failure(failure, cause)
            result = self._failure(
                call.request,
                call.key,
                cause,
                str(failure),
                status=status,
                attempts=call.attempts,
                request_id=request_id,
                code=code,
                latency=self.clock.now() - call.started,
            )
            if self.journal is not None and cause in JOURNALED_KINDS:
                self.journal.append(result)
            return result
        self._stats.retries[cause.value] += 1
        if cause == ErrorKind.CONNECTION and self.pool.healthy_alternative(endpoint):
            return 0.0  # fail over to another endpoint at once
        return self.retry.delay(call.attempts - 1, retry_after)

    def _stop_for_quota(self, failure: QuotaExhaustedError) -> None:
        self._stop(
            QuotaExhaustedError(
                "the account has no quota left (insufficient_quota); add credit or use another key, "
                "then re-run the same command to resume",
                status=failure.status,
                request_id=failure.request_id,
                code=failure.code,
            ),
            ErrorKind.QUOTA,
        )
