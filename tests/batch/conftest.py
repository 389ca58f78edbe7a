"""Fixtures for the Batch API tests: a fake server with the Batch API on a fast virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from batch_helpers import BatchServerFactory, StepClock

from selfinstruct.testing.server import FakeBatchConfig, FakeOpenAIServer, FakeServerConfig, Responder


@pytest.fixture
def batch_server() -> BatchServerFactory:
    """Factory: ``async with batch_server(clock=..., responder=..., **FakeBatchConfig fields)``.

    Without a clock the server's virtual time runs at ``time_scale`` (default here 10^5: a
    1,000-request batch takes about 0.01 s).
    """

    @asynccontextmanager
    async def factory(
        *, clock: StepClock | None = None, responder: Responder | None = None, **batch: Any
    ) -> AsyncIterator[FakeOpenAIServer]:
        batch.setdefault("time_scale", 100_000.0)
        server = FakeOpenAIServer(FakeServerConfig(), responder, clock=clock, batch=FakeBatchConfig(**batch))
        async with server:
            yield server

    return factory
