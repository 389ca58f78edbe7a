"""``generate(batch=...)`` / ``run --batch``: follow-ups through the Batch API, same data as online."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from selfinstruct.batch import BatchConfig
from selfinstruct.engine import EngineConfig, read_journal
from selfinstruct.pipeline.run import generate
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeBatchConfig, FakeOpenAIServer, FakeServerConfig

pytestmark = pytest.mark.anyio

DATA_FILES = ("instructions.jsonl", "tasks.jsonl", "rejections.json")


@pytest.fixture
def anyio_backend() -> str:
    """Run these tests on asyncio (the engine's aiohttp needs it)."""
    return "asyncio"


class FrozenClock:
    """A server clock that stands still (batches wait in ``validating``) until ``run`` starts it,
    100,000 times faster than real time."""

    def __init__(self) -> None:
        self.started: float | None = None

    def run(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return 0.0 if self.started is None else (time.monotonic() - self.started) * 1e5


def engine_config(server: FakeOpenAIServer) -> EngineConfig:
    return EngineConfig(model="fake", base_urls=[server.base_url], concurrency=8, api_key="sk-test")


def fast() -> BatchConfig:
    return BatchConfig(poll_interval=0.005, poll_max=0.02, flush_after=0.02, max_requests_per_file=40)


def same_data(a: Path, b: Path) -> None:
    for name in DATA_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("chat", [pytest.param(False, id="completion"), pytest.param(True, id="chat")])
async def test_batch_run_makes_the_online_data(run_config: Any, tmp_path: Path, chat: bool) -> None:
    """Same seed: the same instructions, tasks and rejections; only bootstrap requests go online."""
    batch = FakeBatchConfig(time_scale=1e5, line_error_rate=0.05, expire_rate=0.2, seed=4)
    async with FakeOpenAIServer(FakeServerConfig(), FakeModel(), batch=batch) as server:
        online = await generate(
            run_config(tmp_path / "online", chat=chat), engine_config=engine_config(server)
        )
        online_requests = server.counts["requests"]
        batched = await generate(
            run_config(tmp_path / "batch", chat=chat), engine_config=engine_config(server), batch=fast()
        )
        bootstrap_requests = server.counts["requests"] - online_requests
    same_data(tmp_path / "online", tmp_path / "batch")
    assert batched.accepted == online.accepted == 60
    assert batched.tasks == online.tasks > 40
    journal = list(read_journal(tmp_path / "batch" / "journal.jsonl"))
    bootstrap = [r for r in journal if r.request.meta.get("stage") == "bootstrap"]
    assert bootstrap_requests == len(bootstrap)  # nothing but the bootstrap went online
    assert server.counts["batch_lines_ok"] == len(journal) - len(bootstrap) >= 2 * batched.tasks
    assert server.counts["batch_created"] > 3  # batches went out as instructions were accepted
    assert server.counts["batch_paid_twice"] == 0


async def test_batch_run_killed_while_waiting_resumes_the_same_batches(
    run_config: Any, tmp_path: Path
) -> None:
    """Cut off while its batches wait; the re-run polls them (none created again), data as online."""
    clock = FrozenClock()
    batch = FakeBatchConfig(time_scale=1.0)
    async with FakeOpenAIServer(FakeServerConfig(), FakeModel(), clock=clock, batch=batch) as server:
        await generate(run_config(tmp_path / "online"), engine_config=engine_config(server))
        with anyio.move_on_after(60):
            async with anyio.create_task_group() as group:

                async def cut_off_when_waiting() -> None:
                    # A server counter has no event to wait on: poll it.
                    while server.counts["batch_created"] < 2 or server.counts["batch_polls"] < 10:  # noqa: ASYNC110
                        await anyio.sleep(0.005)
                    group.cancel_scope.cancel()

                group.start_soon(cut_off_when_waiting)
                await generate(
                    run_config(tmp_path / "batch"), engine_config=engine_config(server), batch=fast()
                )
        created = server.counts["batch_created"]
        assert not (tmp_path / "batch" / "tasks.jsonl").exists()
        clock.run()
        summary = await generate(
            run_config(tmp_path / "batch"), engine_config=engine_config(server), batch=fast()
        )
    same_data(tmp_path / "online", tmp_path / "batch")
    assert summary.status == "complete"
    assert server.counts["batch_paid_twice"] == 0
    # The re-run sends the instance requests of the classifications it collected, and nothing again.
    assert server.counts["batch_created"] > created
    assert server.counts["batch_lines_ok"] == server.counts["batch_lines"]


def test_run_batch_command(tmp_path: Path) -> None:
    """``selfinstruct run --batch`` writes the data ``selfinstruct run`` writes."""
    with FakeOpenAIServer(
        FakeServerConfig(), FakeModel(), batch=FakeBatchConfig(time_scale=1e5)
    ).in_thread() as server:
        common = ["--num-instructions", "25", "--model", "fake", "--base-url", server.base_url, "--no-stats"]
        env = {"PATH": "", "OPENAI_API_KEY": "sk-test"}
        for name, extra in (
            ("online", []),
            ("batch", ["--batch", "--poll-interval", "0.01", "--batch-size", "20"]),
        ):
            result = subprocess.run(
                [sys.executable, "-m", "selfinstruct", "run", "-o", str(tmp_path / name), *common, *extra],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr
    same_data(tmp_path / "online", tmp_path / "batch")
    assert "selfinstruct run: batches" in result.stderr
