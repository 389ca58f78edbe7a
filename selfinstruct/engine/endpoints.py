"""Several base URLs: least-outstanding-requests choice, a limiter each, failover when one is down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import ENDPOINT_DOWN_KINDS, ErrorKind
from .clock import Clock
from .limits import RateLimiter

__all__ = ["Endpoint", "EndpointPool"]

# A connection failure takes an endpoint out at once (a down replica fails every request
# instantly, and with no requests outstanding it would otherwise always look least loaded);
# server errors and timeouts only after this many in a row.
_SOFT_FAILURES = 3
_MAX_DOWN = 30.0


@dataclass(eq=False)
class Endpoint:
    """One base URL with its own limiter and health."""

    url: str
    limiter: RateLimiter
    outstanding: int = 0
    sent: int = 0
    failures: int = 0
    down_until: float = field(default=float("-inf"))


class EndpointPool:
    """Chooses where the next request goes."""

    def __init__(self, urls: Sequence[str], make_limiter: Callable[[], RateLimiter], clock: Clock) -> None:
        self.endpoints = [Endpoint(url, make_limiter()) for url in urls]
        self.clock = clock
        self._turn = 0

    def choose(self) -> Endpoint:
        """The healthy endpoint with the fewest outstanding requests (ties rotate).

        When every endpoint is marked down, the one that comes back first is used.
        """
        endpoints = self.endpoints
        if len(endpoints) == 1:
            return endpoints[0]
        now = self.clock.now()
        healthy = [e for e in endpoints if e.down_until <= now]
        if not healthy:
            return min(endpoints, key=lambda e: e.down_until)
        self._turn += 1
        count = len(healthy)
        start = self._turn % count
        rotated = healthy[start:] + healthy[:start]
        return min(rotated, key=lambda e: e.outstanding)

    def healthy_alternative(self, endpoint: Endpoint) -> bool:
        """True when some other endpoint is up (so a retry can go there without waiting)."""
        now = self.clock.now()
        return any(e is not endpoint and e.down_until <= now for e in self.endpoints)

    def record_success(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0

    def record_failure(self, endpoint: Endpoint, kind: str) -> None:
        """Count a failure; take the endpoint out for a growing while when it looks down."""
        if kind not in ENDPOINT_DOWN_KINDS:
            return
        endpoint.failures += 1
        hard = kind == ErrorKind.CONNECTION
        if hard or endpoint.failures >= _SOFT_FAILURES:
            strikes = max(endpoint.failures - (0 if hard else _SOFT_FAILURES - 1), 1)
            endpoint.down_until = self.clock.now() + min(_MAX_DOWN, 0.5 * 2.0 ** (strikes - 1))
