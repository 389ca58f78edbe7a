"""The durable journal: one orjson line per completed request, appended before it is reported.

Durability: each line is written with a single unbuffered ``write`` to a file opened for append,
so once ``append`` returns the line is in the operating system's hands and survives the process
being killed (``kill -9``, a crash). ``fsync`` (which also survives a power cut) runs at most once
per ``fsync_interval`` seconds (default 1 s) on a helper thread, so a slow disk never stalls the
event loop, and once more on close; pass None to never fsync.

A kill can tear the last line. On open, a last line without its newline or that does not parse
is cut off (the request it belonged to is simply done again); a bad line anywhere else (not JSON,
or a field of the wrong type, such as ``usage: "x"``) means the file is not ours or was edited,
and raises ``JournalError`` naming the file and line.

Keys: a line answers a request when its ``key`` is the request's key (kind, prompt or messages,
params, sample) and its ``scope`` is the journal's :class:`AnswerScope` digest (model and the
engine's default params), so another ``--model`` asks again. Compatibility: lines written before
scopes existed have no ``scope``; they answer when the model they record is the configured one
(or the server's dated name for it, or none), as :meth:`AnswerScope.admits_legacy` says. A
``Journal`` or ``read_journal`` without a scope takes every line.

What is journaled: successful completions, and failures that are a property of the request
itself (``JOURNALED_KINDS`` in ``selfinstruct.errors``: bad_request, context_length), so a re-run
does not pay for them again. Transient failures (rate limits, 5xx, timeouts) and stops (quota,
budget) are not: a re-run retries them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import orjson

from ..errors import JOURNALED_KINDS, ErrorKind, JournalError, OutputWriteError
from .requests import AnswerScope, ErrorInfo, Request, Result, Usage

__all__ = [
    "JOURNALED_ERRORS",
    "Journal",
    "read_journal",
    "record_problem",
    "record_to_result",
    "result_to_record",
]

#: The old name of ``selfinstruct.errors.JOURNALED_KINDS``.
JOURNALED_ERRORS = JOURNALED_KINDS


def result_to_record(result: Result) -> dict[str, Any]:
    """The journal line for a result (the request is stored whole so it can be rebuilt)."""
    request = result.request
    record: dict[str, Any] = {
        "key": result.key,
        "id": request.id,
        "sample": request.sample,
    }
    if request.messages is not None:
        record["messages"] = list(request.messages)
    else:
        record["prompt"] = request.prompt
    record["params"] = dict(request.params)
    if request.meta:
        record["meta"] = dict(request.meta)
    record["text"] = result.text
    record["finish_reason"] = result.finish_reason
    record["usage"] = (
        None if result.usage is None else [result.usage.prompt_tokens, result.usage.completion_tokens]
    )
    if result.error is not None:
        e = result.error
        record["error"] = {
            "kind": e.kind,
            "message": e.message,
            "status": e.status,
            "attempts": e.attempts,
            "request_id": e.request_id,
            "code": e.code,
        }
    record["attempts"] = result.attempts
    record["latency"] = round(result.latency, 6)
    record["model"] = result.model
    record["time"] = round(time.time(), 3)
    return record


_STR_OR_NONE = ("id", "prompt", "text", "finish_reason", "model", "scope")
_DICT_OR_NONE = ("params", "meta")
_ERROR_FIELDS = {f.name for f in dataclasses.fields(ErrorInfo)}


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def record_problem(record: object) -> str | None:
    """What is wrong with a journal record's fields (None when it can be replayed)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if not isinstance(record.get("key"), str):
        return "'key' is not a string"
    for name in _STR_OR_NONE:
        if record.get(name) is not None and not isinstance(record[name], str):
            return f"{name!r} is not a string"
    for name in _DICT_OR_NONE:
        if record.get(name) is not None and not isinstance(record[name], dict):
            return f"{name!r} is not an object"
    messages = record.get("messages")
    if messages is not None and (
        not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages)
    ):
        return "'messages' is not a list of objects"
    if (record.get("prompt") is None) == (messages is None):
        return "needs exactly one of 'prompt' or 'messages'"
    for name in ("sample", "attempts"):
        if record.get(name) is not None and not _is_count(record[name]):
            return f"{name!r} is not a non-negative integer"
    latency = record.get("latency")
    if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))):
        return "'latency' is not a number"
    usage = record.get("usage")
    if usage is not None and not (isinstance(usage, list) and len(usage) == 2 and all(map(_is_count, usage))):
        return "'usage' is not [prompt_tokens, completion_tokens]"
    error = record.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return "'error' is not an object with a 'message'"
        if not isinstance(error.get("kind"), str):
            return "'error.kind' is not a string"
        for name in ("status", "attempts"):
            if error.get(name) is not None and not _is_count(error[name]):
                return f"'error.{name}' is not a non-negative integer"
        for name in ("request_id", "code"):
            if error.get(name) is not None and not isinstance(error[name], str):
                return f"'error.{name}' is not a string"
    return None


def record_to_result(record: dict[str, Any], request: Request | None = None) -> Result:
    """Rebuild a ``Result`` (``from_journal=True``) from a journal line.

    With ``request`` given (the caller's current request for the same key) it is used as is, so
    the caller's id and meta come back; otherwise the journaled request is rebuilt. The record is
    expected to pass :func:`record_problem` (the journal checks every line when it reads it).
    """
    if request is None:
        request = Request(
            prompt=record.get("prompt"),
            messages=record.get("messages"),
            params=record.get("params") or {},
            sample=int(record.get("sample") or 0),
            id=record.get("id"),
            meta=record.get("meta") or {},
        )
    usage = record.get("usage")
    error = record.get("error")
    return Result(
        request=request,
        key=record["key"],
        text=record.get("text"),
        finish_reason=record.get("finish_reason"),
        usage=None if usage is None else Usage(int(usage[0]), int(usage[1])),
        error=None if error is None else _error_info(error),
        from_journal=True,
        attempts=int(record.get("attempts") or 0),
        latency=float(record.get("latency") or 0.0),
        model=record.get("model"),
    )


def _error_info(record: dict[str, Any]) -> ErrorInfo:
    fields = {k: v for k, v in record.items() if k in _ERROR_FIELDS}  # a newer journal may add some
    fields["kind"] = ErrorKind.parse(fields.get("kind"))
    fields["attempts"] = fields.get("attempts") or 0
    return ErrorInfo(**fields)


def _answers(record: dict[str, Any], scope: AnswerScope | None) -> bool:
    """Whether a (checked) record answers requests under ``scope`` (None: every record does)."""
    if scope is None:
        return True
    written = record.get("scope")
    if written is None:
        return scope.admits_legacy(record.get("model"))
    return bool(written == scope.digest)


def _scan(path: Path, scope: AnswerScope | None = None) -> tuple[list[tuple[str, int]], int, int]:
    """Index a journal: ([(key, offset)] of the lines that answer under ``scope``, end of the last
    good line, file size)."""
    index: list[tuple[str, int]] = []
    offset = 0
    size = path.stat().st_size

    def take(line: bytes, number: int, last: bool) -> bool:
        """Index one line; False when it is a torn last line."""
        if not line.endswith(b"\n") and last:
            return False
        stripped = line.strip()
        if not stripped:
            return True
        try:
            record = orjson.loads(stripped)
            problem = record_problem(record)
        except orjson.JSONDecodeError as exc:
            problem = f"not JSON: {exc}"
        if problem is not None:
            if last:
                return False
            raise JournalError(
                f"{path}:{number}: not a selfinstruct journal line ({problem}); "
                "use another output path or remove the file to start over"
            )
        if _answers(record, scope):
            index.append((record["key"], offset))
        return True

    with open(path, "rb") as handle:
        pending: bytes | None = None
        number = 0
        for line in handle:
            if pending is not None:
                take(pending, number, False)
                offset += len(pending)
            pending = line
            number += 1
        if pending is not None and take(pending, number, True):
            offset += len(pending)
    return index, offset, size


def read_journal(path: str | Path, scope: AnswerScope | None = None) -> Iterator[Result]:
    """Replay the completed results in a journal, in file order (a torn last line is ignored).

    With ``scope``, only the lines that answer under it (see the module docstring); without,
    every line.

    Raises:
        JournalError: a line other than the last is not a journal record (names file and line).
    """
    path = Path(path)
    if not path.exists():
        return
    index, _, _ = _scan(path, scope)
    with open(path, "rb") as handle:
        for _, offset in index:
            handle.seek(offset)
            yield record_to_result(orjson.loads(handle.readline()))


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (one ``write`` for a journal line; a loop when it is short)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Journal:
    """An open journal: an index of done keys and an append handle.

    Memory is one dict entry (key -> byte offset) per journaled result; records are read back
    from disk when replayed. With ``scope`` (the engine passes its :class:`AnswerScope`), only
    lines written under that scope (or old lines it admits) are done keys, and new lines record
    it; without, every line counts and new lines record none.
    """

    def __init__(
        self, path: str | Path, *, fsync_interval: float | None = 1.0, scope: AnswerScope | None = None
    ) -> None:
        self.path = Path(path)
        self.fsync_interval = fsync_interval
        self.scope = scope
        self.repaired_bytes = 0
        self._index: dict[str, int] = {}
        self._fd: int | None = None
        self._reader: Any = None
        self._offset = 0
        self._last_sync = time.monotonic()
        self._syncer: ThreadPoolExecutor | None = None
        self._sync_pending: Future[None] | None = None
        self._write_failed: OutputWriteError | None = None

    def open(self) -> Journal:
        """Read the existing journal (repairing a torn last line) and open it for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            index, end, size = _scan(self.path, self.scope)
            if end < size:
                self.repaired_bytes = size - end
                os.truncate(self.path, end)
            for key, offset in index:
                self._index.setdefault(key, offset)
            self._offset = end
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._reader = open(self.path, "rb")  # closed in close()
        return self

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, key: str, request: Request | None = None) -> Result | None:
        """The journaled result for ``key`` (rebuilt with ``request`` when given), or None."""
        offset = self._index.get(key)
        if offset is None:
            return None
        self._reader.seek(offset)
        return record_to_result(orjson.loads(self._reader.readline()), request)

    def append(self, result: Result) -> None:
        """Write one result's line; when this returns the line survives the process dying."""
        if self._fd is None:
            raise JournalError(f"journal {self.path} is not open")
        record = result_to_record(result)
        if self.scope is not None:
            record["scope"] = self.scope.digest
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        if self._write_failed is not None:
            raise self._write_failed
        try:
            _write_all(self._fd, line)
        except OSError as error:
            self._failed_write(error)
        self._index.setdefault(result.key, self._offset)
        self._offset += len(line)
        interval = self.fsync_interval
        if interval is not None:
            now = time.monotonic()
            pending = self._sync_pending
            if now - self._last_sync >= interval and (pending is None or pending.done()):
                if self._syncer is None:
                    self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-fsync")
                self._sync_pending = self._syncer.submit(os.fsync, self._fd)
                self._last_sync = now

    def _failed_write(self, error: OSError) -> NoReturn:
        """Cut off the part of a line a failed write left, then raise (and keep raising) the error.

        Every later ``append`` raises the same error without writing, so a disk that frees a little
        space for a moment cannot put a whole line after a torn one.
        """
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._offset)
        except OSError:
            pass  # the torn tail is cut off when the journal is next opened
        self._write_failed = OutputWriteError(
            self.path, error, saved=f"the journal holds the {len(self._index):,} answers before it"
        )
        raise self._write_failed

    def close(self) -> None:
        """fsync and close (safe to call twice)."""
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)  # the fd must outlive a running fsync
            self._syncer = None
            self._sync_pending = None
        try:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    if self.fsync_interval is not None:
                        os.fsync(fd)
                except OSError as error:
                    if self._write_failed is None:  # else that error is already on its way up
                        saved = f"the journal's {len(self._index):,} answers may not all be on disk"
                        raise OutputWriteError(self.path, error, saved=saved) from None
                finally:
                    os.close(fd)
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def __enter__(self) -> Journal:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
