"""The flex tier and request-field pass-through: what reaches the server, 429s as congestion, the cost."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from selfinstruct.cli._engine import add_engine_arguments, engine_config_from_args, request_fields
from selfinstruct.engine import Engine, EngineConfig, Request
from selfinstruct.errors import ConfigError
from selfinstruct.testing.server import FakeOpenAIServer, FakeServerConfig, default_responder

pytestmark = pytest.mark.anyio


def parse(*flags: str) -> argparse.Namespace:
    """The engine flags as a command would parse them."""
    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    return parser.parse_args(list(flags))


def test_params_are_read_as_json_else_strings() -> None:
    """--param values that parse as JSON keep their type; others are strings; --service-tier joins them."""
    args = parse(
        "--param", "seed=7", "--param", "user=me", "--param", 'logit_bias={"50256": -100}',
        "--param", "stop=[\"\\n\"]", "--service-tier", "flex",
    )  # fmt: skip
    assert request_fields(args) == {
        "seed": 7,
        "user": "me",
        "logit_bias": {"50256": -100},
        "stop": ["\n"],
        "service_tier": "flex",
    }


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        pytest.param("seed", "KEY=VALUE", id="no-equals"),
        pytest.param("=3", "KEY=VALUE", id="no-key"),
        pytest.param("model=x", "set by selfinstruct", id="reserved"),
    ],
)
def test_bad_params_are_refused(flag: str, message: str) -> None:
    """A --param without KEY=VALUE, or naming a field selfinstruct sets, is a clear error."""
    with pytest.raises(ConfigError, match=message):
        request_fields(parse("--param", flag))


@pytest.mark.parametrize(
    ("flags", "timeout"),
    [
        pytest.param((), 120.0, id="default"),
        pytest.param(("--service-tier", "flex"), 900.0, id="flex"),
        pytest.param(("--service-tier", "flex", "--timeout", "30"), 30.0, id="flex-explicit"),
    ],
)
def test_flex_waits_longer_unless_told(flags: tuple[str, ...], timeout: float) -> None:
    """With flex the per-attempt timeout defaults to 15 minutes (OpenAI's advice); --timeout wins."""
    config = engine_config_from_args(
        parse(*flags), model="m", base_urls=["http://127.0.0.1:1/v1"], concurrency=4
    )
    assert config.timeout == timeout


def test_flex_costs_half() -> None:
    """The cost of flex requests is half the standard price; other tiers pay it in full."""
    standard = EngineConfig(model="m", base_urls=["http://x/v1"], prices=(2.0, 8.0))
    flex = EngineConfig(
        model="m", base_urls=["http://x/v1"], prices=(2.0, 8.0), default_params={"service_tier": "flex"}
    )
    assert standard.cost(1_000_000, 1_000_000) == 10.0
    assert flex.cost(1_000_000, 1_000_000) == 5.0


async def test_flex_unavailable_is_congestion_and_every_request_completes(tmp_path: Path) -> None:
    """Flex 429 'resource unavailable' shrinks the window and is retried; fields reach the server."""
    bodies: list[dict[str, Any]] = []

    def responder(kind: str, body: dict[str, Any]) -> str:
        bodies.append(body)
        return default_responder(kind, body)

    server_config = FakeServerConfig(rate_flex_unavailable=0.3, seed=5)
    async with FakeOpenAIServer(server_config, responder) as server:
        config = EngineConfig(
            model="m",
            base_urls=[server.base_url],
            api_key=None,
            concurrency=32,
            backoff_base=0.001,
            backoff_max=0.01,
            max_retries=30,
            prices=(1.0, 1.0),
            default_params={"service_tier": "flex", "seed": 7},
        )
        sizes = []
        async with Engine(config, journal=tmp_path / "j.jsonl") as engine:
            results = []
            async for result in engine.run(
                Request(prompt=f"p {i}", params={"max_tokens": 4}) for i in range(300)
            ):
                results.append(result)
                sizes.append(engine.window.size)
            stats = engine.statistics()
    assert all(r.ok for r in results)
    assert server.counts["flex_unavailable"] > 50
    assert stats.retries["rate_limit"] == server.counts["flex_unavailable"]
    assert min(sizes) < 32
    assert {(b["service_tier"], b["seed"]) for b in bodies} == {("flex", 7)}
    assert stats.cost == pytest.approx((stats.prompt_tokens + stats.completion_tokens) / 2 / 1_000_000)
