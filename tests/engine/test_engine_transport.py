"""The engine's retry, pause and stop decisions, driven through a scripted transport (no sockets)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import pytest

from selfinstruct.engine import Engine, EngineConfig, Request, Usage
from selfinstruct.engine.clock import FakeClock
from selfinstruct.engine.http import Completion, RateLimitInfo
from selfinstruct.errors import APIError, ErrorKind, QuotaExhaustedError, TransportError

pytestmark = pytest.mark.anyio

Reply = Completion | APIError | TransportError


def answer(text: str) -> Completion:
    """A successful completion with usage, as ``post_completion`` would parse it."""
    return Completion(text, "stop", Usage(3, 2), None, RateLimitInfo(), 1, "m")


class ScriptedTransport:
    """Answers each call with the next scripted reply (raising the errors); records what was sent."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        *,
        kind: str,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Completion:
        self.calls.append((url, orjson.loads(body)))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def engine(transport: ScriptedTransport, clock: FakeClock, **overrides: Any) -> Engine:
    """An engine with a fake base URL (never dialled) and the scripted transport."""
    values: dict[str, Any] = {"model": "m", "base_urls": ["http://no.such.host/v1"], "api_key": None}
    values.update(overrides)
    return Engine(EngineConfig(**values), clock=clock, transport=transport)


async def test_server_error_is_retried_after_a_backoff() -> None:
    """A 500 is retried after a jittered backoff within the policy's first cap; the answer comes back."""
    clock = FakeClock()
    transport = ScriptedTransport(APIError("boom", status=500), answer("fine"))
    async with engine(transport, clock, backoff_base=0.5) as eng:
        result = await eng.complete(Request(prompt="p", params={"max_tokens": 4}))
    assert result.ok, result.error
    assert (result.text, result.attempts) == ("fine", 2)
    assert eng.statistics().retries == {"server": 1}
    assert len(clock.sleeps) == 1
    assert 0.0 <= clock.sleeps[0] <= 0.5
    url, body = transport.calls[0]
    assert url == "http://no.such.host/v1/completions"
    assert body == {"model": "m", "max_tokens": 4, "prompt": "p"}


async def test_rate_limit_waits_for_retry_after() -> None:
    """A 429 with Retry-After waits exactly that long (virtual time) and pauses the endpoint's limiter."""
    clock = FakeClock()
    transport = ScriptedTransport(APIError("slow down", status=429, retry_after=2.5), answer("later"))
    async with engine(transport, clock) as eng:
        result = await eng.complete(Request(prompt="p"))
    (limiter,) = eng.statistics().limiters
    assert limiter.paused_until == pytest.approx(2.5)
    assert (limiter.admitted, limiter.waiting) == (2, 0)
    assert result.text == "later"
    assert clock.sleeps == [2.5]
    assert clock.now() == pytest.approx(2.5)
    assert eng.statistics().retries == {"rate_limit": 1}


async def test_bad_bodies_get_only_their_own_retry_budget() -> None:
    """Invalid bodies stop after BAD_BODY_RETRIES retries although max_retries allows more."""
    clock = FakeClock()
    bad = [TransportError("not JSON", kind=ErrorKind.INVALID_BODY) for _ in range(10)]
    transport = ScriptedTransport(*bad)
    async with engine(transport, clock, max_retries=8) as eng:
        result = await eng.complete(Request(prompt="p"))
    assert result.error is not None
    assert result.error.kind == ErrorKind.INVALID_BODY
    assert result.attempts == 3
    assert len(transport.calls) == 3
    assert eng.statistics().failed == 1


async def test_quota_stops_later_requests_without_a_call() -> None:
    """insufficient_quota sets stopped_reason; the next request fails with 'quota' and is never sent."""
    clock = FakeClock()
    transport = ScriptedTransport(QuotaExhaustedError("no money", status=429, code="insufficient_quota"))
    async with engine(transport, clock) as eng:
        first = await eng.complete(Request(prompt="a"))
        second = await eng.complete(Request(prompt="b"))
    assert eng.stopped_reason == ErrorKind.QUOTA
    assert first.error is not None
    assert first.error.kind == ErrorKind.QUOTA
    assert second.error is not None
    assert second.error.kind == ErrorKind.QUOTA
    assert (second.attempts, len(transport.calls)) == (0, 1)
