"""The RPM/TPM limiter, the AIMD window and the virtual clock, all on virtual time."""

from __future__ import annotations

import bisect

import anyio
import pytest

from selfinstruct.engine.adaptive import AdaptiveWindow
from selfinstruct.engine.clock import FakeClock
from selfinstruct.engine.http import RateLimitInfo
from selfinstruct.engine.limits import RateLimiter, estimate_tokens

pytestmark = pytest.mark.anyio


def max_in_window(times: list[float], window: float = 60.0, weights: list[float] | None = None) -> float:
    """The largest count (or weight sum) of events in any half-open window [t, t + window)."""
    order = sorted(range(len(times)), key=times.__getitem__)
    stamps = [times[i] for i in order]
    costs = [1.0 if weights is None else weights[i] for i in order]
    prefix = [0.0]
    for cost in costs:
        prefix.append(prefix[-1] + cost)
    best = 0.0
    for start, stamp in enumerate(stamps):
        end = bisect.bisect_left(stamps, stamp + window)
        best = max(best, prefix[end] - prefix[start])
    return best


async def admit_all(limiter: RateLimiter, clock: FakeClock, costs: list[int]) -> list[float]:
    """Start one task per cost (in order) and return each admission time."""
    times = [0.0] * len(costs)

    async def one(index: int, cost: int) -> None:
        await limiter.acquire(cost)
        times[index] = clock.now()

    async with anyio.create_task_group() as group:
        for index, cost in enumerate(costs):
            group.start_soon(one, index, cost)
            await anyio.lowlevel.checkpoint()
    return times


@pytest.mark.parametrize("rpm", [pytest.param(30, id="rpm30"), pytest.param(600, id="rpm600")])
async def test_requests_never_exceed_rpm_in_any_window(rpm: int) -> None:
    """No 60 s window holds more than rpm admissions, and the limit is used (>= 95%) when saturated."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=rpm, clock=clock)
    times = await admit_all(limiter, clock, [0] * (rpm * 4))
    assert max_in_window(times) <= rpm
    per_minute = (len(times) - 1) / (max(times) - min(times)) * 60.0
    assert per_minute >= 0.95 * rpm


async def test_no_initial_burst() -> None:
    """A fresh limiter paces from the start: no second holds more than rpm/60 plus the 0.1 s tolerance."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=600, clock=clock, burst=0.1)
    times = await admit_all(limiter, clock, [0] * 100)
    assert max_in_window(times, window=1.0) <= 600 / 60 + 2


async def test_tokens_never_exceed_tpm_and_stay_fifo() -> None:
    """Mixed token costs never exceed the TPM in a window, and admissions follow arrival order."""
    clock = FakeClock()
    limiter = RateLimiter(tpm=10_000, clock=clock)
    costs = [300, 4000, 50, 2500, 100, 6000, 10, 800] * 6
    times = await admit_all(limiter, clock, costs)
    assert max_in_window(times, weights=[float(c) for c in costs]) <= 10_000
    assert times == sorted(times), "a large request was overtaken by later small ones"


async def test_settle_reconciles_estimate_with_usage() -> None:
    """Over-estimated tokens are given back after the call, so the next request starts sooner."""
    clock = FakeClock()
    limiter = RateLimiter(tpm=1000, clock=clock, burst=0.0)
    permit = await limiter.acquire(900)
    limiter.settle(permit, 100)
    await limiter.acquire(800)
    assert clock.now() <= 6.1  # 100 tokens at 1000/min pace = 6 s (+1% margin), not 54 s


async def test_pause_holds_everyone() -> None:
    """A Retry-After pause delays every waiting request, not just the one that got the 429."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.pause(5.0)
    times = await admit_all(limiter, clock, [0] * 10)
    assert min(times) >= 5.0


async def test_observe_headers_learns_limit_and_pauses() -> None:
    """x-ratelimit headers: an announced limit tightens ours; an exhausted remainder pauses until reset."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=1000, clock=clock)
    limiter.observe(RateLimitInfo(limit_requests=60, remaining_requests=0, reset_requests=7.5))
    assert limiter.rpm == 60
    await limiter.acquire()
    assert clock.now() == pytest.approx(7.5)


async def test_cancelled_waiter_does_not_block_queue() -> None:
    """Cancelling a queued request lets the ones behind it through."""
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, clock=clock, burst=0.0)
    await limiter.acquire()
    scopes: list[anyio.CancelScope] = []
    done: list[str] = []

    async def doomed() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await limiter.acquire()
            done.append("doomed")

    async def second() -> None:
        await limiter.acquire()
        done.append("second")

    async with anyio.create_task_group() as group:
        group.start_soon(doomed)
        await anyio.lowlevel.checkpoint()
        group.start_soon(second)
        await anyio.lowlevel.checkpoint()
        scopes[0].cancel()
    assert done == ["second"]
    assert clock.now() == pytest.approx(1.01)  # one request per second, plus the 1% margin


def test_estimate_counts_prompt_and_max_tokens() -> None:
    """The pre-call token estimate is about chars/4 plus max_tokens (or the default estimate)."""
    assert estimate_tokens("x" * 400, None, {"max_tokens": 50}) == 150
    assert estimate_tokens("x" * 4, None, {}, completion_estimate=10) == 11


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    """Concurrent virtual sleeps finish in deadline order at their own deadlines."""
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper, "long", 10.0)
        group.start_soon(sleeper, "short", 5.0)
        group.start_soon(sleeper, "mid", 7.0)
    assert woke == [("short", 5.0), ("mid", 7.0), ("long", 10.0)]


async def test_adaptive_window_halves_once_per_round_and_grows_back() -> None:
    """AIMD: congestion from one round halves the window once; successes grow it back to the maximum."""
    window = AdaptiveWindow(64)
    epochs = [await window.acquire() for _ in range(10)]
    for epoch in epochs:
        window.release()
        window.on_congestion(epoch)
    assert window.size == 32
    assert window.decreases == 1
    for _ in range(5000):
        window.on_success()
    assert window.size == 64


async def test_adaptive_window_bounds_in_flight() -> None:
    """No more than the window's size are inside at once, and waiters get slots in order."""
    window = AdaptiveWindow(3, adaptive=False)
    peak = 0
    order: list[int] = []

    async def job(index: int) -> None:
        nonlocal peak
        await window.acquire()
        peak = max(peak, window.in_flight)
        order.append(index)
        await anyio.lowlevel.checkpoint()
        window.release()

    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(job, index)
    assert peak <= 3
    assert order == list(range(20))
