"""Which failures are retried and how long to wait: a small policy object."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import BAD_BODY_KINDS, BAD_BODY_RETRIES, CONGESTION_KINDS, RETRYABLE_KINDS

__all__ = ["CONGESTION_KINDS", "RETRYABLE_KINDS", "RetryPolicy"]


@dataclass(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring the server's Retry-After.

    ``delay(attempt)`` is ``uniform(0, min(cap, base * 2**attempt))`` (attempt counts from 0), or
    the server's Retry-After when it sent one. Which causes are retried is ``RETRYABLE_KINDS``
    (``selfinstruct.errors``); a 200 that is not an answer (``BAD_BODY_KINDS``: each may have been
    billed) is retried at most ``bad_body_retries`` times per request.
    """

    max_retries: int = 6
    bad_body_retries: int = BAD_BODY_RETRIES
    base: float = 0.5
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def should_retry(self, kind: str, attempts: int, bad_bodies: int = 0) -> bool:
        """True when a failure of ``kind`` after ``attempts`` attempts deserves another one.

        ``bad_bodies`` is how many of those attempts ended in a ``BAD_BODY_KINDS`` failure.
        """
        if kind not in RETRYABLE_KINDS or attempts > self.max_retries:
            return False
        return kind not in BAD_BODY_KINDS or bad_bodies <= self.bad_body_retries

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return retry_after
        return self.rng.uniform(0.0, min(self.cap, self.base * 2.0**attempt))
