"""What goes in (``Request``) and what comes out (``Result``) of the engine, and the request key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from ..errors import ConfigError, ErrorKind

__all__ = ["AnswerScope", "ErrorInfo", "Request", "Result", "Usage", "request_key"]

_EMPTY: Mapping[str, Any] = {}


def request_key(kind: str, content: Any, params: Mapping[str, Any], sample: int) -> str:
    """Stable content hash of (endpoint kind, prompt or messages, params) plus ``-{sample}``.

    Keys are sorted before hashing, so dicts that differ only in key order share a key. What the
    engine adds to every request (the model, its default params) is not in this key but in the
    journal's :class:`AnswerScope`: a journal line answers a request when both match.
    """
    payload = orjson.dumps([kind, content, params], option=orjson.OPT_SORT_KEYS)
    return f"{hashlib.sha256(payload).hexdigest()[:32]}-{sample}"


#: Request fields that do not change an answer (billing tier, tracing, transport): left out of
#: the scope, so changing them replays the journal instead of paying again.
NOT_ANSWER_FIELDS = frozenset(
    {"service_tier", "user", "metadata", "store", "stream", "stream_options", "n", "timeout"}
)


@dataclass(frozen=True)
class AnswerScope:
    """What besides the request decides an answer: the model and the engine's default params.

    A journal line is written with its scope's ``digest`` and replays only for a request with the
    same key under the same scope, so re-running with another ``--model`` or other sampling
    defaults asks again instead of replaying the first model's answers.
    """

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, config: Any) -> AnswerScope:
        """The scope of an ``EngineConfig`` (anything with ``model`` and ``default_params``)."""
        return cls(config.model, dict(config.default_params))

    @cached_property
    def digest(self) -> str:
        """A short stable hash of the model and the answer-changing default params."""
        params = {k: v for k, v in self.params.items() if k not in NOT_ANSWER_FIELDS}
        payload = orjson.dumps([self.model, params], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(payload).hexdigest()[:16]

    def admits_legacy(self, recorded_model: object) -> bool:
        """Whether a line written before scopes existed (it records only the model the server
        named) answers for this scope: no model recorded, the same model, or the server's dated
        name for it (``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``)."""
        if not isinstance(recorded_model, str) or not recorded_model:
            return True
        return recorded_model == self.model or recorded_model.startswith(self.model + "-")


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
