"""``complete_file``, the library call behind ``selfinstruct complete``, in process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct import CompleteReport, complete_file
from selfinstruct.cli import build_parser
from selfinstruct.cli._engine import check_engine_arguments, engine_config_from_args
from selfinstruct.engine import EngineConfig
from selfinstruct.errors import ConfigError, InputError

pytestmark = pytest.mark.anyio


def write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


async def test_complete_file_writes_answers_in_input_order_and_resumes(
    tmp_path: Path, fake_server: Any
) -> None:
    """Every id once, in input order, n > 1 as choices; a second call replays the journal only."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(
        source,
        [{"id": i, "prompt": f"q{i}", "max_tokens": 3} for i in range(20)]
        + [{"id": "two", "prompt": "p", "n": 2}],
    )
    async with fake_server() as server:
        config = EngineConfig(model="m", base_urls=[server.base_url], api_key=None, concurrency=4)
        seen: list[int] = []
        first = await complete_file(
            source, output, engine_config=config, progress=lambda p: seen.append(p.done)
        )
        sent = server.counts["requests"]
        second = await complete_file(source, output, engine_config=config)
        assert server.counts["requests"] == sent
    assert isinstance(first, CompleteReport)
    assert (first.lines, first.errors, first.stats.succeeded) == (21, {}, 22)
    assert seen == list(range(1, 23))
    assert (second.stats.from_journal, second.stats.requests) == (22, 0)
    records = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert [r["id"] for r in records] == [*range(20), "two"]
    assert len(records[-1]["choices"]) == 2
    assert first.journal == tmp_path / "out.jsonl.journal"


async def test_complete_file_rejects_bad_input_before_sending(tmp_path: Path) -> None:
    """A duplicate id is an InputError naming the line; no engine is needed to find it."""
    source = tmp_path / "in.jsonl"
    write_lines(source, [{"id": 1, "prompt": "a"}, {"id": 1, "prompt": "b"}])
    config = EngineConfig(model="m", base_urls=["http://127.0.0.1:9/v1"], api_key=None)
    with pytest.raises(InputError, match=r"in.jsonl:2: duplicate id"):
        await complete_file(source, tmp_path / "out.jsonl", engine_config=config)


@pytest.mark.parametrize("command", [pytest.param("run", id="run"), pytest.param("complete", id="complete")])
def test_engine_flags_mean_the_same_in_every_command(command: str) -> None:
    """run and complete share the engine flags: same config, same refusal of half a price."""
    head = ["run", "-o", "d", "--num-instructions", "1"] if command == "run" else ["complete", "i", "-o", "o"]
    parser = build_parser()
    flags = ["--rpm", "60", "--timeout", "5", "--max-retries", "2", "--no-adaptive", "--concurrency", "3"]
    args = parser.parse_args([*head, *flags, "--price-in", "1", "--price-out", "2", "--max-cost", "1"])
    config = engine_config_from_args(args, model="m", base_urls=["http://h/v1"], concurrency=64)
    assert (config.rpm, config.timeout, config.max_retries, config.adaptive) == (60, 5, 2, False)
    assert (config.concurrency, config.prices, config.max_cost) == (3, (1.0, 2.0), 1.0)
    half: argparse.Namespace = parser.parse_args([*head, "--price-in", "1"])
    with pytest.raises(ConfigError, match="both --price-in and --price-out"):
        check_engine_arguments(half)
