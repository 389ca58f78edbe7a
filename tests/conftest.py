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


class LocalModelStub:
    """Stands in for ``selfinstruct.local.serve_local_model``: serves ``base_url`` and records model paths."""

    def __init__(self) -> None:
        self.base_url = ""
        self.model_paths: list[Any] = []

    @asynccontextmanager
    async def __call__(self, model_path: Any = None, **_: Any) -> AsyncIterator[Any]:
        from selfinstruct.local import LocalModel

        self.model_paths.append(model_path)
        yield LocalModel(base_url=self.base_url, model="tiny-local")


@pytest.fixture
def local_model_stub(monkeypatch: pytest.MonkeyPatch) -> LocalModelStub:
    """No endpoint configured, and the embedded model replaced by a stub; set ``.base_url`` to serve."""
    import selfinstruct.local as local

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    stub = LocalModelStub()
    monkeypatch.setattr(local, "serve_local_model", stub)
    return stub
