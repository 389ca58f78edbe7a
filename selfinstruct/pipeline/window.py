"""The bootstrap window: requests in flight, their answers taken in issue order.

A bootstrap prompt is built from the pool as it stands when the request is issued, and answers are
processed strictly in issue order, so a run with a fixed seed and a deterministic model is the same
whatever the timing (and a resumed run rebuilds the same prompts).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Generic, TypeVar

import anyio

__all__ = ["ReorderWindow"]

T = TypeVar("T")


class ReorderWindow(Generic[T]):
    """Fetches numbered items concurrently and hands them back in number order.

    Used as ``async with ReorderWindow(fetch) as window``: ``issue()`` starts ``fetch(seq)`` for the
    next number, ``next()`` waits for the lowest number not yet handed back (answers that arrive
    early wait in a buffer). Leaving the block waits for fetches still in flight: they are not
    cancelled (a bootstrap answer is paid for, and once journaled a re-run replays it).
    """

    def __init__(self, fetch: Callable[[int], Awaitable[T]]) -> None:
        self._fetch = fetch
        self._buffer: dict[int, T] = {}
        self._stack = AsyncExitStack()
        self.issued = 0
        self.handed = 0

    async def __aenter__(self) -> ReorderWindow[T]:
        self._send, self._receive = anyio.create_memory_object_stream[tuple[int, T]](math.inf)
        await self._stack.enter_async_context(self._receive)
        await self._stack.enter_async_context(self._send)
        self._group = await self._stack.enter_async_context(anyio.create_task_group())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._stack.__aexit__(kind, error, tb)

    def issue(self) -> int:
        """Start fetching the next number; return it."""
        seq = self.issued
        self.issued += 1
        self._group.start_soon(self._run, seq)
        return seq

    async def next(self) -> T:
        """The item of the lowest number not yet handed back (issued before)."""
        if self.handed >= self.issued:
            raise RuntimeError("next() with nothing issued")
        while self.handed not in self._buffer:
            seq, item = await self._receive.receive()
            self._buffer[seq] = item
        self.handed += 1
        return self._buffer.pop(self.handed - 1)

    async def _run(self, seq: int) -> None:
        await self._send.send((seq, await self._fetch(seq)))
