"""Retries by cause against the fake server, error classification, and stopping conditions."""

from __future__ import annotations

import email.utils
from collections import Counter
from typing import Any

import pytest

from selfinstruct.engine import Engine, EngineConfig, Request
from selfinstruct.engine.clock import FakeClock
from selfinstruct.engine.http import parse_duration, parse_rate_limit_headers, parse_retry_after
from selfinstruct.testing.server import FakeReply

pytestmark = pytest.mark.anyio


def config(server: Any, **overrides: Any) -> EngineConfig:
    """An engine config pointed at the fake server (no API key, small backoff)."""
    values: dict[str, Any] = {"model": "m", "base_urls": [server.base_url], "api_key": None, "concurrency": 8}
    values.update(overrides)
    return EngineConfig(**values)


def failing_then_ok(failure: FakeReply, times: int) -> Any:
    """A responder that answers ``failure`` for the first ``times`` calls per prompt, then text."""
    seen: Counter[str] = Counter()

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        prompt = str(body.get("prompt"))
        seen[prompt] += 1
        if seen[prompt] <= times:
            return failure
        return f"ok {prompt}"

    return responder


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        pytest.param(FakeReply(status=429, headers={"retry-after-ms": "1500"}), "rate_limit", id="429"),
        pytest.param(FakeReply(status=500), "server", id="500"),
        pytest.param(FakeReply(status=503), "server", id="503"),
        pytest.param(FakeReply(status=502), "server", id="502"),
    ],
)
async def test_retryable_status_is_retried(fake_server: Any, reply: FakeReply, kind: str) -> None:
    """429 and 5xx are retried (on virtual time) until the request succeeds."""
    clock = FakeClock()
    async with fake_server(responder=failing_then_ok(reply, 2)) as server:
        async with Engine(config(server), clock=clock) as engine:
            result = await engine.complete(Request(prompt="p"))
        assert result.ok, result.error
        assert result.text == "ok p"
        assert result.attempts == 3
        assert engine.statistics().retries == {kind: 2}
        assert server.counts["requests"] == 3
    if kind == "rate_limit":
        assert clock.now() >= 3.0  # two waits of the server's retry-after-ms


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        pytest.param("rate_drop", "connection", id="dropped-connection"),
        pytest.param("rate_500", "server", id="server-error"),
        pytest.param("rate_429", "rate_limit", id="rate-limited"),
    ],
)
async def test_injected_faults_are_retried_to_success(fake_server: Any, fault: str, kind: str) -> None:
    """With 30% of one fault injected, every request still succeeds exactly once through retries.

    (Garbage 200 bodies get a small budget instead: test_faults_engine.)
    """
    async with fake_server(**{fault: 0.3, "seed": 7, "retry_after": 0.5}) as server:
        async with Engine(config(server, max_retries=20), clock=FakeClock()) as engine:
            results = [r async for r in engine.run(Request(prompt=f"q {i}", id=str(i)) for i in range(60))]
        assert sorted(int(r.request.id or -1) for r in results) == list(range(60))
        assert all(r.ok for r in results)
        assert engine.statistics().retries.get(kind, 0) > 0
        assert server.counts["ok"] == 60


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        pytest.param(FakeReply(status=400), "bad_request", id="400"),
        pytest.param(FakeReply(status=401), "auth", id="401"),
        pytest.param(FakeReply(status=403), "auth", id="403"),
        pytest.param(FakeReply(status=404), "not_found", id="404"),
        pytest.param(
            FakeReply(status=400, error_code="context_length_exceeded"), "context_length", id="context-length"
        ),
        pytest.param(
            FakeReply(status=400, error_message="This model's maximum context length is 4097 tokens"),
            "context_length",
            id="context-length-message",
        ),
        pytest.param(FakeReply(status=429, error_code="insufficient_quota"), "quota", id="quota"),
    ],
)
async def test_permanent_errors_are_not_retried(fake_server: Any, reply: FakeReply, kind: str) -> None:
    """400/401/403/404, context length and insufficient_quota fail at once with their cause."""
    async with fake_server(responder=failing_then_ok(reply, 100)) as server:
        async with Engine(config(server), clock=FakeClock()) as engine:
            result = await engine.complete(Request(prompt="p"))
        assert not result.ok
        assert result.error is not None
        assert result.error.kind == kind
        assert result.error.status == reply.status
        assert result.attempts == 1
        assert server.counts["requests"] == 1


async def test_retries_exhausted_give_error_result(fake_server: Any) -> None:
    """A request that keeps failing ends as an error Result with its cause and attempt count."""
    async with fake_server(rate_500=1.0) as server:
        async with Engine(config(server, max_retries=3), clock=FakeClock()) as engine:
            result = await engine.complete(Request(prompt="p"))
        assert result.error is not None
        assert (result.error.kind, result.error.status, result.error.attempts) == ("server", 500, 4)
        assert server.counts["requests"] == 4


async def test_timeout_is_classified_and_retried(fake_server: Any) -> None:
    """A server slower than the timeout gives error kind 'timeout' after the retries."""
    async with fake_server(latency=0.5) as server:
        async with Engine(config(server, timeout=0.05, max_retries=1), clock=FakeClock()) as engine:
            result = await engine.complete(Request(prompt="p"))
        assert result.error is not None
        assert result.error.kind == "timeout"
        assert result.attempts == 2


async def test_quota_stops_the_whole_job(fake_server: Any) -> None:
    """insufficient_quota stops the engine: later requests fail with kind 'quota' without a call."""
    quota = FakeReply(status=429, error_code="insufficient_quota")
    async with fake_server(responder=lambda kind, body: quota) as server:
        async with Engine(config(server, concurrency=1), clock=FakeClock()) as engine:
            results = [r async for r in engine.run(Request(prompt=f"q {i}") for i in range(20))]
        assert engine.stopped_reason == "quota"
        assert "insufficient_quota" in str(engine.stop_error)
        assert {r.error.kind for r in results if r.error} == {"quota"}
        assert len(results) == 20
        assert server.counts["requests"] == 1


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"max_total_tokens": 50}, id="tokens"),
        pytest.param({"max_cost": 0.0001, "prices": (1.0, 1.0)}, id="cost"),
    ],
)
async def test_budget_stops_cleanly(fake_server: Any, overrides: dict[str, Any]) -> None:
    """A token or cost budget stops the job: the rest come back as 'budget' errors, none lost."""
    async with fake_server() as server:
        async with Engine(config(server, concurrency=1, **overrides), clock=FakeClock()) as engine:
            results = [r async for r in engine.run(Request(prompt=f"a b c d e {i}") for i in range(100))]
        assert engine.stopped_reason == "budget"
        ok = [r for r in results if r.ok]
        assert 0 < len(ok) < 100
        assert all(r.error is not None and r.error.kind == "budget" for r in results if not r.ok)
        assert server.counts["ok"] == len(ok)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after-ms": "250"}, 0.25, id="ms"),
        pytest.param({"Retry-After": "3"}, 3.0, id="seconds"),
        pytest.param({"retry-after-ms": "100", "Retry-After": "9"}, 0.1, id="ms-wins"),
        pytest.param({"Retry-After": email.utils.formatdate(1000.0 + 42, usegmt=True)}, 42.0, id="http-date"),
        pytest.param({"Retry-After": "soon"}, None, id="unparseable"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After is read from retry-after-ms, seconds, or an HTTP date."""
    assert parse_retry_after(headers, now=1000.0) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("1s", 1.0, id="s"),
        pytest.param("6m0s", 360.0, id="m-s"),
        pytest.param("20ms", 0.02, id="ms"),
        pytest.param("1h2m3.5s", 3723.5, id="h-m-s"),
        pytest.param("2.5", 2.5, id="bare"),
        pytest.param("later", None, id="bad"),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    """x-ratelimit-reset durations parse like OpenAI writes them."""
    assert parse_duration(text) == (None if seconds is None else pytest.approx(seconds))


def test_parse_rate_limit_headers() -> None:
    """x-ratelimit-* headers are read into numbers and seconds."""
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m30s",
            "x-ratelimit-limit-tokens": "30000",
        }
    )
    assert (info.limit_requests, info.remaining_requests, info.reset_requests) == (500, 0, 90.0)
    assert info.limit_tokens == 30000
    assert info.remaining_tokens is None


async def test_server_rpm_limit_is_respected_with_headers(fake_server: Any) -> None:
    """Against a server enforcing 30 requests per 60 s, the engine learns the limit and sees few 429s."""
    clock = FakeClock()
    async with fake_server(rpm_limit=30, clock=clock) as server:
        async with Engine(config(server, concurrency=16, max_retries=10), clock=clock) as engine:
            results = [r async for r in engine.run(Request(prompt=f"q {i}") for i in range(90))]
        assert all(r.ok for r in results)
        assert server.counts["limit_exceeded"] <= 16  # at most the first wave before the headers teach it
        assert clock.now() >= 120.0  # 90 requests at 30 per minute need two more minutes


async def test_retry_after_pauses_the_whole_engine(fake_server: Any) -> None:
    """One 429 with Retry-After holds every new request until it ends, not just the one that got it."""
    clock = FakeClock()
    arrivals: list[float] = []
    told = False

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        nonlocal told
        arrivals.append(clock.now())
        if not told:
            told = True
            return FakeReply(status=429, headers={"retry-after-ms": "5000"})
        return "ok"

    async with fake_server(responder=responder, clock=clock) as server:
        async with Engine(config(server, concurrency=4), clock=clock) as engine:
            results = [r async for r in engine.run(Request(prompt=f"q {i}") for i in range(40))]
    assert all(r.ok for r in results)
    assert len(arrivals) == 41
    assert sum(1 for t in arrivals if t < 5.0) <= 4  # only those already in flight beat the pause
