"""A small OpenAI-compatible HTTP server for tests and benchmarks, with injectable faults.

It answers ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models`` on loopback with
OpenAI-shaped JSON, and the Batch API (``/v1/files``, ``/v1/batches``: see ``batch_api``). It
can add latency, 429s (with ``Retry-After`` and ``retry-after-ms``), 500s,
dropped connections, garbage or truncated bodies, answers with no text (null content or no
message), answers with odd ``usage`` counts (strings, null, fractions, negatives), error texts
that echo the caller's API key (as some proxies do), and an enforced requests/tokens-per-window
limit that answers 429 with a correct ``Retry-After`` and sends ``x-ratelimit-*`` headers.

Use it as ``async with FakeOpenAIServer(...) as server:`` inside an event loop, as
``with FakeOpenAIServer(...).in_thread() as server:`` from synchronous code, or as a process:
``python -m selfinstruct.testing.server --port 0`` (prints its base URL on the first stdout line;
``GET /_fake/counts`` returns the outcome counts and ``POST /_fake/reset`` zeroes them).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .batch_api import FakeBatchAPI, FakeBatchConfig

__all__ = [
    "FakeBatchConfig",
    "FakeOpenAIServer",
    "FakeReply",
    "FakeServerConfig",
    "Responder",
    "default_responder",
    "serve_until_stopped",
]


#: Injected faults answered with an error (or nothing) instead of a completion.
_REFUSALS = frozenset({"flex_unavailable", "rate_limited", "server_error", "dropped", "garbage"})


def _parse_body(raw: bytes, kind: str) -> dict[str, Any]:
    """The request body, checked as an OpenAI server checks it; ValueError says what is wrong."""
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("body is not an object")
    if kind == "chat" and not isinstance(body.get("messages"), list):
        raise ValueError("'messages' must be a list")
    if kind == "completion" and "prompt" not in body:
        raise ValueError("'prompt' is required")
    return body


@dataclass(frozen=True)
class FakeReply:
    """What a responder returns when plain text is not enough.

    ``status`` other than 200 makes the server answer with an OpenAI-shaped error body carrying
    ``error_code`` (e.g. ``"insufficient_quota"``, ``"context_length_exceeded"``) and ``headers``.
    """

    text: str = ""
    finish_reason: str = "stop"
    status: int = 200
    error_code: str | None = None
    error_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


Responder = Callable[[str, dict[str, Any]], "str | FakeReply"]


@dataclass(frozen=True, kw_only=True)
class FakeServerConfig:
    """Behaviour of the fake server: latency, fault rates (0..1, drawn per request) and limits.

    ``rate_flex_unavailable`` is the share of ``service_tier: "flex"`` requests answered with
    flex's 429 ``resource_unavailable`` (no Retry-After). ``rate_empty_answer`` answers 200 with
    null content (or, every other time, a choice without a message; ``text: null`` for
    completions); ``rate_odd_usage`` answers normally but with ``usage`` counts that are not
    integers (``"ten"``, null, ``12.5``, ``-3`` in turn). ``echo_key`` puts the request's
    ``Authorization`` header into the text of every error body.
    """

    latency: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    rate_garbage: float = 0.0
    rate_empty_answer: float = 0.0
    rate_odd_usage: float = 0.0
    echo_key: bool = False
    retry_after: float = 1.0
    rpm_limit: float | None = None
    tpm_limit: float | None = None
    limit_window: float = 60.0
    seed: int = 0
    honour_n: bool = True
    model: str = "fake-model"
    rate_flex_unavailable: float = 0.0

    def __post_init__(self) -> None:
        for name in (*_FAULTS, "rate_flex_unavailable"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FakeServerConfig.{name} must be in [0, 1], got {value!r}")
        if sum(getattr(self, name) for name in _FAULTS) > 1.0:
            raise ValueError("FakeServerConfig fault rates must sum to at most 1")
        if self.latency < 0 or self.retry_after < 0:
            raise ValueError("FakeServerConfig.latency and retry_after must be >= 0")
        if self.limit_window <= 0:
            raise ValueError("FakeServerConfig.limit_window must be > 0 seconds")
        for name in ("rpm_limit", "tpm_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"FakeServerConfig.{name} must be > 0 or None")


# The per-request faults, drawn from one uniform number in this order.
_FAULTS = ("rate_429", "rate_500", "rate_drop", "rate_garbage", "rate_empty_answer", "rate_odd_usage")
# What ``rate_odd_usage`` sends as prompt_tokens, in turn.
_ODD_COUNTS: tuple[Any, ...] = ("ten", None, 12.5, -3)


def count_tokens(text: str) -> int:
    """Approximate tokens as whitespace-separated words (good enough for usage accounting)."""
    return len(text.split())


def prompt_text(kind: str, body: Mapping[str, Any]) -> str:
    """The text a request asks about: the prompt, or every message's content joined."""
    if kind == "chat":
        parts = []
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, Mapping) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        return "\n".join(parts)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return "\n".join(str(p) for p in prompt)
    return str(prompt)


def default_responder(kind: str, body: dict[str, Any]) -> str:
    """Deterministic text derived from the prompt: a digest and the prompt's last few words."""
    text = prompt_text(kind, body)
    digest = hashlib.blake2b(text.encode(), digest_size=4).hexdigest()
    tail = " ".join(text.split()[-6:])
    return f"reply {digest} to: {tail}"


def _apply_limits(text: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """Cut ``text`` at the first stop sequence and at ``max_tokens`` words; return (text, reason)."""
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    for marker in stops:
        if marker and marker in text:
            text = text[: text.index(marker)]
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and max_tokens >= 0:
        words = text.split()
        if len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
    return text, "stop"


class _Window:
    """Accepted requests (time, tokens) within the last ``window`` seconds, for the enforced limit."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.events: deque[tuple[float, int]] = deque()
        self.tokens = 0

    def expire(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - self.window:
            _, tokens = self.events.popleft()
            self.tokens -= tokens

    def wait_for(self, now: float, rpm: float | None, tpm: float | None, tokens: int) -> float:
        """Seconds until a request of ``tokens`` fits, 0 if it fits now."""
        wait = 0.0
        if rpm is not None and len(self.events) + 1 > rpm:
            index = len(self.events) - int(rpm)
            wait = max(wait, self.events[index][0] + self.window - now)
        if tpm is not None and self.tokens + tokens > tpm and self.events:
            excess = self.tokens + tokens - tpm
            freed = 0
            for stamp, spent in self.events:
                freed += spent
                if freed >= excess:
                    wait = max(wait, stamp + self.window - now)
                    break
            else:
                wait = max(wait, self.events[-1][0] + self.window - now)
        return max(wait, 0.0)


def _error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    kind = {429: "rate_limit_exceeded", 400: "invalid_request_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _format_reset(seconds: float) -> str:
    """Format a reset delay like OpenAI's ``x-ratelimit-reset-*`` headers (``"1m3.5s"``, ``"250ms"``)."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


class FakeOpenAIServer:
    """An OpenAI-compatible server on a random free loopback port.

    Args:
        config: latency, fault rates and limits.
        responder: ``responder(kind, body) -> str | FakeReply`` with kind ``"chat"`` or
            ``"completion"``; defaults to :func:`default_responder`.
        clock: time source for the enforced limit window (seconds); defaults to ``time.monotonic``.
            Tests that drive the client with a fake clock pass the same clock here.
        port: a fixed port, or 0 for a free one.
        batch: how the Batch API (``/v1/files``, ``/v1/batches``) behaves; see ``batch_api``.

    ``counts`` holds requests by outcome: ``requests``, ``ok``, ``rate_limited`` (injected 429),
    ``limit_exceeded`` (enforced limit), ``server_error``, ``dropped``, ``garbage``,
    ``empty_answer``, ``odd_usage`` (also counted in ``ok``), ``reply_error``, ``bad_request``,
    ``models``; ``answered_again`` counts good answers to a request body answered before (a
    client that pays twice for the same request).
    """

    def __init__(
        self,
        config: FakeServerConfig | None = None,
        responder: Responder | None = None,
        *,
        clock: Callable[[], float] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        batch: FakeBatchConfig | None = None,
    ) -> None:
        self.config = config or FakeServerConfig()
        self.responder: Responder = responder or default_responder
        self.clock = clock or time.monotonic
        self.host = host
        self.port = port
        self.counts: Counter[str] = Counter()
        self._random = random.Random(self.config.seed)
        self._window = _Window(self.config.limit_window)
        self._runner: web.AppRunner | None = None
        self._serial = 0
        self._answered: set[bytes] = set()
        self.batch_api = FakeBatchAPI(self, batch)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:PORT/v1``."""
        if self._runner is None:
            raise RuntimeError("FakeOpenAIServer is not running; use 'async with' or in_thread()")
        return f"http://{self.host}:{self.port}/v1"

    def _app(self) -> web.Application:
        # Room for a batch input file at OpenAI's 200 MB limit (and a bit over, to test the check).
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completion)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_fake/counts", self._counts)
        app.router.add_post("/_fake/reset", self._reset)
        self.batch_api.mount(app)
        return app

    async def start(self) -> None:
        """Bind the port and start serving."""
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(runner, sock, backlog=4096)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving and release the port."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextmanager
    def in_thread(self) -> Iterator[FakeOpenAIServer]:
        """Run the server on its own event loop in a background thread (for sync code and CLI tests)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as error:  # reported to the caller below
                failure.append(error)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="FakeOpenAIServer", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)

    # -- handlers -------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        self.counts["models"] += 1
        body = {"object": "list", "data": [{"id": self.config.model, "object": "model", "owned_by": "fake"}]}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def _counts(self, request: web.Request) -> web.Response:
        """The outcome counts as JSON (for a benchmark driving a server in another process)."""
        return web.Response(body=orjson.dumps(dict(self.counts)), content_type="application/json")

    async def _reset(self, request: web.Request) -> web.Response:
        """Zero the counts, the limit window and the Batch API's record of answered custom ids."""
        self.counts.clear()
        self._answered.clear()
        self._window = _Window(self.config.limit_window)
        self.batch_api.answered.clear()
        return web.Response(body=b"{}", content_type="application/json")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "chat")

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "completion")

    def _error(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        request: web.Request | None = None,
    ) -> web.Response:
        if self.config.echo_key and request is not None:
            # What a careless proxy does: repeat the credentials it was given.
            message += f" (request had Authorization: {request.headers.get('Authorization', '')!r})"
        return web.Response(
            status=status,
            body=orjson.dumps(_error_body(status, message, code)),
            content_type="application/json",
            headers=headers,
        )

    def _retry_headers(self, seconds: float) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(seconds))), "retry-after-ms": str(int(seconds * 1000))}

    async def _handle(self, request: web.Request, kind: str) -> web.StreamResponse:
        self.counts["requests"] += 1
        self._serial += 1
        headers = {"x-request-id": f"req_{self._serial}"}
        raw = await request.read()
        try:
            body = _parse_body(raw, kind)
        except ValueError as error:  # orjson.JSONDecodeError is a ValueError
            self.counts["bad_request"] += 1
            return self._error(400, f"invalid request: {error}", request=request)
        if self.config.latency:
            await asyncio.sleep(self.config.latency)
        limited = self._over_limit(request, count_tokens(prompt_text(kind, body)), headers)
        if limited is not None:
            return limited
        fault = self._pick_fault(body)
        if fault in _REFUSALS:
            self.counts[fault] += 1
            return await self._refuse(fault, request, headers)
        status, payload, extra = self.answer(kind, body, serial=self._serial)
        headers.update(extra)
        if status == 200:
            self._spoil_or_record(fault, kind, payload, raw)
        elif self.config.echo_key:
            message = payload["error"]["message"]
            payload["error"]["message"] = f"{message} (key {request.headers.get('Authorization', '')!r})"
        return web.Response(
            status=status, body=orjson.dumps(payload), content_type="application/json", headers=headers
        )

    def _over_limit(
        self, request: web.Request, prompt_tokens: int, headers: dict[str, str]
    ) -> web.Response | None:
        """The 429 of the rpm/tpm window, if this request is over it; else record it (and its headers)."""
        config = self.config
        if config.rpm_limit is None and config.tpm_limit is None:
            return None
        now = self.clock()
        self._window.expire(now)
        wait = self._window.wait_for(now, config.rpm_limit, config.tpm_limit, prompt_tokens)
        if wait > 0:
            self.counts["limit_exceeded"] += 1
            return self._error(
                429,
                "Rate limit reached; please retry later.",
                code="rate_limit_exceeded",
                headers={**headers, **self._retry_headers(wait), **self._limit_headers(now)},
                request=request,
            )
        self._window.events.append((now, prompt_tokens))
        self._window.tokens += prompt_tokens
        headers.update(self._limit_headers(now))
        return None

    def _pick_fault(self, body: Mapping[str, Any]) -> str | None:
        """The injected fault for this request (a ``counts`` key), drawn at the configured rates."""
        config = self.config
        if config.rate_flex_unavailable and body.get("service_tier") == "flex":
            if self._random.random() < config.rate_flex_unavailable:
                return "flex_unavailable"
        draw = self._random.random()
        for fault, rate in (
            ("rate_limited", config.rate_429),
            ("server_error", config.rate_500),
            ("dropped", config.rate_drop),
            ("garbage", config.rate_garbage),
            ("empty_answer", config.rate_empty_answer),
            ("odd_usage", config.rate_odd_usage),
        ):
            if draw < rate:
                return fault
            draw -= rate
        return None

    async def _refuse(self, fault: str, request: web.Request, headers: dict[str, str]) -> web.StreamResponse:
        """Answer with an injected failure instead of a completion."""
        if fault == "flex_unavailable":
            # What OpenAI's flex tier answers when it has no capacity: a 429 without Retry-After.
            message = "Resource unavailable: not enough capacity for flex processing; retry later."
            return self._error(429, message, code="resource_unavailable", headers=headers, request=request)
        if fault == "rate_limited":
            headers = {**headers, **self._retry_headers(self.config.retry_after)}
            message = "Rate limit reached (injected)."
            return self._error(429, message, code="rate_limit_exceeded", headers=headers, request=request)
        if fault == "server_error":
            return self._error(500, "The server had an error (injected).", headers=headers, request=request)
        if fault == "dropped":
            return await self._drop(request)
        truncated = b'{"id": "cmpl-x", "object": "chat.completion", "choi'
        garbage = truncated if self.counts["garbage"] % 2 else b"<html><body>502 Bad Gateway</body>"
        return web.Response(body=garbage, content_type="application/json", headers=headers)

    def _spoil_or_record(self, fault: str | None, kind: str, payload: dict[str, Any], raw: bytes) -> None:
        """Empty the answer or garble its usage (injected), or note a body answered more than once."""
        if fault == "empty_answer":
            self.counts["ok"] -= 1
            self.counts["empty_answer"] += 1
            _empty_first_choice(payload, kind, self.counts["empty_answer"])
            return
        if fault == "odd_usage":
            self.counts["odd_usage"] += 1
            odd = _ODD_COUNTS[(self.counts["odd_usage"] - 1) % len(_ODD_COUNTS)]
            payload["usage"] = {"prompt_tokens": odd, "completion_tokens": 3.5, "total_tokens": "?"}
        digest = hashlib.blake2b(raw, digest_size=16).digest()
        if digest in self._answered:
            self.counts["answered_again"] += 1
        self._answered.add(digest)

    def answer(
        self, kind: str, body: Mapping[str, Any], *, serial: int
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one valid request as the server would, without latency, limits or injected faults.

        Returns ``(status, JSON body, extra headers)``; the Batch API (``batch_api``) answers each
        line of a batch through this too, so a batch's output matches the online answers.
        """
        n = body.get("n") or 1
        if not isinstance(n, int) or n < 1:
            self.counts["bad_request"] += 1
            return 400, _error_body(400, "'n' must be a positive integer"), {}
        choices_wanted = n if self.config.honour_n else 1
        choices = []
        headers: dict[str, str] = {}
        completion_tokens = 0
        for index in range(choices_wanted):
            reply = self.responder(kind, dict(body))
            if isinstance(reply, FakeReply) and reply.status != 200:
                self.counts["reply_error"] += 1
                message = reply.error_message or f"error {reply.error_code or reply.status} (from responder)"
                return reply.status, _error_body(reply.status, message, reply.error_code), dict(reply.headers)
            if isinstance(reply, FakeReply):
                text, reason = reply.text, reply.finish_reason
                headers.update(reply.headers)
            else:
                text, reason = _apply_limits(reply, body)
            completion_tokens += count_tokens(text)
            if kind == "chat":
                choices.append(
                    {
                        "index": index,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": reason,
                        "logprobs": None,
                    }
                )
            else:
                choices.append({"index": index, "text": text, "finish_reason": reason, "logprobs": None})
        self.counts["ok"] += 1
        prompt_tokens = count_tokens(prompt_text(kind, body))
        payload = {
            "id": f"cmpl-{serial}",
            "object": "chat.completion" if kind == "chat" else "text_completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.config.model),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": str(body.get("service_tier") or "default"),
        }
        return 200, payload, headers

    def _limit_headers(self, now: float) -> dict[str, str]:
        config, window = self.config, self._window
        oldest = window.events[0][0] if window.events else now
        reset = max(oldest + window.window - now, 0.0)
        headers: dict[str, str] = {}
        if config.rpm_limit is not None:
            headers["x-ratelimit-limit-requests"] = str(int(config.rpm_limit))
            remaining = max(int(config.rpm_limit) - len(window.events), 0)
            headers["x-ratelimit-remaining-requests"] = str(remaining)
            headers["x-ratelimit-reset-requests"] = _format_reset(reset)
        if config.tpm_limit is not None:
            headers["x-ratelimit-limit-tokens"] = str(int(config.tpm_limit))
            headers["x-ratelimit-remaining-tokens"] = str(max(int(config.tpm_limit) - window.tokens, 0))
            headers["x-ratelimit-reset-tokens"] = _format_reset(reset)
        return headers

    async def _drop(self, request: web.Request) -> web.StreamResponse:
        """Send the status line, headers and half a body, then close the connection."""
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = 200
        await response.prepare(request)
        await response.write(b'{"id": "cmpl-dropped", "choices": [{"index": 0, "te')
        transport = request.transport
        if transport is not None:
            transport.close()
        return response


def _empty_first_choice(payload: dict[str, Any], kind: str, serial: int) -> None:
    """Make the first choice of an answer carry no text: null content, or no message at all."""
    choice = payload["choices"][0]
    if kind != "chat":
        choice["text"] = None
    elif serial % 2:
        choice["message"]["content"] = None
    else:
        del choice["message"]


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; print the base URL as the first stdout line."""
    parser = argparse.ArgumentParser(prog="python -m selfinstruct.testing.server", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-429", type=float, default=0.0)
    parser.add_argument("--rate-500", type=float, default=0.0)
    parser.add_argument("--rate-drop", type=float, default=0.0)
    parser.add_argument("--rate-garbage", type=float, default=0.0)
    parser.add_argument("--rate-empty-answer", type=float, default=0.0)
    parser.add_argument("--rate-odd-usage", type=float, default=0.0)
    parser.add_argument("--echo-key", action="store_true", help="error texts repeat the Authorization header")
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--rpm-limit", type=float, default=None)
    parser.add_argument("--tpm-limit", type=float, default=None)
    parser.add_argument("--limit-window", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ignore-n", action="store_true", help="answer one choice whatever n asks")
    parser.add_argument("--rate-flex-unavailable", type=float, default=0.0)
    add_batch_arguments(parser)
    args = parser.parse_args(argv)
    config = FakeServerConfig(
        latency=args.latency,
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_drop=args.rate_drop,
        rate_garbage=args.rate_garbage,
        rate_empty_answer=args.rate_empty_answer,
        rate_odd_usage=args.rate_odd_usage,
        echo_key=args.echo_key,
        retry_after=args.retry_after,
        rpm_limit=args.rpm_limit,
        tpm_limit=args.tpm_limit,
        limit_window=args.limit_window,
        seed=args.seed,
        honour_n=not args.ignore_n,
        rate_flex_unavailable=args.rate_flex_unavailable,
    )
    serve_until_stopped(FakeOpenAIServer(config, port=args.port, batch=batch_config_from_args(args)))
    return 0


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The Batch API's knobs as ``--batch-*`` flags (for the server run as a process)."""
    parser.add_argument("--batch-time-scale", type=float, default=3600.0, help="virtual s per real s")
    parser.add_argument("--batch-requests-per-second", type=float, default=25.0)
    parser.add_argument("--batch-window", type=float, default=86_400.0, help="virtual s '24h' lasts")
    parser.add_argument("--batch-line-error-rate", type=float, default=0.0)
    parser.add_argument("--batch-expire-rate", type=float, default=0.0)
    parser.add_argument("--batch-api-error-rate", type=float, default=0.0)
    parser.add_argument("--batch-seed", type=int, default=0)


def batch_config_from_args(args: argparse.Namespace) -> FakeBatchConfig:
    """The ``FakeBatchConfig`` the ``--batch-*`` flags ask for."""
    return FakeBatchConfig(
        time_scale=args.batch_time_scale,
        requests_per_second=args.batch_requests_per_second,
        completion_window=args.batch_window,
        line_error_rate=args.batch_line_error_rate,
        expire_rate=args.batch_expire_rate,
        api_error_rate=args.batch_api_error_rate,
        seed=args.batch_seed,
    )


def serve_until_stopped(server: FakeOpenAIServer) -> None:
    """Run ``server`` until SIGTERM or Ctrl-C: base URL first on stdout, outcome counts on stderr."""

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)  # stop via the loop, never mid-handler
        async with server:
            print(server.base_url, flush=True)
            await stop.wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        print(orjson.dumps(dict(server.counts)).decode(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
