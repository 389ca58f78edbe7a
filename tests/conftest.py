"""Top-level fixtures: a virtual clock and a factory for the fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from selfinstruct.engine.clock import FakeClock
from selfinstruct.testing.server import FakeOpenAIServer, FakeServerConfig, Responder


@pytest.fixture
def fake_clock() -> FakeClock:
    """A virtual clock starting at t=0 that jumps forward instead of sleeping."""
    return FakeClock()


FakeServerFactory = Callable[..., AbstractAsyncContextManager[FakeOpenAIServer]]


@pytest.fixture
def fake_server() -> FakeServerFactory:
    """Factory: ``async with fake_server(latency=..., responder=..., clock=...) as server:``.

    Keyword arguments other than ``responder`` and ``clock`` go to ``FakeServerConfig``.
    """

    @asynccontextmanager
    async def factory(
        *, responder: Responder | None = None, clock: Any = None, **config: Any
    ) -> AsyncIterator[FakeOpenAIServer]:
        server = FakeOpenAIServer(
            FakeServerConfig(**config), responder, clock=None if clock is None else clock.now
        )
        async with server:
            yield server

    return factory
