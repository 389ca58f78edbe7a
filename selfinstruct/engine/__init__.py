"""The async request engine (work in progress: the clock is in place, the rest follows)."""

from .clock import Clock, FakeClock, RealClock

__all__ = ["Clock", "FakeClock", "RealClock"]
