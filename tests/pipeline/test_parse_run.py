"""A whole run against a server answering in the paper's demo shapes: instances kept, none altered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.engine import EngineConfig
from selfinstruct.pipeline.export import export_run
from selfinstruct.pipeline.run import generate
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.instance_audit import InstanceAudit
from selfinstruct.testing.server import FakeOpenAIServer

pytestmark = pytest.mark.anyio

_FIELD_LABELS = (
    "Sentence:",
    "Paragraph:",
    "Text:",
    "Review:",
    "Email:",
    "Statement:",
    "Question:",
    "Dialogue:",
)


@pytest.fixture
def anyio_backend() -> str:
    """Run these tests on asyncio (the engine's aiohttp needs it)."""
    return "asyncio"


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize("chat", [pytest.param(False, id="completion"), pytest.param(True, id="chat")])
async def test_demo_shaped_answers_keep_their_instances(run_config: Any, tmp_path: Path, chat: bool) -> None:
    """>= 95% of accepted instructions end with instances, and every exported one is what the model wrote."""
    audit = InstanceAudit(FakeModel(demo_shape_rate=1.0))
    async with FakeOpenAIServer(responder=audit) as server:
        engine = EngineConfig(model="fake", base_urls=[server.base_url], concurrency=8, api_key=None)
        summary = await generate(run_config(tmp_path, num_instructions=100, chat=chat), engine_config=engine)
    export_run(tmp_path, tmp_path / "alpaca.jsonl", fmt="alpaca")
    records = _records(tmp_path / "alpaca.jsonl")
    report = audit.check(records)

    assert summary.accepted == 100
    assert summary.tasks >= 95, summary.rejections
    assert report.tasks == summary.tasks
    assert report.lost_input == 0, report.examples
    assert report.wrong == 0, report.examples
    inputs = [r["input"] for r in records]
    assert sum(i.startswith(_FIELD_LABELS) for i in inputs) > len(inputs) / 3  # field names kept
    assert any("\n" in i for i in inputs)  # several fields (Question + Options, a Dialogue)
    assert any(not i for i in inputs)  # and tasks with no input


async def test_audit_catches_an_input_lost_by_the_pipeline(run_config: Any, tmp_path: Path) -> None:
    """The audit counts an exported instance whose input was emptied as lost, not as fine."""
    audit = InstanceAudit(FakeModel(demo_shape_rate=1.0))
    async with FakeOpenAIServer(responder=audit) as server:
        engine = EngineConfig(model="fake", base_urls=[server.base_url], concurrency=8, api_key=None)
        await generate(run_config(tmp_path, num_instructions=20), engine_config=engine)
    export_run(tmp_path, tmp_path / "alpaca.jsonl", fmt="alpaca")
    records = _records(tmp_path / "alpaca.jsonl")
    with_input = [r for r in records if r["input"]]
    emptied = [{**r, "input": ""} for r in with_input[:3]]
    report = audit.check([*records, *emptied])
    assert report.lost_input == len(emptied) == 3
    assert report.exact == len(records)
