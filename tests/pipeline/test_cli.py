"""The run/export/stats commands, including kill -9 of a running run and a resume that pays nothing twice."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from selfinstruct.engine import EngineConfig
from selfinstruct.pipeline.run import generate
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeOpenAIServer, FakeServerConfig

ROOT = Path(__file__).resolve().parents[2]
# Our three commands only, as the dispatcher registers them (it also needs the other helpers' commands).
SHIM = (
    "import argparse, importlib, sys\n"
    "p = argparse.ArgumentParser(prog='selfinstruct'); s = p.add_subparsers(dest='command', required=True)\n"
    "[importlib.import_module(f'selfinstruct.cli.{n}').add_parser(s) for n in ('run', 'export', 'stats')]\n"
    "a = p.parse_args(); sys.exit(importlib.import_module(f'selfinstruct.cli.{a.command}').run(a))\n"
)


def cli(argv: list[str]) -> int:
    """Run one of our commands in-process through its add_parser/run pair."""
    parser = argparse.ArgumentParser(prog="selfinstruct")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "export", "stats"):
        importlib.import_module(f"selfinstruct.cli.{name}").add_parser(sub)
    args = parser.parse_args(argv)
    return int(importlib.import_module(f"selfinstruct.cli.{args.command}").run(args))


def seed_args(data_dir: Path) -> list[str]:
    return [
        "--seeds",
        str(data_dir / "seed_tasks.jsonl"),
        "--classification-examples",
        str(data_dir / "classification_examples.jsonl"),
        "--instance-examples",
        str(data_dir / "instance_examples.jsonl"),
    ]


class CountingModel(FakeModel):
    """The fake model, counting each distinct request content the server received."""

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "sent", Counter())

    def __call__(self, kind: str, body: dict[str, Any]) -> Any:
        content = {k: v for k, v in body.items() if k != "model"}
        self.sent[orjson.dumps([kind, content], option=orjson.OPT_SORT_KEYS)] += 1  # type: ignore[attr-defined]
        return super().__call__(kind, body)


def test_run_export_stats_commands(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run prints a summary and the stats table; export and stats read the run directory."""
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        code = cli(
            [
                "run",
                "-o",
                str(run_dir),
                "--num-instructions",
                "40",
                "--base-url",
                server.base_url,
                "--model",
                "m",
            ]
            + ["--chat", "--no-progress", "--seed", "3", "--concurrency", "8"]
            + seed_args(data_dir)
        )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("complete: 40 instructions accepted")
    assert "# of accepted instructions           40" in out
    assert cli(["export", str(run_dir), "-o", str(tmp_path / "a.jsonl"), "--format", "sharegpt"]) == 0
    assert "sharegpt records" in capsys.readouterr().out
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    assert lines
    assert all("conversations" in orjson.loads(line) for line in lines)
    assert cli(["stats", str(run_dir), "--plot", str(tmp_path / "p.png")]) == 0
    assert "ROUGE-L to the most similar seed" in capsys.readouterr().out
    assert (tmp_path / "p.png").exists()


def test_run_needs_model_with_base_url(tmp_path: Path) -> None:
    """--base-url without --model is a configuration error, raised before any request."""
    from selfinstruct.errors import ConfigError

    with pytest.raises(ConfigError, match="--model is required"):
        cli(["run", "-o", str(tmp_path), "--num-instructions", "5", "--base-url", "http://127.0.0.1:9/v1"])


def _command() -> list[str]:
    commands = ("run", "complete", "dedup", "export", "stats")
    if all(importlib.util.find_spec(f"selfinstruct.cli.{n}") for n in commands):
        return [sys.executable, "-m", "selfinstruct"]
    return [sys.executable, "-c", SHIM]


def test_kill_9_then_resume_pays_no_call_twice(tmp_path: Path, data_dir: Path) -> None:
    """kill -9 of `selfinstruct run` mid-way, then the same command: same files as an uninterrupted run,
    and only the calls in flight at the kill reach the server twice."""
    concurrency, n = 6, 150
    model = CountingModel()
    with FakeOpenAIServer(FakeServerConfig(latency=0.01), model).in_thread() as server:
        base = ["run", "--num-instructions", str(n), "--base-url", server.base_url, "--model", "m"]
        base += ["--concurrency", str(concurrency), "--no-progress", "--no-stats", *seed_args(data_dir)]
        reference = subprocess.run(
            [*_command(), *base, "-o", str(tmp_path / "full")], cwd=ROOT, capture_output=True, timeout=120
        )
        assert reference.returncode == 0, reference.stderr.decode()
        uninterrupted = server.counts["requests"]
        server.counts.clear()
        model.sent.clear()  # type: ignore[attr-defined]

        journal = tmp_path / "resumed" / "journal.jsonl"
        process = subprocess.Popen([*_command(), *base, "-o", str(tmp_path / "resumed")], cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_bytes().count(b"\n") >= uninterrupted // 2:
                break
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert not (tmp_path / "resumed" / "tasks.jsonl").exists()
        first_part = server.counts["requests"]
        assert 0 < first_part < uninterrupted

        resumed = subprocess.run(
            [*_command(), *base, "-o", str(tmp_path / "resumed")], cwd=ROOT, capture_output=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr.decode()
        total = server.counts["requests"]
    repeats = sum(c - 1 for c in model.sent.values())  # type: ignore[attr-defined]
    assert repeats <= concurrency
    assert abs(total - uninterrupted) <= concurrency
    assert b"replayed from the journal" in resumed.stdout
    for name in ("instructions.jsonl", "tasks.jsonl", "rejections.json"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name


def test_library_and_cli_agree(tmp_path: Path, data_dir: Path) -> None:
    """The async API and the command write the same tasks for the same settings."""
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        cli(
            ["run", "-o", str(tmp_path / "cli"), "--num-instructions", "30", "--base-url", server.base_url]
            + ["--model", "m", "--no-progress", "--no-stats", "--window", "4", *seed_args(data_dir)]
        )
        from selfinstruct.pipeline.run import RunConfig

        config = RunConfig(
            out_dir=tmp_path / "lib",
            num_instructions=30,
            window=4,
            seeds_path=data_dir / "seed_tasks.jsonl",
            classification_examples_path=data_dir / "classification_examples.jsonl",
            instance_examples_path=data_dir / "instance_examples.jsonl",
        )
        engine_config = EngineConfig(model="m", base_urls=[server.base_url], api_key=None)
        anyio.run(lambda: generate(config, engine_config=engine_config))
    assert (tmp_path / "cli" / "tasks.jsonl").read_bytes() == (tmp_path / "lib" / "tasks.jsonl").read_bytes()


def test_token_budget_stops_the_run_cleanly(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-total-tokens stops the run: files are written, the status says why, the exit code is 1."""
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        code = cli(
            ["run", "-o", str(run_dir), "--num-instructions", "500", "--base-url", server.base_url]
            + [
                "--model",
                "m",
                "--no-progress",
                "--no-stats",
                "--max-total-tokens",
                "20000",
                *seed_args(data_dir),
            ]
        )
    assert code == 1
    assert capsys.readouterr().out.startswith("stopped: budget")
    assert 0 < len((run_dir / "instructions.jsonl").read_bytes().splitlines()) < 500


def test_max_cost_needs_prices(tmp_path: Path) -> None:
    """--max-cost without prices is a configuration error."""
    from selfinstruct.errors import ConfigError

    with pytest.raises(ConfigError, match="--price-in"):
        cli(["run", "-o", str(tmp_path), "--num-instructions", "5", "--max-cost", "1"])


@pytest.mark.parametrize(
    ("extra", "chat"),
    [pytest.param([], False, id="completions"), pytest.param(["--chat"], True, id="chat")],
)
def test_no_endpoint_uses_the_local_model(
    tmp_path: Path,
    data_dir: Path,
    local_model_stub: Any,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    chat: bool,
) -> None:
    """Without an endpoint, run serves the local model: hint once, compact prompts, --model-path used."""
    from selfinstruct.local import LOCAL_HINT

    model_path = tmp_path / "other.gguf"
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        local_model_stub.base_url = server.base_url
        code = cli(
            ["run", "-o", str(tmp_path), "--num-instructions", "10", "--no-progress", *seed_args(data_dir)]
            + ["--model-path", str(model_path), *extra]
        )
    assert code == 0
    assert local_model_stub.model_paths == [model_path]
    assert capsys.readouterr().err.count(LOCAL_HINT) == 1
    run = orjson.loads((tmp_path / "run.json").read_bytes())
    assert run["config"]["chat"] is chat
    assert run["config"]["compact_prompts"] is True
