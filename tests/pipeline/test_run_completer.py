"""``generate(completer=...)``: the whole run driven in process, no engine and no HTTP; the reorder window."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from selfinstruct.engine import EngineConfig, ErrorInfo, Request, Result
from selfinstruct.errors import ConfigError
from selfinstruct.pipeline.run import generate
from selfinstruct.pipeline.window import ReorderWindow
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeOpenAIServer, FakeReply

pytestmark = pytest.mark.anyio

OUTPUTS = ("instructions.jsonl", "tasks.jsonl", "rejections.json")


@pytest.fixture
def anyio_backend() -> str:
    """asyncio, as the engine runs on (the same test also runs through the loopback server)."""
    return "asyncio"


class InProcessModel:
    """A ``Completer``: the fake model answering each request directly, after a random short delay."""

    def __init__(self, *, seed: int = 0, fail_every: int = 0) -> None:
        self.model = FakeModel()
        self.rng = random.Random(seed)
        self.fail_every = fail_every
        self.calls = 0

    async def complete(self, request: Request) -> Result:
        self.calls += 1
        number = self.calls
        await anyio.sleep(self.rng.random() / 1000)  # answers come back out of order
        if self.fail_every and number % self.fail_every == 0:
            error = ErrorInfo(kind="server", message="injected")
            return Result(request, request.key, None, None, None, error)
        body = {"messages": request.messages} if request.messages is not None else {"prompt": request.prompt}
        reply = self.model(request.kind, {**request.params, **body})
        text, finish = (reply.text, reply.finish_reason) if isinstance(reply, FakeReply) else (reply, "stop")
        return Result(request, request.key, text, finish, None, None)


@pytest.mark.parametrize("chat", [pytest.param(False, id="completion"), pytest.param(True, id="chat")])
async def test_a_completer_gives_the_files_the_engine_gives(
    run_config: Any, tmp_path: Path, chat: bool
) -> None:
    """The same seed and model through a completer or through the engine and HTTP: identical files."""
    completer = InProcessModel()
    summary = await generate(run_config(tmp_path / "direct", chat=chat), completer=completer)
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        engine = EngineConfig(model="fake", base_urls=[server.base_url], api_key=None)
        await generate(run_config(tmp_path / "http", chat=chat), engine_config=engine)
    assert summary.status == "complete"
    assert summary.calls == completer.calls
    for name in OUTPUTS:
        assert (tmp_path / "direct" / name).read_bytes() == (tmp_path / "http" / name).read_bytes(), name
    recorded = orjson.loads((tmp_path / "direct" / "run.json").read_bytes())
    assert recorded["engine"] == {"model": None, "params": {}}


async def test_completer_errors_are_counted(run_config: Any, tmp_path: Path) -> None:
    """Failed answers from a completer count as errors and drop their item, as the engine's do."""
    summary = await generate(
        run_config(tmp_path, num_instructions=30), completer=InProcessModel(fail_every=7)
    )
    assert summary.errors == {"server": summary.calls // 7}
    assert summary.status == "complete"


async def test_engine_and_completer_are_exclusive(run_config: Any, tmp_path: Path) -> None:
    """Neither, or both, of an engine and a completer is a ConfigError before anything is written."""
    engine = EngineConfig(model="fake", base_urls=["http://127.0.0.1:9"], api_key=None)
    with pytest.raises(ConfigError, match="completer="):
        await generate(run_config(tmp_path))
    with pytest.raises(ConfigError, match="completer="):
        await generate(run_config(tmp_path), engine_config=engine, completer=InProcessModel())
    assert not (tmp_path / "run.json").exists()


async def test_reorder_window_hands_items_back_in_issue_order() -> None:
    """Fetches finishing in any order come back by number; leaving waits for those in flight."""
    rng = random.Random(3)
    finished: list[int] = []

    async def fetch(seq: int) -> int:
        await anyio.sleep(rng.random() / 200)
        finished.append(seq)
        return seq * 10

    async with ReorderWindow(fetch) as window:
        for _ in range(8):
            window.issue()
        got = [await window.next() for _ in range(5)]
    assert got == [0, 10, 20, 30, 40]
    assert sorted(finished) == list(range(8))  # the last three finished too, not cancelled
    with pytest.raises(RuntimeError, match="nothing issued"):
        await ReorderWindow(fetch).next()
