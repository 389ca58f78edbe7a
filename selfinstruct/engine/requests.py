"""What goes in (``Request``) and what comes out (``Result``) of the engine, and the request key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from ..errors import ConfigError, ErrorKind

__all__ = ["ErrorInfo", "Request", "Result", "Usage", "request_key"]

_EMPTY: Mapping[str, Any] = {}


def request_key(kind: str, content: Any, params: Mapping[str, Any], sample: int) -> str:
    """Stable content hash of (endpoint kind, prompt or messages, params) plus ``-{sample}``.

    Keys are sorted before hashing, so dicts that differ only in key order share a key. The model
    is deliberately not part of the key: a journal is tied to one job, not to one model name.
    """
    payload = orjson.dumps([kind, content, params], option=orjson.OPT_SORT_KEYS)
    return f"{hashlib.sha256(payload).hexdigest()[:32]}-{sample}"


@dataclass(frozen=True, kw_only=True, eq=False)
class Request:
    """One completion to make.

    Exactly one of ``prompt`` (sent to ``/v1/completions``) or ``messages`` (sent to
    ``/v1/chat/completions``). ``params`` are sampling parameters passed through to the server
    (temperature, top_p, max_tokens, stop, ...); ``n > 1`` is fanned out by the engine into ``n``
    requests with ``sample = 0..n-1``. ``id`` and ``meta`` are the caller's and are echoed back
    (and journaled) but are not part of ``key``.
    """

    prompt: str | None = None
    messages: Sequence[Mapping[str, Any]] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    sample: int = 0
    id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ConfigError("Request needs exactly one of prompt= (completions) or messages= (chat)")
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise ConfigError(f"Request.prompt must be a string, got {type(self.prompt).__name__}")
        if self.messages is not None:
            if isinstance(self.messages, (str, bytes)) or not all(
                isinstance(m, Mapping) for m in self.messages
            ):
                raise ConfigError("Request.messages must be a list of {'role': ..., 'content': ...} objects")
            if not self.messages:
                raise ConfigError("Request.messages must not be empty")
        if not isinstance(self.sample, int) or self.sample < 0:
            raise ConfigError(f"Request.sample must be an integer >= 0, got {self.sample!r}")
        n = self.params.get("n", 1)
        if n is not None and (not isinstance(n, int) or n < 1):
            raise ConfigError(f"Request.params['n'] must be a positive integer, got {n!r}")

    @property
    def kind(self) -> str:
        """``"chat"`` for messages, ``"completion"`` for a prompt."""
        return "chat" if self.messages is not None else "completion"

    @property
    def n(self) -> int:
        """How many samples the caller asked for (``params['n']``, default 1)."""
        return int(self.params.get("n") or 1)

    @cached_property
    def key(self) -> str:
        """The journal key: content hash of kind, prompt/messages and params, plus ``-{sample}``."""
        content = self.prompt if self.messages is None else list(self.messages)
        return request_key(self.kind, content, self.params, self.sample)

    def fan_out(self) -> list[Request]:
        """Split ``n > 1`` into ``n`` single-sample requests (``sample = self.sample * n + i``)."""
        n = self.n
        if n == 1:
            return [self]
        params = {k: v for k, v in self.params.items() if k != "n"}
        return [
            Request(
                prompt=self.prompt,
                messages=self.messages,
                params=params,
                sample=self.sample * n + i,
                id=self.id,
                meta=self.meta,
            )
            for i in range(n)
        ]


@dataclass(frozen=True)
class Usage:
    """Tokens the server reported for one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ErrorInfo:
    """Why a request failed.

    ``kind`` is an :class:`~selfinstruct.errors.ErrorKind` (a string enum: ``rate_limit``,
    ``server``, ``timeout``, ``connection``, ``invalid_body`` are retried; ``bad_request``,
    ``auth``, ``not_found``, ``context_length``, ``quota`` are not; ``budget``, ``cancelled``: the
    engine stopped before the request ran). ``selfinstruct.errors`` holds the sets that decide
    what happens to each kind.
    """

    kind: ErrorKind | str
    message: str
    status: int | None = None
    attempts: int = 0
    request_id: str | None = None
    code: str | None = None


@dataclass(frozen=True, eq=False)
class Result:
    """The outcome of one request: text and usage, or an error with its cause."""

    request: Request
    key: str
    text: str | None
    finish_reason: str | None
    usage: Usage | None
    error: ErrorInfo | None
    from_journal: bool = False
    attempts: int = 0
    latency: float = 0.0
    model: str | None = None

    @property
    def ok(self) -> bool:
        """True when the request produced a completion."""
        return self.error is None
