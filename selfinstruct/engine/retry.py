"""Which failures are retried and how long to wait: a small policy object."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["CONGESTION_KINDS", "RETRYABLE_KINDS", "RetryPolicy"]

# Causes a later attempt can fix. Everything else (bad_request, auth, not_found, context_length,
# quota) fails the request at once: retrying would only spend money or time.
RETRYABLE_KINDS = frozenset({"rate_limit", "server", "timeout", "connection", "invalid_body"})

# Causes that mean "the server is overloaded": the adaptive window shrinks on them (and on a 503),
# unless a 429 came with Retry-After, which is honoured by pausing instead.
CONGESTION_KINDS = frozenset({"rate_limit", "timeout"})


@dataclass(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring the server's Retry-After.

    ``delay(attempt)`` is ``uniform(0, min(cap, base * 2**attempt))`` (attempt counts from 0), or
    the server's Retry-After when it sent one. ``wait=False`` turns every wait into 0 (tests).
    """

    max_retries: int = 6
    base: float = 0.5
    cap: float = 60.0
    wait: bool = True
    rng: random.Random = field(default_factory=random.Random)

    def should_retry(self, kind: str, attempts: int) -> bool:
        """True when a failure of ``kind`` after ``attempts`` attempts deserves another one."""
        return kind in RETRYABLE_KINDS and attempts <= self.max_retries

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if not self.wait:
            return 0.0
        if retry_after is not None:
            return retry_after
        return self.rng.uniform(0.0, min(self.cap, self.base * 2.0**attempt))
