"""Reading a batch's output and error files: one outcome per ``custom_id``.

An output line is ``{"custom_id", "response": {"status_code", "request_id", "body"}, "error"}``.
A 200 body is parsed exactly as an online answer is; another status becomes the error kind an
online call with that status would get (so the same causes are retried); a line-level error
(``batch_expired``, ``batch_cancelled``, ``request_timeout``) maps to ``timeout`` / ``cancelled``.
A line that cannot be read at all is counted, never fatal: its request is simply not answered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..engine import ErrorInfo
from ..engine.http import Completion
from ..errors import APIError, ErrorKind, TransportError
from ..redact import redact

__all__ = ["LineOutcome", "parse_result_line", "read_result_file"]

# Line-level error codes of the Batch API and the cause an online call would report.
_LINE_ERRORS = {
    "batch_expired": ErrorKind.TIMEOUT,
    "request_timeout": ErrorKind.TIMEOUT,
    "batch_cancelled": ErrorKind.CANCELLED,
}


@dataclass(frozen=True)
class LineOutcome:
    """One request's outcome in a batch: a completion, or an error with its cause."""

    key: str
    completion: Completion | None
    error: ErrorInfo | None


def _parse_body(body: Any, kind: str, request_id: str | None) -> Completion:
    # The online parser, so a batch answer reads exactly as the same answer online would.
    from ..engine.http import _parse_success

    headers = {"x-request-id": request_id} if request_id else {}
    return _parse_success(orjson.dumps(body), headers, kind)


def parse_result_line(raw: bytes, kind: str) -> LineOutcome | None:
    """Parse one line of an output or error file (``kind``: ``chat`` or ``completion``).

    Returns None for a line without a readable ``custom_id``.
    """
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(line, Mapping) or not isinstance(line.get("custom_id"), str):
        return None
    key = line["custom_id"]
    response = line.get("response")
    line_error = line.get("error")
    if isinstance(response, Mapping) and isinstance(response.get("status_code"), int):
        status = response["status_code"]
        request_id = response.get("request_id") if isinstance(response.get("request_id"), str) else None
        body = response.get("body")
        if status == 200:
            try:
                return LineOutcome(key, _parse_body(body, kind, request_id), None)
            except TransportError as error:
                return LineOutcome(key, None, ErrorInfo(error.kind, str(error), 200, 1, request_id))
        error_body = body.get("error") if isinstance(body, Mapping) else None
        message, code = "(no message)", None
        if isinstance(error_body, Mapping):
            message = redact(str(error_body.get("message") or message))
            code = error_body.get("code") if isinstance(error_body.get("code"), str) else None
        api_error = APIError(message, status=status, request_id=request_id, code=code)
        return LineOutcome(key, None, ErrorInfo(api_error.kind, str(api_error), status, 1, request_id, code))
    if isinstance(line_error, Mapping):
        code = str(line_error.get("code") or "unknown")
        message = redact(str(line_error.get("message") or ""))
        cause = _LINE_ERRORS.get(code, ErrorKind.SERVER)
        return LineOutcome(key, None, ErrorInfo(cause, f"{code}: {message}", None, 1, None, code))
    missing = "batch line has neither a response nor an error"
    return LineOutcome(key, None, ErrorInfo(ErrorKind.INVALID_BODY, missing))


def read_result_file(path: Path, kind: str) -> Iterator[LineOutcome | None]:
    """The outcomes in a downloaded output or error file, in file order (None for unreadable lines)."""
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                yield parse_result_line(raw, kind)
