"""The async request engine: concurrent OpenAI-compatible calls with limits, retries and a journal.

    async with Engine(EngineConfig(model="m", base_urls=["http://127.0.0.1:8000/v1"])) as engine:
        async for result in engine.run(Request(prompt=p, params={"max_tokens": 64}) for p in prompts):
            print(result.request.id, result.text if result.ok else result.error)

Modules: ``requests`` (Request/Result and the key), ``config``, ``http`` (one call and error
classification), ``retry``, ``limits`` (RPM/TPM limiter), ``adaptive`` (AIMD window),
``endpoints`` (several base URLs), ``probe`` (reachability before a job), ``journal``
(durable results, resume), ``stats``, ``clock``,
``engine`` (the Engine), ``files`` (``complete_file``: a JSONL file of prompts in, answers out).
"""

from .clock import Clock, FakeClock, RealClock
from .config import EngineConfig
from .engine import Engine
from .files import CompleteProgress, CompleteReport, complete_file
from .http import Transport
from .journal import Journal, read_journal
from .limits import RateLimiter
from .probe import probe_endpoints
from .requests import ErrorInfo, Request, Result, Usage
from .retry import RetryPolicy
from .stats import EngineStats

__all__ = [
    "Clock",
    "CompleteProgress",
    "CompleteReport",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "ErrorInfo",
    "FakeClock",
    "Journal",
    "RateLimiter",
    "RealClock",
    "Request",
    "Result",
    "RetryPolicy",
    "Transport",
    "Usage",
    "complete_file",
    "probe_endpoints",
    "read_journal",
]
