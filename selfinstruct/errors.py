"""Every error selfinstruct raises on purpose.

    SelfInstructError
    ├── ConfigError            a setting is missing or out of range (says what to change)
    ├── InputError             a bad input file: carries path and 1-based line number
    ├── EngineError            a model call could not be completed
    │   ├── APIError           the server answered with an error status (status, retry_after, request_id)
    │   │   └── QuotaExhaustedError   insufficient_quota: retrying cannot help, the job stops
    │   ├── TransportError     connection reset, timeout, truncated or invalid body
    │   └── BudgetExceededError     --max-cost / --max-total-tokens reached, the job stopped cleanly
    ├── ModelOutputError       a model answer that no parser could read (counted and skipped, never fatal)
    ├── JournalError           the journal on disk cannot be used (not a torn last line: that is repaired)
    └── LocalServerError       the embedded local model server is missing, cannot start or died
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "APIError",
    "BudgetExceededError",
    "ConfigError",
    "EngineError",
    "InputError",
    "JournalError",
    "LocalServerError",
    "ModelOutputError",
    "QuotaExhaustedError",
    "SelfInstructError",
    "TransportError",
]


class SelfInstructError(Exception):
    """Root of every error selfinstruct raises on purpose."""


class ConfigError(SelfInstructError, ValueError):
    """A setting is missing or out of range; the message says what to change."""


class InputError(SelfInstructError, ValueError):
    """A bad input record, located by file and 1-based line number."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")
        self.reason = message


class EngineError(SelfInstructError):
    """A model call could not be completed."""


class APIError(EngineError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code
        detail = f"HTTP {status}"
        if code:
            detail += f" ({code})"
        if request_id:
            detail += f", request id {request_id}"
        super().__init__(f"{detail}: {message}")


class QuotaExhaustedError(APIError):
    """The account has no quota left (``insufficient_quota``); retrying cannot help."""


class TransportError(EngineError):
    """The connection failed, timed out, or the body was truncated or not valid JSON."""


class BudgetExceededError(EngineError):
    """A cost or token budget was reached and the job stopped cleanly."""


class ModelOutputError(SelfInstructError):
    """A model answer that no parser could read."""


class JournalError(SelfInstructError):
    """The journal on disk cannot be used."""


class LocalServerError(SelfInstructError):
    """The embedded local model server is missing, could not start, or died."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        self.stderr_tail = stderr_tail
        if stderr_tail:
            message = f"{message}\n--- server stderr (last lines) ---\n{stderr_tail.rstrip()}"
        super().__init__(message)
