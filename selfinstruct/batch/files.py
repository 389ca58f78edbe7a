"""Batch input files: one JSON line per request, split within the API's limits.

Each line is ``{"custom_id": <request key>, "method": "POST", "url": "/v1/chat/completions" |
"/v1/completions", "body": <the same body an online call sends>}``. A file holds one endpoint and
one model, at most ``max_requests`` lines and ``max_bytes`` bytes (OpenAI: 50,000 and 200 MB).
The custom id is the request's journal key, so results land in the same journal as online ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..engine import Request
from ..engine.http import build_body
from ..errors import ConfigError, OutputWriteError, is_full_disk

__all__ = ["ENDPOINTS", "FileLimits", "SpooledFile", "batch_line", "request_from_line", "split_into_files"]

#: The batch endpoint for each request kind.
ENDPOINTS: Mapping[str, str] = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}
_KINDS = {path: kind for kind, path in ENDPOINTS.items()}

# OpenAI's limits per batch input file.
MAX_REQUESTS = 50_000
MAX_BYTES = 200_000_000


@dataclass(frozen=True, kw_only=True)
class FileLimits:
    """Most requests and bytes per batch input file (default: OpenAI's 50,000 and 200 MB)."""

    max_requests: int = MAX_REQUESTS
    max_bytes: int = MAX_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_requests <= MAX_REQUESTS:
            raise ConfigError(f"max_requests per batch file must be in 1..{MAX_REQUESTS:,}")
        if not 1_000 <= self.max_bytes <= MAX_BYTES:
            raise ConfigError(f"max_bytes per batch file must be in 1,000..{MAX_BYTES:,}")


@dataclass(frozen=True)
class SpooledFile:
    """A batch input file written to disk, ready to upload."""

    path: Path
    endpoint: str
    keys: tuple[str, ...]
    size: int


def batch_line(request: Request, model: str, default_params: Mapping[str, Any]) -> bytes:
    """The input line for one single-sample request (ending in a newline)."""
    record = {
        "custom_id": request.key,
        "method": "POST",
        "url": ENDPOINTS[request.kind],
        "body": build_body(request, model, default_params),
    }
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def request_from_line(line: Mapping[str, Any]) -> Request:
    """Rebuild a request from an input line (for results whose caller is gone, e.g. after a kill)."""
    body = dict(line.get("body") or {})
    body.pop("model", None)
    if _KINDS.get(str(line.get("url"))) == "chat":
        return Request(messages=body.pop("messages"), params=body)
    return Request(prompt=str(body.pop("prompt", "")), params=body)


def split_into_files(
    requests: Iterable[Request],
    directory: Path,
    *,
    model: str,
    default_params: Mapping[str, Any],
    limits: FileLimits,
    prefix: str,
) -> Iterator[SpooledFile]:
    """Write ``requests`` (single-sample, distinct keys) into files under ``directory``.

    Files are cut at ``limits`` and by endpoint (chat and completion requests never share one);
    they are yielded as each is closed, named ``{prefix}-{n}.jsonl``.

    Raises:
        ConfigError: one request alone is larger than ``limits.max_bytes``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    open_files: dict[str, tuple[Path, Any, list[str], int]] = {}
    serial = 0

    def close(endpoint: str) -> SpooledFile:
        path, handle, keys, size = open_files.pop(endpoint)
        with _full_disk_named(path):
            handle.close()  # flushes: a full disk may show here
        return SpooledFile(path, endpoint, tuple(keys), size)

    try:
        for request in requests:
            line = batch_line(request, model, default_params)
            if len(line) > limits.max_bytes:
                raise ConfigError(
                    f"request {request.id or request.key} is {len(line):,} bytes as a batch line; "
                    f"a batch file holds at most {limits.max_bytes:,}"
                )
            endpoint = ENDPOINTS[request.kind]
            current = open_files.get(endpoint)
            if current is not None and (
                len(current[2]) >= limits.max_requests or current[3] + len(line) > limits.max_bytes
            ):
                yield close(endpoint)
                current = None
            if current is None:
                serial += 1
                path = directory / f"{prefix}-{serial}.jsonl"
                current = (path, open(path, "wb"), [], 0)  # noqa: SIM115 - closed by close()
                open_files[endpoint] = current
            path, handle, keys, size = current
            with _full_disk_named(path):
                handle.write(line)
            keys.append(request.key)
            open_files[endpoint] = (path, handle, keys, size + len(line))
        for endpoint in list(open_files):
            yield close(endpoint)
    finally:
        for _, handle, _, _ in open_files.values():
            handle.close()


@contextmanager
def _full_disk_named(path: Path) -> Iterator[None]:
    """A full disk while spooling a batch file is an OutputWriteError naming it."""
    try:
        yield
    except OSError as error:
        if not is_full_disk(error):
            raise
        raise OutputWriteError(path, error, saved="nothing was submitted from it") from None
