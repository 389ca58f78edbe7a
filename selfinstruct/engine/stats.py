"""Running counters and the frozen ``EngineStats`` snapshot returned by ``Engine.statistics()``."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from .limits import LimiterStatistics

__all__ = ["EngineStats", "StatsCollector"]


@dataclass(frozen=True)
class EngineStats:
    """What the engine has done so far.

    ``requests`` counts HTTP attempts; ``completed`` results reported (ok + failed + from
    journal); ``retries`` and ``errors`` are keyed by cause; latencies are per successful request
    (seconds, over the last 10,000); ``rate`` is results per second over the last ~10 s;
    ``limiter_wait`` is the total time requests spent waiting in rate limiters, ``limiters`` one
    snapshot per endpoint (in ``base_urls`` order: the limits in force, learned ones included);
    ``usage_estimated`` counts answers whose ``usage`` was missing or unreadable (their tokens and
    cost are estimated from the prompt and ``max_tokens``).
    """

    requests: int
    completed: int
    succeeded: int
    failed: int
    from_journal: int
    prompt_tokens: int
    completion_tokens: int
    retries: Mapping[str, int]
    errors: Mapping[str, int]
    latency_p50: float | None
    latency_p95: float | None
    rate: float
    in_flight: int
    concurrency: int
    limiter_wait: float
    cost: float
    elapsed: float
    usage_estimated: int = 0
    limiters: tuple[LimiterStatistics, ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class StatsCollector:
    """Mutable counters the engine updates; ``snapshot`` freezes them."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.requests = 0
        self.succeeded = 0
        self.failed = 0
        self.from_journal = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self.usage_estimated = 0
        self.retries: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=10_000)
        self._recent: deque[float] = deque()

    def note_done(self, now: float) -> None:
        recent = self._recent
        recent.append(now)
        while recent and recent[0] < now - 10.0:
            recent.popleft()

    def snapshot(
        self, *, now: float, in_flight: int, concurrency: int, limiters: tuple[LimiterStatistics, ...]
    ) -> EngineStats:
        ordered = sorted(self.latencies)
        recent = [t for t in self._recent if t >= now - 10.0]
        span = min(10.0, now - self.started)
        rate = len(recent) / span if span > 0 else 0.0
        return EngineStats(
            requests=self.requests,
            completed=self.succeeded + self.failed + self.from_journal,
            succeeded=self.succeeded,
            failed=self.failed,
            from_journal=self.from_journal,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            retries=dict(self.retries),
            errors=dict(self.errors),
            latency_p50=_quantile(ordered, 0.5),
            latency_p95=_quantile(ordered, 0.95),
            rate=rate,
            in_flight=in_flight,
            concurrency=concurrency,
            limiter_wait=sum(limiter.wait_time for limiter in limiters),
            cost=self.cost,
            elapsed=now - self.started,
            usage_estimated=self.usage_estimated,
            limiters=limiters,
        )
