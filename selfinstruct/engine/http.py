"""One HTTP call to an OpenAI-compatible server: build the body, POST, parse, classify errors.

Every failure becomes an ``APIError`` (the server answered with an error status) or a
``TransportError`` (reset, timeout, truncated or invalid body, a 200 with no text); the
exception's ``kind`` (an ``ErrorKind``) is the cause used in ``ErrorInfo.kind`` and by the retry
policy. What the server sent is parsed defensively: odd ``usage`` counts are unknown usage
(``Completion.usage_invalid``), never an exception, and every message built from the server's
text has the API key and any ``sk-``/bearer token redacted.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import orjson

from ..errors import APIError, CallFailed, ErrorKind, QuotaExhaustedError, TransportError, error_kind_of
from ..redact import Redactor
from .requests import Request, Usage

__all__ = [
    "CallFailed",
    "Completion",
    "RateLimitInfo",
    "Transport",
    "build_body",
    "error_kind",
    "parse_duration",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "parse_usage",
    "post_completion",
]


@dataclass(frozen=True)
class RateLimitInfo:
    """What ``x-ratelimit-*`` headers said (None where absent); resets in seconds."""

    limit_requests: float | None = None
    remaining_requests: float | None = None
    reset_requests: float | None = None
    limit_tokens: float | None = None
    remaining_tokens: float | None = None
    reset_tokens: float | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in vars(self).values())


@dataclass(frozen=True)
class Completion:
    """A parsed successful answer (first choice) with the response metadata.

    ``usage`` is None when the server sent none or sent counts that are not non-negative
    integers; ``usage_invalid`` tells the second case apart (the engine estimates and counts it).
    """

    text: str
    finish_reason: str | None
    usage: Usage | None
    request_id: str | None
    rate_limits: RateLimitInfo
    choices: int
    model: str | None
    usage_invalid: bool = False


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: str | None) -> float | None:
    """Parse ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` or a bare number of seconds."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read OpenAI-style ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers."""
    if not any(k.lower().startswith("x-ratelimit-") for k in headers):
        return _NO_LIMITS
    return RateLimitInfo(
        limit_requests=_number(headers.get("x-ratelimit-limit-requests")),
        remaining_requests=_number(headers.get("x-ratelimit-remaining-requests")),
        reset_requests=parse_duration(headers.get("x-ratelimit-reset-requests")),
        limit_tokens=_number(headers.get("x-ratelimit-limit-tokens")),
        remaining_tokens=_number(headers.get("x-ratelimit-remaining-tokens")),
        reset_tokens=parse_duration(headers.get("x-ratelimit-reset-tokens")),
    )


_NO_LIMITS = RateLimitInfo()


def build_body(request: Request, model: str, default_params: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for one single-sample call (``n`` is never sent: the engine fans out)."""
    body: dict[str, Any] = {"model": model}
    body.update(default_params)
    body.update(request.params)
    body.pop("n", None)
    body.pop("stream", None)
    body["model"] = model
    if request.messages is not None:
        body["messages"] = list(request.messages)
    else:
        body["prompt"] = request.prompt
    return body


def _api_error(status: int, headers: Mapping[str, str], raw: bytes, redact: Redactor) -> APIError:
    message, code, kind = "", None, None
    try:
        payload = orjson.loads(raw)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or "")
            code = error.get("code") or None
            kind = error.get("type") or None
        elif isinstance(error, str):
            message = error
        elif isinstance(payload, dict) and "message" in payload:
            message = str(payload["message"])
    except orjson.JSONDecodeError:
        message = raw[:300].decode("utf-8", "replace").strip()
    if code is None and kind in ("insufficient_quota", "context_length_exceeded"):
        code = kind
    if (
        code is None
        and status == 400
        and re.search(r"context length|context window|too many tokens", message, re.I)
    ):
        code = "context_length_exceeded"
    code = redact(str(code)) if code is not None else None
    retry_after = parse_retry_after(headers)
    request_id = headers.get("x-request-id")
    cls = QuotaExhaustedError if code == "insufficient_quota" else APIError
    return cls(
        redact(message) if message else "(no message)",
        status=status,
        retry_after=retry_after,
        request_id=request_id,
        code=code,
        rate_limits=parse_rate_limit_headers(headers),
    )


def error_kind(error: BaseException) -> ErrorKind:
    """The cause for an error a call raised (see ``ErrorKind``)."""
    return error_kind_of(error)


def _count(value: Any) -> int | None:
    """A token count as the server sent it, or None when it is not a non-negative integer.

    Integral floats (``12.0``) are accepted; strings, null, booleans, fractions, negatives are not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
        return int(value)
    return None


def parse_usage(raw: Any) -> tuple[Usage | None, bool]:
    """Read a ``usage`` object: ``(usage, invalid)``.

    No ``usage`` at all is ``(None, False)``; one whose counts are not non-negative integers
    (``"ten"``, ``null``, ``12.5``, ``-3``) or that is not an object is ``(None, True)``. A count
    that is absent is 0 (some servers send only ``completion_tokens``) as long as one is present.
    """
    if raw is None:
        return None, False
    if not isinstance(raw, dict):
        return None, True
    fields = ("prompt_tokens", "completion_tokens")
    if not any(name in raw for name in fields):
        return None, True
    counts = [_count(raw.get(name, 0)) for name in fields]
    if counts[0] is None or counts[1] is None:
        return None, True
    return Usage(counts[0], counts[1]), False


def _text_of(choice: dict[str, Any], kind: str) -> str:
    """The first choice's text; raises ``TransportError(EMPTY_ANSWER)`` when there is none."""
    if kind == "chat":
        message = choice.get("message")
        if not isinstance(message, dict):
            raise TransportError("the answer's first choice has no message", kind=ErrorKind.EMPTY_ANSWER)
        text = message.get("content")
        if text is None:
            text = message.get("reasoning_content")
        if isinstance(text, list):  # content parts: [{"type": "text", "text": ...}, ...]
            text = "".join(str(p.get("text") or "") for p in text if isinstance(p, dict))
    else:
        text = choice.get("text")
    if text is None:
        where = "message content" if kind == "chat" else "text"
        raise TransportError(f"the answer's {where} is null", kind=ErrorKind.EMPTY_ANSWER)
    return text if isinstance(text, str) else str(text)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_success(
    raw: bytes, headers: Mapping[str, str], kind: str, redact: Redactor | None = None
) -> Completion:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        snippet = (redact or Redactor())(raw[:80].decode("utf-8", "replace"))
        raise TransportError(
            f"response body is not valid JSON ({exc}): {snippet!r}", kind=ErrorKind.INVALID_BODY
        ) from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise TransportError("response has no choices", kind=ErrorKind.INVALID_BODY)
    choice = choices[0]
    text = _text_of(choice, kind)
    usage, usage_invalid = parse_usage(payload.get("usage"))
    return Completion(
        text=text,
        finish_reason=_optional_str(choice.get("finish_reason")),
        usage=usage,
        request_id=headers.get("x-request-id"),
        rate_limits=parse_rate_limit_headers(headers),
        choices=len(choices),
        model=_optional_str(payload.get("model")),
        usage_invalid=usage_invalid,
    )


async def post_completion(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    kind: str,
    headers: Mapping[str, str],
    timeout: float,
) -> Completion:
    """POST one request body and parse the answer.

    Raises:
        APIError: non-2xx status (QuotaExhaustedError for ``insufficient_quota``), with status,
            retry-after, request id and code.
        TransportError: timeout, connection failure, truncated or invalid body, or a 200 whose
            first choice has no text (``kind`` says which).

    Error messages have the credentials in ``headers`` (and any ``sk-``/bearer token) redacted.
    """
    redact = Redactor.from_headers(headers)
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            raw = await response.read()
            if response.status >= 400:
                raise _api_error(response.status, response.headers, raw, redact)
            return _parse_success(raw, response.headers, kind, redact)
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise TransportError(f"no answer within {timeout:g} s", kind=ErrorKind.TIMEOUT) from None
    except aiohttp.ClientPayloadError as exc:
        # The connection broke mid-body: the network's fault, not a bad answer, so it is retried
        # (and fails over) as a connection failure, on the full budget.
        message = redact(f"connection dropped mid-body: {exc}")
        raise TransportError(message, kind=ErrorKind.CONNECTION) from None
    except aiohttp.ClientResponseError as exc:
        raise TransportError(redact(f"bad HTTP response: {exc}"), kind=ErrorKind.INVALID_BODY) from None
    except (aiohttp.ClientError, OSError) as exc:
        message = redact(f"connection failed: {type(exc).__name__}: {exc}")
        raise TransportError(message, kind=ErrorKind.CONNECTION) from None


class Transport(Protocol):
    """What the engine calls to send one request: ``post_completion`` or a test's stand-in.

    It returns a ``Completion`` or raises ``APIError``/``TransportError`` (with the failure's
    ``kind``), exactly as ``post_completion`` does; the engine does the rest (retries, limits,
    journal). A transport that answers without sockets ignores ``session``.
    """

    async def __call__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        body: bytes,
        *,
        kind: str,
        headers: Mapping[str, str],
        timeout: float,
    ) -> Completion: ...
