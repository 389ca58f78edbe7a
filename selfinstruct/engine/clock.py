"""Time sources for the engine: the real monotonic clock and a virtual clock for tests.

Everything in the engine that waits (limiter, retry backoff, pauses) goes through a ``Clock`` so
that tests can run minutes of virtual time in milliseconds without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol

import anyio

__all__ = ["Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """What the engine needs from time: a monotonic reading and an awaitable sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """``time.monotonic`` and ``anyio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))


class FakeClock:
    """Virtual time that jumps forward instead of sleeping.

    ``sleep(dt)`` registers a deadline; once every other runnable task has had a chance to run
    (``settle`` scheduler passes), the sleeper with the earliest deadline advances ``now()`` to its
    deadline and wakes. So concurrent sleepers wake in deadline order and tests never wait for
    real time. ``advance(dt)`` moves time by hand.
    """

    def __init__(self, start: float = 0.0, *, settle: int = 30) -> None:
        self._now = start
        self._settle = settle
        self._heap: list[tuple[float, int, anyio.Event]] = []
        self._serial = itertools.count()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds``."""
        self._now += max(seconds, 0.0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        entry = (self._now + seconds, next(self._serial), anyio.Event())
        heapq.heappush(self._heap, entry)
        try:
            while True:
                for _ in range(self._settle):
                    await anyio.lowlevel.checkpoint()
                if self._heap and self._heap[0] is entry:
                    heapq.heappop(self._heap)
                    self._now = max(self._now, entry[0])
                    self._wake_head()
                    return
                if entry not in self._heap:  # pragma: no cover - defensive
                    return
                await entry[2].wait()
                # Re-arm: the event is one-shot; a fresh one for the next round.
                index = self._heap.index(entry)
                entry = (entry[0], entry[1], anyio.Event())
                self._heap[index] = entry
        except BaseException:
            if entry in self._heap:
                self._heap.remove(entry)
                heapq.heapify(self._heap)
                self._wake_head()
            raise

    def _wake_head(self) -> None:
        if self._heap:
            self._heap[0][2].set()
