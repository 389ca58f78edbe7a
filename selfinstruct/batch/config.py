"""``BatchConfig``: how requests are grouped into batches, how often they are polled, what is retried."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..engine.config import DISCOUNT_RATE
from ..errors import ConfigError
from .files import MAX_BYTES, MAX_REQUESTS, FileLimits

__all__ = ["BATCH_DISCOUNT", "BatchConfig"]

#: What the Batch API costs relative to the standard price (OpenAI: 50%, as the flex tier).
BATCH_DISCOUNT = DISCOUNT_RATE


@dataclass(frozen=True, kw_only=True)
class BatchConfig:
    """Settings of a batch job.

    Args:
        max_requests_per_file, max_bytes_per_file: split input files within these (OpenAI's
            limits are 50,000 requests and 200 MB, the defaults).
        poll_interval: seconds before the first status check; the interval grows by half after
            each check that saw no status change, up to ``poll_max``, and starts over on a change.
        max_rounds: how many times a request that failed for a retryable cause (5xx, 429,
            timeout, an expired batch) is sent again in a new batch.
        flush_after: for requests that arrive over time (``run --batch``): submit what is queued
            once the oldest queued request has waited this long (seconds), or a file is full...
        flush_idle: ...or once no new request has come for this long (seconds).
        max_open_batches: most batches of this job in flight at once (None: no limit; the
            provider's enqueued-token limit also applies and is honoured when hit).
        discount: the batch price as a share of the standard one, for the cost accounting.
        metadata: attached to every batch (OpenAI shows it in the dashboard).
        api_timeout: seconds per Files/Batches call (uploads and downloads can be large).
    """

    max_requests_per_file: int = MAX_REQUESTS
    max_bytes_per_file: int = MAX_BYTES
    poll_interval: float = 10.0
    poll_max: float = 120.0
    max_rounds: int = 3
    flush_after: float = 60.0
    flush_idle: float = 5.0
    max_open_batches: int | None = None
    discount: float = BATCH_DISCOUNT
    metadata: Mapping[str, str] = field(default_factory=dict)
    api_timeout: float = 600.0

    def __post_init__(self) -> None:
        FileLimits(max_requests=self.max_requests_per_file, max_bytes=self.max_bytes_per_file)
        for name in ("poll_interval", "poll_max", "api_timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"BatchConfig.{name} must be a positive number of seconds, got {value!r}")
        if self.poll_max < self.poll_interval:
            raise ConfigError("BatchConfig.poll_max must be >= poll_interval")
        for name in ("flush_after", "flush_idle"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"BatchConfig.{name} must be >= 0 seconds, got {value!r}")
        if self.max_rounds < 0:
            raise ConfigError(f"BatchConfig.max_rounds must be >= 0, got {self.max_rounds!r}")
        if self.max_open_batches is not None and self.max_open_batches < 1:
            raise ConfigError("BatchConfig.max_open_batches must be >= 1 or None")
        if not 0 <= self.discount <= 1:
            raise ConfigError(f"BatchConfig.discount must be in [0, 1], got {self.discount!r}")

    @property
    def limits(self) -> FileLimits:
        """The per-file limits."""
        return FileLimits(max_requests=self.max_requests_per_file, max_bytes=self.max_bytes_per_file)
