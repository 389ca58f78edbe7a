"""The engine flags every model-calling command shares, and where its endpoint comes from.

``add_engine_arguments`` declares them once (same names, defaults and meaning for ``run`` and
``complete``); ``engine_config_from_args`` turns them into an ``EngineConfig``; ``engine_endpoint``
picks the endpoint (``--base-url``, else ``$OPENAI_BASE_URL``, else the embedded local model);
``run_until_sigterm`` runs a command's coroutine so that SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError
from . import configured_base_urls

if TYPE_CHECKING:
    from ..engine import EngineConfig

__all__ = [
    "Endpoint",
    "Terminated",
    "add_engine_arguments",
    "check_engine_arguments",
    "engine_config_from_args",
    "engine_endpoint",
    "request_fields",
    "run_until_sigterm",
]

T = TypeVar("T")

REMOTE_CONCURRENCY = 64
DEFAULT_TIMEOUT = 120.0
# OpenAI's advice for flex: it queues, so allow an attempt up to 15 minutes.
FLEX_TIMEOUT = 900.0


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the endpoint, model, limit, retry and budget flags on a command's parser."""
    group = parser.add_argument_group("endpoint and engine")
    group.add_argument(
        "--base-url",
        action="append",
        dest="base_urls",
        metavar="URL",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1; repeat to spread load over "
        "replicas (default $OPENAI_BASE_URL; if neither is set, the embedded local model)",
    )
    group.add_argument("--model", help="model name (required with --base-url; optional for the local model)")
    group.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help="GGUF file to serve locally when no endpoint is given (default: the embedded SmolLM2-135M)",
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"requests in flight (default {REMOTE_CONCURRENCY}; fewer for the local model)",
    )
    group.add_argument("--rpm", type=float, default=None, help="requests per minute, per endpoint")
    group.add_argument("--tpm", type=float, default=None, help="tokens per minute, per endpoint")
    group.add_argument("--max-retries", type=int, default=6, help="retries per request (default 6)")
    group.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds per attempt (default {DEFAULT_TIMEOUT:g}; {FLEX_TIMEOUT:g} with --service-tier flex)",
    )
    group.add_argument("--no-adaptive", action="store_true", help="keep concurrency fixed (no AIMD)")
    group.add_argument(
        "--max-total-tokens", type=int, default=None, help="stop once this many tokens are used"
    )
    group.add_argument(
        "--max-cost", type=float, default=None, help="stop once this many USD are spent (needs prices)"
    )
    group.add_argument("--price-in", type=float, default=None, help="USD per 1M input tokens")
    group.add_argument("--price-out", type=float, default=None, help="USD per 1M output tokens")
    group.add_argument(
        "--service-tier",
        default=None,
        metavar="TIER",
        help="sent as service_tier with every request (OpenAI: auto, default, flex, priority); flex is "
        "billed at half price (the cost counts it so), answers slowly and may answer 429 'resource "
        "unavailable', which is handled as congestion (fewer requests in flight, retried with backoff)",
    )
    group.add_argument(
        "--param",
        action="append",
        dest="params",
        default=[],
        metavar="KEY=VALUE",
        help="any other request field the server accepts, sent with every request; VALUE is read as "
        "JSON when it parses, else as a string (--param seed=7 --param top_k=40 --param user=me)",
    )


def _prices(args: argparse.Namespace) -> tuple[float, float] | None:
    if (args.price_in is None) != (args.price_out is None):
        raise ConfigError("give both --price-in and --price-out (USD per 1M tokens), or neither")
    if args.max_cost is not None and args.price_in is None:
        raise ConfigError("--max-cost needs --price-in and --price-out to count the cost")
    return None if args.price_in is None else (args.price_in, args.price_out)


def _timeout(args: argparse.Namespace) -> float:
    if args.timeout is not None:
        return float(args.timeout)
    return FLEX_TIMEOUT if args.service_tier == "flex" else DEFAULT_TIMEOUT


def request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields ``--param KEY=VALUE`` and ``--service-tier`` add to every request."""
    import orjson

    fields: dict[str, Any] = {}
    for item in args.params or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--param {item!r}: write KEY=VALUE, e.g. --param seed=7")
        if key in ("model", "prompt", "messages", "stream", "n"):
            raise ConfigError(f"--param {key}=...: {key} is set by selfinstruct, not by --param")
        try:
            fields[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            fields[key] = raw
    if args.service_tier:
        fields["service_tier"] = args.service_tier
    return fields


def check_engine_arguments(args: argparse.Namespace) -> None:
    """Reject flag combinations that cannot work, before anything starts (says what to change)."""
    _prices(args)
    request_fields(args)
    if args.concurrency is not None and args.concurrency < 1:
        raise ConfigError("--concurrency must be >= 1")


def engine_config_from_args(
    args: argparse.Namespace, *, model: str, base_urls: list[str], concurrency: int, local: bool = False
) -> EngineConfig:
    """The ``EngineConfig`` the flags describe, for the given endpoint(s) and model.

    For the embedded local model (``local``) every request also carries a sampling ``seed`` (the
    run's ``--seed``, else 0) unless ``--param seed=...`` sets one: llama.cpp then answers a prompt
    the same way whichever slot serves it and whatever runs beside it, so local runs repeat.
    """
    from ..engine import EngineConfig

    params = request_fields(args)
    if local:
        params.setdefault("seed", getattr(args, "seed", None) or 0)
    return EngineConfig(
        model=model,
        base_urls=base_urls,
        concurrency=args.concurrency or concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        max_retries=args.max_retries,
        timeout=_timeout(args),
        adaptive=not args.no_adaptive,
        max_total_tokens=args.max_total_tokens,
        max_cost=args.max_cost,
        prices=_prices(args),
        default_params=params,
    )


@dataclass(frozen=True)
class Endpoint:
    """Where the command's requests go: the engine settings, and whether it is the local model."""

    config: EngineConfig
    local: bool


#: Where an engine that only replays points (nothing is sent: every answer is in the journal).
NOWHERE = "http://127.0.0.1:9/v1"


@asynccontextmanager
async def engine_endpoint(
    args: argparse.Namespace, *, replays: Callable[[EngineConfig], bool] | None = None
) -> AsyncIterator[Endpoint]:
    """The configured endpoint (probed first), or the embedded local model served for the block.

    ``replays(config)`` says whether the journal answers every request under ``config``'s model
    and params; when it does, the local model is not started (seconds saved, nothing to ask it).
    """
    base_urls = configured_base_urls(args.base_urls)
    if base_urls:
        from ..engine import probe_endpoints

        if not args.model:
            raise ConfigError("--model is required with --base-url / OPENAI_BASE_URL")
        config = engine_config_from_args(
            args, model=args.model, base_urls=base_urls, concurrency=REMOTE_CONCURRENCY
        )
        await probe_endpoints(base_urls, api_key=config.api_key)
        yield Endpoint(config, local=False)
        return
    from ..local import LOCAL_HINT, serve_local_model

    if replays is not None:
        replay_config = _replay_only_config(args)
        if replay_config is not None and replays(replay_config):
            print(
                "selfinstruct: every request is answered in the journal; the local model is not started",
                file=sys.stderr,
            )
            yield Endpoint(replay_config, local=True)
            return
    async with serve_local_model(args.model_path) as local:
        print(LOCAL_HINT, file=sys.stderr)
        config = engine_config_from_args(
            args,
            model=args.model or local.model,
            base_urls=[local.base_url],
            concurrency=local.slots,
            local=True,
        )
        yield Endpoint(config, local=True)


def _replay_only_config(args: argparse.Namespace) -> EngineConfig | None:
    """The local model's engine settings without starting it (None if its name is unknown)."""
    from ..errors import SelfInstructError
    from ..local import default_slots, default_threads, resolve_model_path

    model = args.model
    if not model:
        try:
            model = resolve_model_path(args.model_path).name.removesuffix(".gguf")
        except SelfInstructError:
            return None  # starting it will say what is missing
    return engine_config_from_args(
        args, model=model, base_urls=[NOWHERE], concurrency=default_slots(default_threads()), local=True
    )


class Terminated(Exception):
    """The command was stopped by SIGTERM (what it finished is journaled)."""


def run_until_sigterm(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` in a new event loop; SIGTERM cancels it cleanly and raises ``Terminated``."""

    async def guarded() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await main()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise Terminated from None
