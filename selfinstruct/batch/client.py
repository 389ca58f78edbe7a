"""``BatchClient``: the Files and Batches endpoints of an OpenAI-compatible API, with retries.

Upload a JSONL file (``POST /files``, ``purpose=batch``), create a batch (``POST /batches``),
retrieve, list and cancel batches, and download a file's content. Transient failures (429, 5xx,
timeouts, resets) are retried with backoff, honouring Retry-After; anything else raises
``APIError`` with the server's status and message. ``BatchInfo`` is parsed defensively: a field
with the wrong type reads as missing instead of failing the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import aiohttp
import orjson

from ..engine import Clock, RealClock, RetryPolicy
from ..engine.http import parse_retry_after
from ..errors import (
    RETRYABLE_KINDS,
    APIError,
    EngineError,
    ErrorKind,
    OutputWriteError,
    TransportError,
    is_full_disk,
)
from ..redact import Redactor

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "BatchClient",
    "BatchInfo",
    "BatchStatus",
]

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"
]
#: Statuses after which a batch changes no more (its output and error files are final).
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})
#: Statuses of a batch still at work (or winding down).
ACTIVE_STATUSES: frozenset[str] = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class BatchInfo:
    """What the server says about one batch.

    ``errors`` are ``(code, message, line)`` for a batch that failed validation; ``total``,
    ``completed`` and ``failed`` are the server's request counts.
    """

    id: str
    status: str
    endpoint: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    created_at: int = 0
    errors: tuple[tuple[str, str, int | None], ...] = ()

    @property
    def terminal(self) -> bool:
        """True once the batch will change no more."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, payload: Any) -> BatchInfo:
        """Parse a batch object; raises ``TransportError`` when it has no id or status."""
        if not isinstance(payload, Mapping) or not _str(payload.get("id")) or not _str(payload.get("status")):
            raise TransportError(f"the server's batch object has no id or status: {str(payload)[:200]!r}")
        counts = payload.get("request_counts")
        counts = counts if isinstance(counts, Mapping) else {}
        errors: list[tuple[str, str, int | None]] = []
        raw_errors = payload.get("errors")
        data = raw_errors.get("data") if isinstance(raw_errors, Mapping) else None
        for item in data if isinstance(data, list) else []:
            if isinstance(item, Mapping):
                line = item.get("line")
                errors.append(
                    (
                        str(item.get("code") or "unknown"),
                        str(item.get("message") or ""),
                        line if isinstance(line, int) else None,
                    )
                )
        return cls(
            id=str(payload["id"]),
            status=str(payload["status"]),
            endpoint=_str(payload.get("endpoint")),
            input_file_id=_str(payload.get("input_file_id")),
            output_file_id=_str(payload.get("output_file_id")),
            error_file_id=_str(payload.get("error_file_id")),
            total=_int(counts.get("total")),
            completed=_int(counts.get("completed")),
            failed=_int(counts.get("failed")),
            created_at=_int(payload.get("created_at")),
            errors=tuple(errors),
        )


def _api_error(status: int, headers: Mapping[str, str], raw: bytes, redact: Redactor) -> APIError:
    message, code = raw[:300].decode("utf-8", "replace").strip(), None
    try:
        payload = orjson.loads(raw)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            code = _str(error.get("code"))
    except orjson.JSONDecodeError:
        pass
    return APIError(
        redact(message) if message else "(no message)",
        status=status,
        retry_after=parse_retry_after(headers),
        request_id=headers.get("x-request-id"),
        code=code,
    )


class BatchClient:
    """Calls to ``base_url``'s Files and Batches endpoints through a caller-owned session.

    Args:
        base_url: e.g. ``https://api.openai.com/v1``.
        session: an open ``aiohttp.ClientSession`` (not closed here).
        headers: sent with every call (authorization, user agent).
        retry: backoff for transient failures (default: 6 retries, 0.5 s doubling to 60 s).
        clock: for the backoff sleeps.
        timeout: seconds per call (uploads and downloads of large files take a while).
    """

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        timeout: float = 600.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.headers = dict(headers or {})
        self.headers.pop("Content-Type", None)  # set per call (JSON or multipart)
        self.retry = retry or RetryPolicy()
        self.clock: Clock = clock or RealClock()
        self.timeout = timeout
        self.calls = 0
        self.retries = 0

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        upload: Path | None = None,
        params: Mapping[str, str] | None = None,
        into: Path | None = None,
    ) -> bytes:
        """One call with retries; the body, or b"" when streamed ``into`` a file."""
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return await self._once(method, url, json=json, upload=upload, params=params, into=into)
            except (APIError, TransportError) as error:
                kind = error.kind
                if kind not in RETRYABLE_KINDS or not self.retry.should_retry(kind, attempt):
                    raise
                retry_after = error.retry_after if isinstance(error, APIError) else None
                self.retries += 1
                await self.clock.sleep(self.retry.delay(attempt - 1, retry_after))

    async def _once(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        upload: Path | None,
        params: Mapping[str, str] | None,
        into: Path | None,
    ) -> bytes:
        headers = dict(self.headers)
        data, handle = _request_body(json, upload, headers)
        try:
            async with self.session.request(
                method,
                url,
                data=data,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                if response.status >= 400:
                    raw = await response.read()
                    raise _api_error(response.status, response.headers, raw, Redactor.from_headers(headers))
                if into is None:
                    return await response.read()
                await _save(response, into)
                return b""
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportError(
                f"{method} {url}: no answer within {self.timeout:g} s", kind=ErrorKind.TIMEOUT
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise TransportError(
                f"{method} {url}: truncated body: {exc}", kind=ErrorKind.INVALID_BODY
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                f"{method} {url}: connection failed: {type(exc).__name__}: {exc}", kind=ErrorKind.CONNECTION
            ) from None
        finally:
            if handle is not None:
                handle.close()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        raw = await self._call(method, path, **kwargs)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TransportError(f"{method} {path}: the answer is not JSON: {raw[:120]!r}") from None

    # -- the API ----------------------------------------------------------------------------------

    async def upload(self, path: Path) -> str:
        """Upload a batch input file; return its file id."""
        payload = await self._json("POST", "/files", upload=path)
        file_id = _str(payload.get("id")) if isinstance(payload, dict) else None
        if file_id is None:
            raise TransportError(f"the file upload answer has no id: {str(payload)[:200]!r}")
        return file_id

    async def create(
        self, input_file_id: str, endpoint: str, *, metadata: Mapping[str, str] | None = None
    ) -> BatchInfo:
        """Create a batch over an uploaded file (``completion_window`` is always ``24h``)."""
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": "24h",
        }
        if metadata:
            body["metadata"] = dict(metadata)
        return BatchInfo.from_json(await self._json("POST", "/batches", json=body))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        """The batch's current state."""
        return BatchInfo.from_json(await self._json("GET", f"/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo | None:
        """Ask the server to cancel a batch; None when it had already finished (409)."""
        try:
            return BatchInfo.from_json(await self._json("POST", f"/batches/{batch_id}/cancel"))
        except APIError as error:
            if error.status == 409:
                return None
            raise

    async def list(self, *, after: str | None = None, limit: int = 100) -> tuple[list[BatchInfo], bool]:
        """One page of batches, newest first: (batches, has_more)."""
        params = {"limit": str(limit)}
        if after:
            params["after"] = after
        payload = await self._json("GET", "/batches", params=params)
        data = payload.get("data") if isinstance(payload, dict) else None
        batches = []
        for item in data if isinstance(data, list) else []:
            try:
                batches.append(BatchInfo.from_json(item))
            except EngineError:
                continue
        return batches, bool(isinstance(payload, dict) and payload.get("has_more"))

    async def download(self, file_id: str, into: Path) -> None:
        """Stream a file's content to ``into``."""
        await self._call("GET", f"/files/{file_id}/content", into=into)


def _request_body(json: Any, upload: Path | None, headers: dict[str, str]) -> tuple[Any, IO[bytes] | None]:
    """The body to send (JSON, or a multipart upload of ``upload``) and the file handle to close after."""
    if json is not None:
        headers["Content-Type"] = "application/json"
        return orjson.dumps(json), None
    if upload is None:
        return None, None
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    # Opening a local file is quick; aiohttp then streams it without blocking the loop.
    handle = open(upload, "rb")  # noqa: ASYNC230, SIM115 - the caller closes it after the request
    form.add_field("file", handle, filename=upload.name, content_type="application/jsonl")
    return form, handle


async def _save(response: aiohttp.ClientResponse, into: Path) -> None:
    """Stream a response body into a file, in 1 MiB writes (short enough not to stall the loop)."""
    try:
        with open(into, "wb") as sink:  # noqa: ASYNC230
            async for chunk in response.content.iter_chunked(1 << 20):
                sink.write(chunk)
    except OSError as exc:
        if not is_full_disk(exc):
            raise
        # Not a connection failure to retry: the disk is full.
        raise OutputWriteError(
            into, exc, saved="the batch's results stay at the provider until they are collected"
        ) from None
