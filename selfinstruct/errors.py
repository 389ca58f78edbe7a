"""Every error selfinstruct raises on purpose, and the vocabulary of why a request failed.

    SelfInstructError
    ├── ConfigError            a setting is missing or out of range (says what to change)
    │   └── SettingsChangedError   a re-run's settings would change the data its run.json recorded
    ├── InputError             a bad input file: carries path and 1-based line number
    ├── EngineError            a model call could not be completed; ``kind`` says why (an ErrorKind)
    │   ├── APIError           the server answered with an error status (status, retry_after,
    │   │   │                  request_id, code, rate_limits)
    │   │   └── QuotaExhaustedError   insufficient_quota: retrying cannot help, the job stops
    │   ├── TransportError     connection reset, timeout, truncated or invalid body (kind says which)
    │   └── BudgetExceededError     --max-cost / --max-total-tokens reached, the job stopped cleanly
    ├── JournalError           the journal on disk cannot be used (not a torn last line: that is repaired)
    ├── OutputBusyError        another process is writing the same run directory or output file
    ├── OutputWriteError       a file could not be written (disk full...): what was saved, how to resume
    └── LocalServerError       the embedded local model server is missing, cannot start or died

A failed request does not raise: its ``Result.error.kind`` is an :class:`ErrorKind`. What the
engine does with each kind is decided here, by set membership: :data:`RETRYABLE_KINDS` are
retried, :data:`CONGESTION_KINDS` shrink the in-flight window, :data:`JOURNALED_KINDS` are
journaled (a re-run replays them instead of paying again), :data:`STOP_KINDS` stop the whole job,
:data:`STOP_IN_A_ROW_KINDS` stop it after :data:`STOP_IN_A_ROW` of them in a row,
:data:`BAD_BODY_KINDS` get only :data:`BAD_BODY_RETRIES` retries, :data:`ENDPOINT_DOWN_KINDS` count
against an endpoint's health.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.http import RateLimitInfo

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup as _BaseExceptionGroup
    from enum import StrEnum
else:  # pragma: no cover - Python 3.10
    from exceptiongroup import BaseExceptionGroup as _BaseExceptionGroup

    class StrEnum(str, Enum):
        """``enum.StrEnum`` for Python 3.10: members are their values as strings."""

        def __str__(self) -> str:
            return str(self.value)


__all__ = [
    "BAD_BODY_KINDS",
    "BAD_BODY_RETRIES",
    "CONGESTION_KINDS",
    "ENDPOINT_DOWN_KINDS",
    "JOURNALED_KINDS",
    "RETRYABLE_KINDS",
    "STOP_IN_A_ROW",
    "STOP_IN_A_ROW_KINDS",
    "STOP_KINDS",
    "WRITE_FAILED_EXIT",
    "APIError",
    "BudgetExceededError",
    "CallFailed",
    "ConfigError",
    "EngineError",
    "ErrorKind",
    "InputError",
    "JournalError",
    "LocalServerError",
    "OutputBusyError",
    "OutputWriteError",
    "QuotaExhaustedError",
    "SelfInstructError",
    "SettingsChangedError",
    "TransportError",
    "error_kind_of",
    "is_full_disk",
    "one_error",
    "primary_error",
]


class ErrorKind(StrEnum):
    """Why a request failed (``ErrorInfo.kind``); members compare equal to their string values."""

    # A later attempt can fix these.
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    INVALID_BODY = "invalid_body"
    EMPTY_ANSWER = "empty_answer"  # a 200 whose first choice has no text (null content, no message)
    # Properties of the request or the account: retrying cannot help.
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    NOT_FOUND = "not_found"
    CONTEXT_LENGTH = "context_length"
    QUOTA = "quota"
    # The engine stopped (a budget was reached, or the job was cancelled) before the request ran.
    BUDGET = "budget"
    CANCELLED = "cancelled"

    @classmethod
    def parse(cls, value: object) -> ErrorKind | str:
        """The member for ``value``; an unknown string (a newer journal) is kept as it is."""
        try:
            return cls(str(value))
        except ValueError:
            return str(value)


#: Causes a later attempt can fix; everything else fails the request at once (retrying would
#: only spend money or time).
RETRYABLE_KINDS = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.INVALID_BODY,
        ErrorKind.EMPTY_ANSWER,
    }
)
#: A 200 whose whole body is not an answer (not JSON, no choices, null content, no message):
#: each such call may have been billed, so these get only ``BAD_BODY_RETRIES`` retries per request
#: (counted together), not the full ``max_retries``.
BAD_BODY_KINDS = frozenset({ErrorKind.INVALID_BODY, ErrorKind.EMPTY_ANSWER})
BAD_BODY_RETRIES = 2
#: "The server is overloaded": the adaptive window shrinks on these (and on a 503), unless a 429
#: came with Retry-After, which is honoured by pausing instead.
CONGESTION_KINDS = frozenset({ErrorKind.RATE_LIMIT, ErrorKind.TIMEOUT})
#: Failures that are a property of the request itself: journaled so a re-run does not pay again.
#: Transient failures and stops are not journaled: a re-run retries them.
JOURNALED_KINDS = frozenset({ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_LENGTH})
#: Failures that stop the whole job (``Engine.stopped_reason``): later requests are not sent.
STOP_KINDS = frozenset({ErrorKind.QUOTA, ErrorKind.BUDGET})
#: Failures that stop the whole job once ``STOP_IN_A_ROW`` requests in a row ended with one of
#: them (one 401 may be a proxy's hiccup; a run of them is a wrong or revoked key).
STOP_IN_A_ROW_KINDS = frozenset({ErrorKind.AUTH})
STOP_IN_A_ROW = 3
#: Failures that say an endpoint may be down (its health counts them; a connection failure at once).
ENDPOINT_DOWN_KINDS = frozenset({ErrorKind.CONNECTION, ErrorKind.SERVER, ErrorKind.TIMEOUT})


class SelfInstructError(Exception):
    """Root of every error selfinstruct raises on purpose."""


class ConfigError(SelfInstructError, ValueError):
    """A setting is missing or out of range; the message says what to change."""


class SettingsChangedError(ConfigError):
    """A re-run's settings would change the data of the run recorded in ``run.json``.

    ``changed`` lists each difference as ``"--flag: old before, new now"``.
    """

    def __init__(self, message: str, *, changed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.changed = changed


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

    @property
    def kind(self) -> ErrorKind:
        """The cause, as reported in ``ErrorInfo.kind``."""
        return ErrorKind.CONNECTION


class APIError(EngineError):
    """The server answered with an error status; ``rate_limits`` is what its headers said."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        request_id: str | None = None,
        code: str | None = None,
        rate_limits: RateLimitInfo | None = None,
    ) -> None:
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code
        self.rate_limits = rate_limits
        detail = f"HTTP {status}"
        if code:
            detail += f" ({code})"
        if request_id:
            detail += f", request id {request_id}"
        super().__init__(f"{detail}: {message}")

    @property
    def kind(self) -> ErrorKind:
        """The cause from the status and code: retried ones first, then the ones retrying cannot fix."""
        if self.code == "context_length_exceeded":
            return ErrorKind.CONTEXT_LENGTH
        status = self.status
        if status == 429:
            return ErrorKind.RATE_LIMIT
        if status == 408:
            return ErrorKind.TIMEOUT
        if status == 409 or status >= 500:  # 409: a conflict on the server's side, worth a retry
            return ErrorKind.SERVER
        if status in (401, 403):
            return ErrorKind.AUTH
        if status == 404:
            return ErrorKind.NOT_FOUND
        return ErrorKind.BAD_REQUEST


class QuotaExhaustedError(APIError):
    """The account has no quota left (``insufficient_quota``); retrying cannot help."""

    @property
    def kind(self) -> ErrorKind:
        return ErrorKind.QUOTA


class TransportError(EngineError):
    """The connection failed, timed out, or the body was truncated or not valid JSON.

    ``kind`` is ``timeout``, ``connection`` (the default) or ``invalid_body``.
    """

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.CONNECTION) -> None:
        super().__init__(message)
        self._kind = kind

    @property
    def kind(self) -> ErrorKind:
        return self._kind


#: The name ``engine.http`` used for a transport failure with its cause; the same class.
CallFailed = TransportError


class BudgetExceededError(EngineError):
    """A cost or token budget was reached and the job stopped cleanly."""

    @property
    def kind(self) -> ErrorKind:
        return ErrorKind.BUDGET


def error_kind_of(error: BaseException) -> ErrorKind:
    """The cause for any exception a call raised (an ``EngineError``'s own kind, else connection)."""
    return error.kind if isinstance(error, EngineError) else ErrorKind.CONNECTION


class JournalError(SelfInstructError):
    """The journal on disk cannot be used."""


class OutputBusyError(SelfInstructError):
    """Another process holds the lock on the run directory or output file (the message names its pid)."""


class OutputWriteError(SelfInstructError):
    """Writing a journal or output file failed (a full disk, a file-size limit, an I/O error).

    The message names the file and the OS error, says what is already saved (``saved``) and how
    to resume; ``path`` is the file, ``cause`` the ``OSError``. The command line exits with
    :data:`WRITE_FAILED_EXIT` on it.
    """

    def __init__(self, path: str | Path, cause: OSError, *, saved: str) -> None:
        self.path = str(path)
        self.cause = cause
        self.saved = saved
        reason = cause.strerror or str(cause)
        if cause.errno in _FULL_DISK_ERRNOS:
            todo = "free space and re-run the same command to resume"
        else:
            todo = "fix that (or give another path) and re-run"
        super().__init__(f"cannot write {self.path}: {reason}; {saved}; {todo}")

    def saving(self, saved: str) -> OutputWriteError:
        """The same failure, saying ``saved`` (what the caller knows is kept) instead."""
        return OutputWriteError(self.path, self.cause, saved=saved)


#: ``errno`` values that say the disk (or the user's quota, or the file-size limit) is full.
_FULL_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: The exit status of a command stopped by an :class:`OutputWriteError` (``EX_IOERR`` of sysexits.h).
WRITE_FAILED_EXIT = 74


def is_full_disk(error: OSError) -> bool:
    """True for the errors of a full disk, quota or file-size limit (not for a missing directory...)."""
    return error.errno in _FULL_DISK_ERRNOS


def primary_error(error: BaseException) -> BaseException:
    """The one error to report for ``error``: an exception group's OutputWriteError or own error.

    A failure inside a task group (say a full disk under 32 concurrent requests) arrives as a group
    of one error per task. When a leaf is an :class:`OutputWriteError`, that is the story; when
    every leaf is a :class:`SelfInstructError`, the first one is. Otherwise ``error`` itself.
    """
    if not isinstance(error, _BaseExceptionGroup):
        return error
    leaves = list(_leaves(error))
    for leaf in leaves:
        if isinstance(leaf, OutputWriteError):
            return leaf
    if leaves and all(isinstance(leaf, SelfInstructError) for leaf in leaves):
        return leaves[0]
    return error


def _leaves(group: BaseException) -> Iterator[BaseException]:
    if isinstance(group, _BaseExceptionGroup):
        for inner in group.exceptions:
            yield from _leaves(inner)
    else:
        yield group


@contextmanager
def one_error() -> Iterator[None]:
    """Raise a task group's failure as :func:`primary_error` picks it (one clear error, not N)."""
    try:
        yield
    except _BaseExceptionGroup as group:
        picked = primary_error(group)
        if picked is group:
            raise
        raise picked from None


class LocalServerError(SelfInstructError):
    """The embedded local model server is missing, could not start, or died."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        self.stderr_tail = stderr_tail
        if stderr_tail:
            message = f"{message}\n--- server stderr (last lines) ---\n{stderr_tail.rstrip()}"
        super().__init__(message)
