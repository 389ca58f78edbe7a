"""OpenAI's Batch API for the fake server: ``/v1/files`` and ``/v1/batches`` on a fast virtual clock.

A batch lives as OpenAI's do: ``validating`` -> ``in_progress`` -> ``finalizing`` -> ``completed``,
or ``failed`` (validation), ``expired`` (the completion window ran out: what was done is in the
output file, the rest in the error file as ``batch_expired``), ``cancelling`` -> ``cancelled``.
Time is virtual: ``time_scale`` virtual seconds pass per real second, so a 50,000-request batch
that "takes" 40 minutes is done in under a second. Each line is answered by the same
``FakeOpenAIServer.answer`` as the online endpoints, so a batch's output matches online answers.

Faults: ``line_error_rate`` of the lines fail (a 500 or a 429 in the error file, drawn again when
resubmitted), ``expire_rate`` of the batches run out of their window part-way, ``api_error_rate``
of the Files/Batches calls answer 500, and ``enqueued_token_limit`` fails a batch with
``token_limit_exceeded`` while earlier ones hold the queue.

The server's ``counts`` gain ``batch_*`` entries; ``batch_paid_twice`` counts answers to a
``custom_id`` that had already been answered successfully (work paid for twice).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeOpenAIServer

__all__ = ["FakeBatchAPI", "FakeBatchConfig"]

_ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completion"}
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True, kw_only=True)
class FakeBatchConfig:
    """How fake batches behave; durations are virtual seconds.

    Args:
        time_scale: virtual seconds per real second.
        validating_seconds / finalizing_seconds / cancelling_seconds: time spent in those states.
        requests_per_second: how fast one batch works through its lines.
        completion_window: the window ``"24h"`` stands for (shorter to test expiry quickly).
        line_error_rate: share of lines that fail with a 500 or 429 (alternating).
        expire_rate: share of batches too slow to finish within the window.
        api_error_rate: share of Files/Batches API calls answered with a 500.
        enqueued_token_limit: prompt tokens allowed in unfinished batches (None: no limit).
        max_requests / max_bytes: per input file (OpenAI: 50,000 and 200 MB).
        seed: drives every draw.
    """

    time_scale: float = 3600.0
    validating_seconds: float = 60.0
    requests_per_second: float = 25.0
    finalizing_seconds: float = 120.0
    cancelling_seconds: float = 60.0
    completion_window: float = 86_400.0
    line_error_rate: float = 0.0
    expire_rate: float = 0.0
    api_error_rate: float = 0.0
    enqueued_token_limit: int | None = None
    max_requests: int = 50_000
    max_bytes: int = 200 * 1024 * 1024
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("line_error_rate", "expire_rate", "api_error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FakeBatchConfig.{name} must be in [0, 1], got {value!r}")
        for name in ("time_scale", "requests_per_second", "completion_window"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FakeBatchConfig.{name} must be > 0")
        for name in ("validating_seconds", "finalizing_seconds", "cancelling_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"FakeBatchConfig.{name} must be >= 0")


@dataclass(eq=False)
class _File:
    id: str
    data: bytes
    filename: str
    purpose: str
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
        }


@dataclass(eq=False)
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, Any]
    created: float  # virtual time
    lines: list[tuple[str, dict[str, Any]]]
    tokens: int
    rate: float  # lines per virtual second
    errors: list[dict[str, Any]] = field(default_factory=list)
    cancel_at: float | None = None
    processed: int | None = None  # lines done once terminal
    final: str | None = None  # terminal status once materialized
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return len(self.lines)


class FakeBatchAPI:
    """The Files and Batches endpoints, mounted on a :class:`FakeOpenAIServer`'s application."""

    def __init__(self, server: FakeOpenAIServer, config: FakeBatchConfig | None = None) -> None:
        self.server = server
        self.config = config or FakeBatchConfig()
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self.answered: set[str] = set()
        self._random = random.Random(self.config.seed)
        self._serial = 0
        self._clock: Callable[[], float] = server.clock
        self._start = self._clock()
        self._epoch = time.time()

    @property
    def counts(self) -> Counter[str]:
        return self.server.counts

    def mount(self, app: web.Application) -> None:
        """Add the routes to ``app``."""
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}", self._file_info)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_delete("/v1/files/{file_id}", self._file_delete)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches", self._list)
        app.router.add_get("/v1/batches/{batch_id}", self._retrieve)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._cancel)

    # -- time -----------------------------------------------------------------------------------

    def now(self) -> float:
        """Virtual seconds since the server started."""
        return (self._clock() - self._start) * self.config.time_scale

    def _stamp(self, virtual: float | None) -> int | None:
        return None if virtual is None else int(self._epoch + virtual)

    def _next_id(self, prefix: str) -> str:
        self._serial += 1
        digest = hashlib.blake2b(f"{self.config.seed}:{self._serial}".encode(), digest_size=6).hexdigest()
        return f"{prefix}{self._serial:06d}{digest}"

    # -- helpers --------------------------------------------------------------------------------

    def _json(self, payload: Any, status: int = 200) -> web.Response:
        return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")

    def _error(self, status: int, message: str, code: str | None = None) -> web.Response:
        kind = "invalid_request_error" if status < 500 else "server_error"
        error = {"message": message, "type": kind, "param": None, "code": code}
        return self._json({"error": error}, status)

    def _injected_failure(self) -> web.Response | None:
        if self.config.api_error_rate and self._random.random() < self.config.api_error_rate:
            self.counts["batch_api_errors"] += 1
            return self._error(500, "The server had an error (injected).")
        return None

    # -- files ----------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        failure = self._injected_failure()
        if failure is not None:
            await request.read()
            return failure
        form = await request.post()
        purpose = form.get("purpose")
        upload = form.get("file")
        if purpose != "batch" or not isinstance(upload, web.FileField):
            return self._error(400, "expected multipart fields 'purpose=batch' and 'file'")
        data = upload.file.read()
        file = _File(self._next_id("file-"), data, upload.filename, "batch", self._stamp(self.now()) or 0)
        self.files[file.id] = file
        self.counts["batch_files"] += 1
        return self._json(file.to_json())

    def _get_file(self, request: web.Request) -> _File | None:
        return self.files.get(request.match_info["file_id"])

    async def _file_info(self, request: web.Request) -> web.Response:
        file = self._get_file(request)
        if file is None:
            return self._error(404, "No such File object", "file_not_found")
        return self._json(file.to_json())

    async def _file_content(self, request: web.Request) -> web.Response:
        failure = self._injected_failure()
        if failure is not None:
            return failure
        file = self._get_file(request)
        if file is None:
            return self._error(404, "No such File object", "file_not_found")
        self.counts["batch_downloads"] += 1
        return web.Response(body=file.data, content_type="application/octet-stream")

    async def _file_delete(self, request: web.Request) -> web.Response:
        file = self.files.pop(request.match_info["file_id"], None)
        if file is None:
            return self._error(404, "No such File object", "file_not_found")
        return self._json({"id": file.id, "object": "file", "deleted": True})

    # -- batches --------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        failure = self._injected_failure()
        if failure is not None:
            return failure
        try:
            params = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return self._error(400, "body is not JSON")
        if not isinstance(params, dict):
            return self._error(400, "body must be an object")
        file = self.files.get(str(params.get("input_file_id")))
        if file is None:
            return self._error(404, "input_file_id: no such file", "file_not_found")
        endpoint = params.get("endpoint")
        if endpoint not in _ENDPOINTS:
            return self._error(400, f"endpoint must be one of {sorted(_ENDPOINTS)}")
        if params.get("completion_window") != "24h":
            return self._error(400, "completion_window must be '24h'")
        metadata = params.get("metadata") or {}
        lines, errors, tokens = self._validate(file, str(endpoint))
        config = self.config
        rate = config.requests_per_second
        if not errors and lines and self._random.random() < config.expire_rate:
            # Too slow to make it: a share of the lines are done when the window closes.
            share = self._random.uniform(0.3, 0.8)
            span = max(config.completion_window - config.validating_seconds, 1e-9)
            rate = max(len(lines) * share / span, 1e-9)
        now = self.now()
        if not errors and config.enqueued_token_limit is not None:
            queued = sum(b.tokens for b in self.batches.values() if self._status(b, now)[0] not in _TERMINAL)
            if queued + tokens > config.enqueued_token_limit:
                errors = [
                    {
                        "code": "token_limit_exceeded",
                        "message": f"Enqueued token limit reached ({queued + tokens:,} of "
                        f"{config.enqueued_token_limit:,}); try again once your other batches are done.",
                        "param": None,
                        "line": None,
                    }
                ]
        batch = _Batch(
            id=self._next_id("batch_"),
            input_file_id=file.id,
            endpoint=str(endpoint),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
            created=now,
            lines=lines if not errors else [],
            tokens=tokens if not errors else 0,
            rate=rate,
            errors=errors,
        )
        self.batches[batch.id] = batch
        self.counts["batch_created"] += 1
        self.counts["batch_lines"] += len(batch.lines)
        return self._json(self._view(batch))

    def _validate(
        self, file: _File, endpoint: str
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]], int]:
        """Parse an input file: (lines, validation errors, prompt tokens)."""
        from .server import count_tokens, prompt_text

        config = self.config
        errors: list[dict[str, Any]] = []

        def fail(code: str, message: str, line: int | None = None) -> None:
            if len(errors) < 10:
                errors.append({"code": code, "message": message, "param": None, "line": line})

        if len(file.data) > config.max_bytes:
            fail("file_too_large", f"input file is {len(file.data):,} bytes; at most {config.max_bytes:,}")
            return [], errors, 0
        lines: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        models: set[str] = set()
        tokens = 0
        kind = _ENDPOINTS[endpoint]
        for number, raw in enumerate(file.data.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError:
                fail("invalid_json_line", "line is not valid JSON", number)
                continue
            if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
                fail("missing_required_parameter", "each line needs a string custom_id", number)
                continue
            body = item.get("body")
            if item.get("method") != "POST" or item.get("url") != endpoint or not isinstance(body, dict):
                fail("invalid_request", f"method must be POST, url {endpoint}, and body an object", number)
                continue
            custom_id = item["custom_id"]
            if custom_id in seen:
                fail("duplicate_custom_id", f"custom_id {custom_id!r} appears twice", number)
                continue
            seen.add(custom_id)
            models.add(str(body.get("model")))
            tokens += count_tokens(prompt_text(kind, body))
            lines.append((custom_id, body))
        if len(models) > 1:
            fail("mixed_models", f"a batch file must use one model, found {sorted(models)}")
        if len(lines) > config.max_requests:
            fail("too_many_requests", f"{len(lines):,} requests; at most {config.max_requests:,} per batch")
        if not lines and not errors:
            fail("empty_file", "the input file has no requests")
        return lines, errors, tokens

    def _status(self, batch: _Batch, now: float) -> tuple[str, int]:
        """(status, lines processed) of ``batch`` at virtual time ``now``."""
        config = self.config
        if batch.final is not None and batch.processed is not None:
            return batch.final, batch.processed
        started = batch.created + config.validating_seconds
        if batch.errors:
            return ("validating" if now < started else "failed"), 0

        def done(at: float) -> int:
            return max(0, min(batch.total, math.floor((at - started) * batch.rate)))

        finished = started + batch.total / batch.rate
        deadline = batch.created + config.completion_window
        if batch.cancel_at is not None and batch.cancel_at < min(finished, deadline):
            ends = batch.cancel_at + config.cancelling_seconds
            return ("cancelling" if now < ends else "cancelled"), done(batch.cancel_at)
        if now < started:
            return "validating", 0
        if finished <= deadline:
            if now < finished:
                return "in_progress", done(now)
            return ("finalizing" if now < finished + config.finalizing_seconds else "completed"), batch.total
        return ("in_progress" if now < deadline else "expired"), done(min(now, deadline))

    def _timestamps(self, batch: _Batch, status: str) -> dict[str, int | None]:
        config = self.config
        started = batch.created + config.validating_seconds
        finished = started + batch.total / batch.rate if batch.rate else None
        stamps: dict[str, float | None] = {
            "in_progress_at": started if status not in ("validating", "failed") else None,
            "expires_at": batch.created + config.completion_window,
            "finalizing_at": finished if status in ("finalizing", "completed") else None,
            "completed_at": ((finished or 0) + config.finalizing_seconds if status == "completed" else None),
            "failed_at": started if status == "failed" else None,
            "expired_at": batch.created + config.completion_window if status == "expired" else None,
            "cancelling_at": batch.cancel_at,
            "cancelled_at": (
                (batch.cancel_at or 0) + config.cancelling_seconds if status == "cancelled" else None
            ),
        }
        return {name: self._stamp(value) for name, value in stamps.items()}

    def _view(self, batch: _Batch) -> dict[str, Any]:
        status, processed = self._status(batch, self.now())
        if status == "failed" and batch.final is None:
            batch.final, batch.processed = status, 0
            self.counts["batch_failed"] += 1
        elif status in _TERMINAL and batch.final is None:
            self._materialize(batch, status, processed)
        if batch.final is not None:
            completed, failed = batch.completed, batch.failed
        else:
            completed, failed = processed, 0
        errors = {"object": "list", "data": batch.errors} if batch.errors else None
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": errors,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": self._stamp(batch.created),
            **self._timestamps(batch, status),
            "request_counts": {"total": batch.total, "completed": completed, "failed": failed},
            "metadata": batch.metadata,
        }

    def _materialize(self, batch: _Batch, status: str, processed: int) -> None:
        """Answer the processed lines and write the output and error files (once)."""
        draws = random.Random(f"{self.config.seed}:{batch.id}")
        output: list[bytes] = []
        errors: list[bytes] = []
        for index, (custom_id, body) in enumerate(batch.lines):
            if index >= processed:
                errors.append(_unanswered_line(batch.id, index, custom_id, status))
                self.counts[f"batch_lines_{status}"] += 1
                continue
            line_status, line = self._answer_line(batch, index, custom_id, body, draws)
            if line_status == 200:
                output.append(line)
                self.counts["batch_lines_ok"] += 1
                if custom_id in self.answered:
                    self.counts["batch_paid_twice"] += 1
                self.answered.add(custom_id)
            else:
                errors.append(line)
        batch.completed = len(output)
        batch.failed = len(errors)
        batch.output_file_id = self._store_lines(output, f"{batch.id}_output.jsonl")
        batch.error_file_id = self._store_lines(errors, f"{batch.id}_error.jsonl")
        batch.final, batch.processed = status, processed
        self.counts[f"batch_{status}"] += 1

    def _answer_line(
        self, batch: _Batch, index: int, custom_id: str, body: Any, draws: random.Random
    ) -> tuple[int, bytes]:
        """One answered line of a batch's results (an injected failure at ``line_error_rate``)."""
        if self.config.line_error_rate and draws.random() < self.config.line_error_rate:
            self.counts["batch_lines_failed"] += 1
            line_status = 500 if self.counts["batch_lines_failed"] % 2 else 429
            failure: dict[str, Any] = {
                "message": "The server had an error (injected).",
                "type": "server_error",
                "param": None,
                "code": None,
            }
            if line_status == 429:
                failure.update(message="Rate limit reached (injected).", code="rate_limit_exceeded")
            body_out: dict[str, Any] = {"error": failure}
        else:
            self.server._serial += 1
            kind = _ENDPOINTS[batch.endpoint]
            line_status, body_out, _ = self.server.answer(kind, body, serial=self.server._serial)
        response = {
            "status_code": line_status,
            "request_id": f"req_batch_{batch.id}_{index}",
            "body": body_out,
        }
        line_id = f"batch_req_{batch.id}_{index}"
        record = {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
        return line_status, orjson.dumps(record)

    def _store_lines(self, lines: list[bytes], name: str) -> str | None:
        """Keep ``lines`` as a results file; return its id (None when there are no lines)."""
        if not lines:
            return None
        created = self._stamp(self.now()) or 0
        file = _File(self._next_id("file-"), b"\n".join(lines) + b"\n", name, "batch_output", created)
        self.files[file.id] = file
        return file.id

    async def _retrieve(self, request: web.Request) -> web.Response:
        self.counts["batch_polls"] += 1
        failure = self._injected_failure()
        if failure is not None:
            return failure
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return self._error(404, "No such Batch object", "batch_not_found")
        return self._json(self._view(batch))

    async def _list(self, request: web.Request) -> web.Response:
        try:
            limit = min(max(int(request.query.get("limit", "20")), 1), 100)
        except ValueError:
            return self._error(400, "limit must be an integer")
        after = request.query.get("after")
        ordered = sorted(self.batches.values(), key=lambda b: b.id, reverse=True)  # newest first
        if after:
            ordered = [b for b in ordered if b.id < after]
        page = ordered[:limit]
        return self._json(
            {
                "object": "list",
                "data": [self._view(b) for b in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(ordered) > limit,
            }
        )

    async def _cancel(self, request: web.Request) -> web.Response:
        failure = self._injected_failure()
        if failure is not None:
            return failure
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return self._error(404, "No such Batch object", "batch_not_found")
        status, _ = self._status(batch, self.now())
        if status in _TERMINAL:
            return self._error(409, f"Cannot cancel a batch with status '{status}'.")
        if batch.cancel_at is None:
            batch.cancel_at = self.now()
            self.counts["batch_cancel_requests"] += 1
        return self._json(self._view(batch))


def _unanswered_line(batch_id: str, index: int, custom_id: str, status: str) -> bytes:
    """The error line of a request the batch never ran (it expired or was cancelled first)."""
    error = {
        "code": "batch_expired",
        "message": "This request could not be executed before the completion window expired.",
    }
    if status == "cancelled":
        error = {
            "code": "batch_cancelled",
            "message": "This request was not executed because the batch was cancelled.",
        }
    line = {"id": f"batch_req_{batch_id}_{index}", "custom_id": custom_id, "response": None, "error": error}
    return orjson.dumps(line)
