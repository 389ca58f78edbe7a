"""Helpers for the Batch API tests: a hand-moved server clock, engine and batch settings."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from selfinstruct.batch import BatchConfig
from selfinstruct.engine import EngineConfig
from selfinstruct.testing.server import FakeOpenAIServer


class StepClock:
    """A server clock that moves only when told (``advance``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


BatchServerFactory = Callable[..., AbstractAsyncContextManager[FakeOpenAIServer]]


def engine_config(server: FakeOpenAIServer, **overrides: Any) -> EngineConfig:
    """An engine config for the fake server (model ``m``, a dummy key)."""
    values: dict[str, Any] = {"model": "m", "base_urls": [server.base_url], "api_key": "sk-test"}
    values.update(overrides)
    return EngineConfig(**values)


def fast_batches(**overrides: Any) -> BatchConfig:
    """Batch settings that poll every few milliseconds."""
    values: dict[str, Any] = {"poll_interval": 0.005, "poll_max": 0.02, "flush_after": 0.01}
    values.update(overrides)
    return BatchConfig(**values)
