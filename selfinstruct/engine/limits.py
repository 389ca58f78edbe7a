"""Requests-per-minute and tokens-per-minute limiter: FIFO, paced, never above the limit.

Two mechanisms work together, per dimension (requests, tokens):

* pacing (GCRA): a request may start once its theoretical arrival time is at most ``burst``
  seconds away; each start pushes that time by ``cost * window / limit``. This spreads requests
  evenly, so there is no burst above the limit at start-up (a fresh bucket is *not* full).
* a sliding log of what was admitted in the last ``window`` seconds: a request waits until the
  sum including it fits the limit. This is the hard guarantee: no window exceeds the limit.

Token costs are estimated before the call (prompt characters / 4 + max_tokens, the way OpenAI
counts them) and reconciled with the reported usage after it. ``pause(seconds)`` stops every new
start (a 429 with Retry-After slows the whole engine, not one request); ``observe`` reads
``x-ratelimit-*`` headers: announced limits tighten ours, an exhausted remainder pauses until reset.
Waiters are served strictly first come, first served, so a large request is never starved.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from .clock import Clock
from .http import RateLimitInfo

__all__ = ["LimiterStatistics", "Permit", "RateLimiter", "estimate_tokens", "estimate_usage"]


def estimate_tokens(
    prompt: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    params: Mapping[str, Any],
    *,
    completion_estimate: int = 256,
) -> int:
    """Tokens a request will count against a TPM limit: ~4 characters per token + max_tokens."""
    prompt_tokens, completion_tokens = estimate_usage(
        prompt, messages, params, completion_estimate=completion_estimate
    )
    return prompt_tokens + completion_tokens


def estimate_usage(
    prompt: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    params: Mapping[str, Any],
    *,
    completion_estimate: int = 256,
) -> tuple[int, int]:
    """(prompt, completion) tokens a request is assumed to use when the server does not say:
    ~4 characters per prompt token, and ``max_tokens`` (else ``completion_estimate``) for the answer."""
    chars = 0
    if prompt is not None:
        chars = len(prompt)
    elif messages is not None:
        for message in messages:
            content = message.get("content")
            if isinstance(content, str):
                chars += len(content) + 8  # role and separators
            elif isinstance(content, list):
                chars += sum(len(str(part.get("text", ""))) for part in content if isinstance(part, Mapping))
    max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
    completion = int(max_tokens) if isinstance(max_tokens, int) and max_tokens > 0 else completion_estimate
    return math.ceil(chars / 4), completion


class Permit:
    """An admitted request: remembers its token entry so usage can be reconciled."""

    __slots__ = ("entry", "tokens")

    def __init__(self, tokens: int, entry: list[float] | None) -> None:
        self.tokens = tokens
        self.entry = entry


@dataclass(frozen=True)
class LimiterStatistics:
    """A snapshot of one limiter (``EngineStats.limiters``).

    ``rpm``/``tpm`` are the limits in force (the lower of the configured and the server's
    announced ones, None = unlimited); ``waiting`` requests queue for a start; ``admitted`` and
    ``wait_time`` (seconds spent waiting, summed) count since the start; ``paused_until`` is the
    clock reading until which a server's Retry-After holds every start (-inf when never paused).
    """

    rpm: float | None
    tpm: float | None
    waiting: int
    admitted: int
    wait_time: float
    paused_until: float


class RateLimiter:
    """FIFO RPM/TPM limiter with an injectable clock.

    Args:
        rpm, tpm: limits per ``window`` seconds (None = unlimited unless the server announces one).
        clock: time source; tests pass a ``FakeClock``.
        window: the limit window in seconds (60 for per-minute limits).
        burst: pacing tolerance in seconds (how early a request may start ahead of the even pace).
        margin: the limit is kept over a window this much longer (1% by default), because a request
            reaches the server a little after it is admitted, and that delay varies: without the
            margin two admissions exactly one window apart can land inside one server window.
    """

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        clock: Clock,
        window: float = 60.0,
        burst: float = 0.1,
        margin: float = 0.01,
    ) -> None:
        self.clock = clock
        self.window = window
        self._span = window * (1.0 + margin)
        self.burst = burst
        self._configured_rpm = rpm
        self._configured_tpm = tpm
        self._learned_rpm: float | None = None
        self._learned_tpm: float | None = None
        self._queue: deque[anyio.Event] = deque()
        self._request_log: deque[float] = deque()
        self._token_log: deque[list[float]] = deque()
        self._token_sum = 0.0
        self._tat_requests = -math.inf
        self._tat_tokens = -math.inf
        self._paused_until = -math.inf
        self.admitted = 0
        self.wait_time = 0.0

    @property
    def rpm(self) -> float | None:
        """The requests limit in force: the lower of ours and the server's."""
        return _lower(self._configured_rpm, self._learned_rpm)

    @property
    def tpm(self) -> float | None:
        """The tokens limit in force: the lower of ours and the server's."""
        return _lower(self._configured_tpm, self._learned_tpm)

    def statistics(self) -> LimiterStatistics:
        """A frozen snapshot of this limiter."""
        return LimiterStatistics(
            rpm=self.rpm,
            tpm=self.tpm,
            waiting=len(self._queue),
            admitted=self.admitted,
            wait_time=self.wait_time,
            paused_until=self._paused_until,
        )

    def pause(self, seconds: float) -> None:
        """Hold every new start for ``seconds`` from now (extends, never shortens, a pause)."""
        self._paused_until = max(self._paused_until, self.clock.now() + max(seconds, 0.0))

    def observe(self, info: RateLimitInfo) -> None:
        """Take in what the server's ``x-ratelimit-*`` headers said."""
        if info.empty:
            return
        if info.limit_requests and info.limit_requests > 0:
            self._learned_rpm = info.limit_requests
        if info.limit_tokens and info.limit_tokens > 0:
            self._learned_tpm = info.limit_tokens
        if info.remaining_requests is not None and info.remaining_requests <= 0 and info.reset_requests:
            self.pause(info.reset_requests)
        if info.remaining_tokens is not None and info.remaining_tokens <= 0 and info.reset_tokens:
            self.pause(info.reset_tokens)

    async def acquire(self, tokens: int = 0) -> Permit:
        """Wait (FIFO) until a request costing ``tokens`` may start, and admit it."""
        rpm, tpm = self.rpm, self.tpm
        if rpm is None and tpm is None and not self._queue and self._paused_until <= self.clock.now():
            self.admitted += 1
            return Permit(tokens, None)
        event = anyio.Event()
        self._queue.append(event)
        try:
            if self._queue[0] is not event:
                await event.wait()
            started = self.clock.now()
            while True:
                now = self.clock.now()
                wait = self._wait(now, tokens)
                if wait <= 0:
                    break
                await self.clock.sleep(wait)
            self.wait_time += now - started
            return self._admit(now, tokens)
        finally:
            if self._queue and self._queue[0] is event:
                self._queue.popleft()
            else:
                try:
                    self._queue.remove(event)
                except ValueError:
                    pass
            if self._queue:
                self._queue[0].set()

    def settle(self, permit: Permit, actual_tokens: int) -> None:
        """Replace a permit's estimated tokens with the usage the server reported."""
        delta = actual_tokens - permit.tokens
        if not delta:
            return
        permit.tokens = actual_tokens
        tpm = self.tpm
        entry = permit.entry
        if entry is not None and entry[0] > -math.inf and tpm is not None:
            counted = float(min(actual_tokens, tpm))
            self._token_sum += counted - entry[1]
            entry[1] = counted
        if tpm and self._tat_tokens > -math.inf:
            self._tat_tokens += delta * self._span / tpm

    # -- internals ------------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        horizon = now - self._span
        log = self._request_log
        while log and log[0] <= horizon:
            log.popleft()
        tokens = self._token_log
        while tokens and tokens[0][0] <= horizon:
            entry = tokens.popleft()
            self._token_sum -= entry[1]
            entry[0] = -math.inf  # expired: a late settle() must not touch the running sum

    def _wait(self, now: float, tokens: int) -> float:
        """Seconds until a request of ``tokens`` may start (<= 0: now)."""
        self._expire(now)
        wait = self._paused_until - now
        rpm, tpm = self.rpm, self.tpm
        if rpm is not None:
            wait = max(wait, self._tat_requests - self.burst - now)
            allowed = max(int(rpm), 1)
            if len(self._request_log) >= allowed:
                wait = max(wait, self._request_log[-allowed] + self._span - now)
        if tpm is not None:
            cost = min(tokens, tpm)
            wait = max(wait, self._tat_tokens - self.burst - now)
            excess = self._token_sum + cost - tpm
            if excess > 0:
                freed = 0.0
                for stamp, spent in self._token_log:
                    freed += spent
                    if freed >= excess:
                        wait = max(wait, stamp + self._span - now)
                        break
        return wait

    def _admit(self, now: float, tokens: int) -> Permit:
        self.admitted += 1
        rpm, tpm = self.rpm, self.tpm
        if rpm is not None:
            self._request_log.append(now)
            self._tat_requests = max(self._tat_requests, now) + self._span / rpm
        entry = None
        if tpm is not None:
            entry = [now, float(min(tokens, tpm))]
            self._token_log.append(entry)
            self._token_sum += entry[1]
            self._tat_tokens = max(self._tat_tokens, now) + min(tokens, tpm) * self._span / tpm
        return Permit(tokens, entry)


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
