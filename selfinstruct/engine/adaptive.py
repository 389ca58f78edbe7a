"""The in-flight window: at most ``limit`` requests at once, adapted by AIMD.

Additive increase (+1 per window's worth of successes) and multiplicative decrease (halve on a
429 without Retry-After, a 503 or a timeout, at most once per round trip: only requests started
after the last decrease can trigger the next one) so that an unknown server limit is found
instead of hammered.
Waiters are served first come, first served, and a freed slot is handed to the next waiter.
"""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ["AdaptiveWindow"]


class AdaptiveWindow:
    """A FIFO gate with a (possibly adaptive) size between ``minimum`` and ``maximum``."""

    def __init__(
        self, maximum: int, *, minimum: int = 1, adaptive: bool = True, decrease: float = 0.5
    ) -> None:
        self.maximum = maximum
        self.minimum = min(minimum, maximum)
        self.adaptive = adaptive
        self.decrease = decrease
        self.limit = float(maximum)
        self.in_flight = 0
        self.epoch = 0
        self.decreases = 0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def size(self) -> int:
        """Slots currently allowed."""
        return max(int(self.limit), self.minimum)

    async def acquire(self) -> int:
        """Wait for a slot; return the epoch the request starts in (pass it back to on_*)."""
        if self.in_flight < self.size and not self._waiters:
            self.in_flight += 1
            return self.epoch
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():  # a slot was handed over just as we were cancelled: give it back
                self.release()
            else:
                self._waiters.remove(event)
            raise
        return self.epoch

    def release(self) -> None:
        """Free a slot and hand it to the next waiter if the window allows."""
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self.in_flight < self.size:
            self.in_flight += 1
            self._waiters.popleft().set()

    def on_success(self) -> None:
        """Grow the window by 1/limit (so by one slot per window of successes)."""
        if self.adaptive and self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self._hand_over()

    def on_congestion(self, epoch: int) -> None:
        """Shrink the window once per round trip of congestion signals."""
        if not self.adaptive or epoch != self.epoch:
            return
        self.limit = max(float(self.minimum), self.limit * self.decrease)
        self.epoch += 1
        self.decreases += 1
