"""``Engine``: many concurrent completions through a window, rate limiters, retries and a journal.

Data flow for one request: journal hit? -> replay. Otherwise: take a slot in the in-flight window
-> choose an endpoint -> wait in its rate limiter -> POST -> on success reconcile tokens, journal
the result, report it; on failure classify, maybe pause/shrink, back off and try again.

``run`` consumes its input lazily with a fixed pool of ``concurrency`` worker tasks (never one
task per input), so memory stays flat in the job size; results are yielded as they complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import anyio
import orjson
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
from .endpoints import EndpointPool
from .http import build_body, post_completion
from .journal import Journal
from .limits import RateLimiter, estimate_usage
from .requests import AnswerScope, ErrorInfo, Request, Result
from .retry import RetryPolicy
from .stats import EngineStats, StatsCollector

__all__ = ["Engine"]


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
    ) -> None:
        self.config = config
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
        self._inflight: dict[str, asyncio.Future[Result]] = {}
        self._stop_run = 0  # results in a row that failed with one of STOP_IN_A_ROW_KINDS
        self._open = False
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
        self._open = True
        self._stats = StatsCollector(self.clock.now())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
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
        send, receive = anyio.create_memory_object_stream[Result](max_buffer_size=self.config.concurrency)
        driver = asyncio.ensure_future(self._drive(_Source(requests), send))
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
            await driver  # re-raises a failure of the input iterator
        finally:
            # Stop the workers before closing the stream, so none fails on a closed stream.
            if not driver.done():
                driver.cancel()
                await asyncio.wait([driver])
            elif not driver.cancelled():
                driver.exception()  # mark it retrieved; it was raised above if we got that far
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
            shared = await asyncio.shield(pending)
            return dataclasses.replace(shared, request=request)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._execute(request, key)
        except BaseException as error:
            future.set_result(
                self._failure(request, key, ErrorKind.CANCELLED, f"the shared request failed: {error!r}")
            )
            raise
        finally:
            del self._inflight[key]
        if not future.done():
            future.set_result(result)
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
            limiter_wait=sum(e.limiter.wait_time for e in self.pool.endpoints),
        )

    # -- internals ------------------------------------------------------------------------------

    async def _drive(self, source: _Source, send: MemoryObjectSendStream[Result]) -> None:
        async with send, anyio.create_task_group() as group:
            for _ in range(self.config.concurrency):
                group.start_soon(self._worker, source, send)

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
        cfg, clock, stats, retry = self.config, self.clock, self._stats, self.retry
        session = self._check_open()
        body = orjson.dumps(build_body(request, cfg.model, cfg.default_params))
        kind = request.kind
        path = "/chat/completions" if kind == "chat" else "/completions"
        guess = estimate_usage(
            request.prompt,
            request.messages,
            {**cfg.default_params, **request.params},
            completion_estimate=cfg.completion_estimate,
        )
        estimate = sum(guess)
        started = clock.now()
        attempts = bad_bodies = 0
        while True:
            if self.stopped_reason is not None:
                return self._stopped(request, key, attempts)
            epoch = await self.window.acquire()
            try:
                endpoint = self.pool.choose()
                endpoint.outstanding += 1
                try:
                    permit = await endpoint.limiter.acquire(estimate)
                    if self.stopped_reason is not None:
                        return self._stopped(request, key, attempts)
                    attempts += 1
                    stats.requests += 1
                    endpoint.sent += 1
                    failure: EngineError | None = None
                    try:
                        completion = await post_completion(
                            session,
                            endpoint.url + path,
                            body,
                            kind=kind,
                            headers=self._headers,
                            timeout=cfg.timeout,
                        )
                    except (APIError, TransportError) as error:
                        failure = error
                finally:
                    endpoint.outstanding -= 1
            finally:
                self.window.release()

            limiter = endpoint.limiter
            if failure is None:
                usage = completion.usage
                limiter.settle(permit, usage.total_tokens if usage is not None else estimate)
                limiter.observe(completion.rate_limits)
                self.pool.record_success(endpoint)
                self.window.on_success()
                latency = clock.now() - started
                stats.latencies.append(latency)
                self._stop_run = 0
                if usage is not None:
                    self._account(usage.prompt_tokens, usage.completion_tokens)
                else:  # missing or unreadable usage: budgets and cost count the estimate
                    stats.usage_estimated += 1
                    self._account(*guess)
                result = Result(
                    request,
                    key,
                    completion.text,
                    completion.finish_reason,
                    usage,
                    None,
                    attempts=attempts,
                    latency=latency,
                    model=completion.model or cfg.model,
                )
                if self.journal is not None:
                    self.journal.append(result)  # durable before it is reported
                return result

            cause = failure.kind
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
                self.window.on_congestion(epoch)
            self.pool.record_failure(endpoint, cause)
            if isinstance(failure, QuotaExhaustedError):
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
            if cause in BAD_BODY_KINDS:
                bad_bodies += 1
            if not retry.should_retry(cause, attempts, bad_bodies):
                self._note_final_failure(failure, cause)
                result = self._failure(
                    request,
                    key,
                    cause,
                    str(failure),
                    status=status,
                    attempts=attempts,
                    request_id=request_id,
                    code=code,
                    latency=clock.now() - started,
                )
                if self.journal is not None and cause in JOURNALED_KINDS:
                    self.journal.append(result)
                return result
            stats.retries[cause.value] += 1
            if cause == ErrorKind.CONNECTION and self.pool.healthy_alternative(endpoint):
                continue  # fail over to another endpoint at once
            delay = retry.delay(attempts - 1, retry_after)
            if delay > 0:
                await clock.sleep(delay)
