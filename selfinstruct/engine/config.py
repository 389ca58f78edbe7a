"""``EngineConfig``: every knob of the engine, validated once."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["DEFAULT_BASE_URL", "DISCOUNTED_TIER", "DISCOUNT_RATE", "EngineConfig"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: What OpenAI's Batch API and its ``flex`` service tier cost as a share of the standard price.
DISCOUNT_RATE = 0.5
#: The ``service_tier`` billed at ``DISCOUNT_RATE``.
DISCOUNTED_TIER = "flex"


def _default_base_urls() -> tuple[str, ...]:
    return (os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,)


def _default_api_key() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """How the engine talks to the server(s).

    Args:
        model: model name sent with every request.
        base_urls: one or more OpenAI-compatible base URLs (``.../v1``); load is spread over them
            (least outstanding requests). Default: ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key: sent as a bearer token; default ``$OPENAI_API_KEY`` (none for local servers).
        concurrency: most requests in flight (per engine, over all endpoints).
        rpm, tpm: requests / tokens per minute allowed *per endpoint*; None = no client limit
            (``x-ratelimit-*`` headers from the server still apply).
        max_retries: retries per request for retryable causes (429, 5xx, timeouts, resets, bad bodies).
        timeout: seconds per attempt.
        adaptive: shrink the in-flight window on 429/503/timeouts and grow it back (AIMD).
        max_total_tokens, max_cost: stop the job cleanly once reached (cost needs ``prices``).
        prices: (input, output) USD per 1M tokens at the standard rate, for the running cost
            (``service_tier: "flex"`` in ``default_params`` is counted at ``DISCOUNT_RATE``).
        default_params: request fields merged under each request's own params (sampling
            params, ``service_tier``, anything else the server accepts).
        backoff_base, backoff_max: exponential backoff with full jitter: uniform(0, min(max, base*2**k)).
        completion_estimate: tokens assumed for the answer when a request sets no ``max_tokens``
            (the token limiter counts prompt + max_tokens before the call, actual usage after).
        headers: extra HTTP headers for every request.
        limit_window: the window ``rpm``/``tpm`` apply to, in seconds (60; shorter only to test or
            benchmark the limiter in less time).
    """

    model: str
    base_urls: Sequence[str] = field(default_factory=_default_base_urls)
    api_key: str | None = field(default_factory=_default_api_key)
    concurrency: int = 64
    rpm: float | None = None
    tpm: float | None = None
    max_retries: int = 6
    timeout: float = 120.0
    adaptive: bool = True
    max_total_tokens: int | None = None
    max_cost: float | None = None
    prices: tuple[float, float] | None = None
    default_params: Mapping[str, Any] = field(default_factory=dict)
    backoff_base: float = 0.5
    backoff_max: float = 60.0
    completion_estimate: int = 256
    headers: Mapping[str, str] = field(default_factory=dict)
    limit_window: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise ConfigError("EngineConfig.model must be a string (the model name the server serves)")
        urls = (self.base_urls,) if isinstance(self.base_urls, str) else tuple(self.base_urls)
        urls = tuple(u.rstrip("/") for u in urls if u)
        if not urls:
            raise ConfigError(
                "EngineConfig.base_urls is empty: pass at least one URL like http://host:8000/v1"
            )
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"base URL {url!r} must start with http:// or https://")
        if len(set(urls)) != len(urls):
            raise ConfigError("EngineConfig.base_urls lists the same URL twice")
        object.__setattr__(self, "base_urls", urls)
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(f"concurrency must be an integer >= 1, got {self.concurrency!r}")
        for name in ("rpm", "tpm", "max_cost"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a positive number or None, got {value!r}")
        if self.max_total_tokens is not None and self.max_total_tokens < 1:
            raise ConfigError(f"max_total_tokens must be >= 1 or None, got {self.max_total_tokens!r}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.prices is not None:
            prices = tuple(float(p) for p in self.prices)
            if len(prices) != 2 or any(p < 0 for p in prices):
                raise ConfigError("prices must be (input, output) USD per 1M tokens, both >= 0")
            object.__setattr__(self, "prices", prices)
        if self.max_cost is not None and self.prices is None:
            raise ConfigError("max_cost needs prices=(input, output) per 1M tokens (--price-in/--price-out)")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ConfigError("backoff_base and backoff_max must be >= 0")
        if not self.limit_window > 0:
            raise ConfigError(f"limit_window must be > 0 seconds, got {self.limit_window!r}")
        if self.completion_estimate < 0:
            raise ConfigError("completion_estimate must be >= 0")

    @property
    def price_factor(self) -> float:
        """The share of the standard price these requests are billed at (flex: ``DISCOUNT_RATE``)."""
        return DISCOUNT_RATE if self.default_params.get("service_tier") == DISCOUNTED_TIER else 1.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for the given tokens at ``prices`` and the tier's rate (0 when no prices are set)."""
        if self.prices is None:
            return 0.0
        price_in, price_out = self.prices
        return self.price_factor * (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000
