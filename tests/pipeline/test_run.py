"""The whole run end to end against the fake server: exact N, resume without paying twice, determinism."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from selfinstruct.engine import EngineConfig, read_journal
from selfinstruct.pipeline.run import Progress, generate
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeOpenAIServer, FakeReply

pytestmark = pytest.mark.anyio

OUTPUTS = ("instructions.jsonl", "tasks.jsonl", "rejections.json")


@pytest.fixture
def anyio_backend() -> str:
    """Run these tests on asyncio (the engine's aiohttp needs it)."""
    return "asyncio"


class CountingModel:
    """The fake model, counting how often each distinct request content reached the server."""

    def __init__(self, model: Any = None) -> None:
        self.model = model or FakeModel()
        self.sent: Counter[bytes] = Counter()

    def __call__(self, kind: str, body: dict[str, Any]) -> Any:
        content = {k: v for k, v in body.items() if k != "model"}
        self.sent[orjson.dumps([kind, content], option=orjson.OPT_SORT_KEYS)] += 1
        return self.model(kind, body)

    @property
    def repeats(self) -> int:
        return sum(count - 1 for count in self.sent.values())


def engine_config(server: FakeOpenAIServer, concurrency: int = 8) -> EngineConfig:
    return EngineConfig(model="fake", base_urls=[server.base_url], concurrency=concurrency, api_key=None)


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize("chat", [pytest.param(False, id="completion"), pytest.param(True, id="chat")])
async def test_end_to_end_run_writes_exactly_n(run_config: Any, tmp_path: Path, chat: bool) -> None:
    """A run stops at exactly N accepted instructions and writes every data file."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        summary = await generate(run_config(tmp_path, chat=chat), engine_config=engine_config(server))
    assert summary.status == "complete"
    instructions = read_lines(tmp_path / "instructions.jsonl")
    tasks = read_lines(tmp_path / "tasks.jsonl")
    assert summary.accepted == len(instructions) == 60
    assert len({i["instruction"] for i in instructions}) == 60
    assert summary.tasks == len(tasks) > 40
    assert all(t["instances"] and {"instruction", "is_classification", "id"} <= t.keys() for t in tasks)
    assert all(i["nearest_score"] < 0.7 and 0.0 <= i["seed_score"] < 0.7 for i in instructions)
    rejections = orjson.loads((tmp_path / "rejections.json").read_bytes())
    assert rejections["instructions"]["similar"] > 0
    assert sum(rejections["instructions"].values()) > rejections["instructions"]["similar"]
    run = orjson.loads((tmp_path / "run.json").read_bytes())
    assert run["summary"]["accepted"] == 60
    assert run["config"]["chat"] is chat
    assert {"dedup", "prompt", "parse", "io", "wall"} <= summary.timings.keys()


async def test_classification_and_instances_overlap_bootstrapping(run_config: Any, tmp_path: Path) -> None:
    """Follow-up requests go out while bootstrapping goes on, and demos come from the growing pool."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        await generate(run_config(tmp_path, num_instructions=80), engine_config=engine_config(server))
    stages = [r.request.meta["stage"] for r in read_journal(tmp_path / "journal.jsonl")]
    last_bootstrap = max(i for i, s in enumerate(stages) if s == "bootstrap")
    assert "classify" in stages[:last_bootstrap]
    assert "instances" in stages[:last_bootstrap]
    accepted = {i["instruction"] for i in read_lines(tmp_path / "instructions.jsonl")}
    with_machine_demos = [
        r
        for r in read_journal(tmp_path / "journal.jsonl")
        if r.request.meta["stage"] == "bootstrap" and set(r.request.meta["demos"]) & accepted
    ]
    assert with_machine_demos, "later bootstrap prompts should include machine-made instructions"


async def test_same_seed_same_files_whatever_the_concurrency(run_config: Any, tmp_path: Path) -> None:
    """With a fixed seed and a deterministic server, two runs write identical files."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        await generate(run_config(tmp_path / "a", seed=7), engine_config=engine_config(server, 2))
        await generate(run_config(tmp_path / "b", seed=7), engine_config=engine_config(server, 32))
        await generate(run_config(tmp_path / "c", seed=8), engine_config=engine_config(server, 8))
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "tasks.jsonl").read_bytes() != (tmp_path / "c" / "tasks.jsonl").read_bytes()


async def test_cancel_and_resume_pays_no_call_twice(run_config: Any, tmp_path: Path) -> None:
    """A run cancelled mid-way resumes from its journal: nothing lost, only in-flight calls repeated."""
    concurrency = 8
    model = CountingModel()
    async with FakeOpenAIServer(responder=model) as server:
        await generate(
            run_config(tmp_path / "full", num_instructions=120), engine_config=engine_config(server)
        )
        uninterrupted = server.counts["requests"]
        server.counts.clear()
        model.sent.clear()

        with anyio.CancelScope() as scope:

            def stop_half_way(progress: Progress) -> None:
                if progress.accepted >= 50:
                    scope.cancel()

            await generate(
                run_config(tmp_path / "resumed", num_instructions=120),
                engine_config=engine_config(server),
                progress=stop_half_way,
            )
        assert scope.cancelled_caught
        first_part = server.counts["requests"]
        assert 0 < first_part < uninterrupted
        assert not (tmp_path / "resumed" / "tasks.jsonl").exists()
        summary = await generate(
            run_config(tmp_path / "resumed", num_instructions=120), engine_config=engine_config(server)
        )
        total = server.counts["requests"]
    assert summary.status == "complete"
    assert summary.replayed > 0
    assert model.repeats <= concurrency  # only requests in flight at the cancel were sent twice
    assert abs(total - uninterrupted) <= concurrency
    for name in OUTPUTS:
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes(), name


async def test_rerun_of_a_finished_run_sends_nothing(run_config: Any, tmp_path: Path) -> None:
    """Re-running a finished run replays it entirely from the journal."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        await generate(run_config(tmp_path), engine_config=engine_config(server))
        before = server.counts["requests"]
        summary = await generate(run_config(tmp_path), engine_config=engine_config(server))
        assert server.counts["requests"] == before
    assert summary.calls == 0
    assert summary.accepted == 60


async def test_garbage_output_never_crashes(run_config: Any, tmp_path: Path) -> None:
    """A model that never answers in shape ends the run as exhausted, with the cause counted."""
    junk = ["", "...", "<html><body>502 Bad Gateway</body></html>", "?!", "\n\n\n", '{"error": null}']

    def responder(kind: str, body: dict[str, Any]) -> str:
        return junk[len(str(body)) % len(junk)]

    async with FakeOpenAIServer(responder=responder) as server:
        summary = await generate(
            run_config(tmp_path, max_idle_requests=6), engine_config=engine_config(server)
        )
    assert summary.status == "exhausted"
    assert summary.accepted == 0
    assert summary.bootstrap_requests == 6
    rejections = summary.rejections
    assert sum(rejections["instructions"].values()) + rejections["responses"].get("no_items", 0) >= 6
    assert (tmp_path / "tasks.jsonl").read_bytes() == b""


async def test_unusable_follow_up_answers_drop_the_task(run_config: Any, tmp_path: Path) -> None:
    """Instructions whose instance answers cannot be parsed are kept as accepted but dropped as tasks."""
    model = FakeModel()

    def responder(kind: str, body: dict[str, Any]) -> Any:
        answer = model(kind, body)
        asks_instances = model.written_instances(kind, body) is not None
        return "Sorry, I cannot produce examples." if asks_instances else answer

    async with FakeOpenAIServer(responder=responder) as server:
        summary = await generate(
            run_config(tmp_path, num_instructions=20), engine_config=engine_config(server)
        )
    assert summary.status == "complete"
    assert summary.accepted == 20
    assert summary.tasks == 0
    assert summary.tasks_dropped == 20
    assert summary.rejections["tasks"] == {"no_valid_instances": 20}


async def test_quota_exhaustion_stops_cleanly(run_config: Any, tmp_path: Path) -> None:
    """insufficient_quota stops the run; what was accepted is written and the status says why."""
    model = FakeModel()
    calls = Counter[str]()

    def responder(kind: str, body: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] > 40:
            return FakeReply(status=429, error_code="insufficient_quota", error_message="quota")
        return model(kind, body)

    async with FakeOpenAIServer(responder=responder) as server:
        summary = await generate(
            run_config(tmp_path, num_instructions=500), engine_config=engine_config(server)
        )
    assert summary.status == "stopped: quota"
    assert 0 < summary.accepted < 500
    assert len(read_lines(tmp_path / "instructions.jsonl")) == summary.accepted


async def test_classification_only_mode(run_config: Any, tmp_path: Path) -> None:
    """Classification-only runs seed with classification tasks and skip identification requests."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        summary = await generate(
            run_config(tmp_path, num_instructions=30, classification_only=True),
            engine_config=engine_config(server),
        )
    journal = list(read_journal(tmp_path / "journal.jsonl"))
    assert {r.request.meta["stage"] for r in journal} == {"bootstrap", "instances"}
    assert summary.classification_tasks == summary.tasks > 0
    first = next(r for r in journal if r.request.meta["stage"] == "bootstrap")
    assert "classification tasks" in (first.request.prompt or "")


async def test_shipped_seed_files_run_end_to_end(run_config: Any, tmp_path: Path) -> None:
    """With no paths given, our shipped seeds and few-shot templates drive a complete run."""
    config = run_config(
        tmp_path,
        num_instructions=40,
        seeds_path=None,
        classification_examples_path=None,
        instance_examples_path=None,
    )
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        summary = await generate(config, engine_config=engine_config(server))
    assert summary.status == "complete"
    assert summary.tasks > 30


async def test_compact_prompts_for_small_local_models(run_config: Any, tmp_path: Path) -> None:
    """Compact mode sends one short user message per bootstrap and caps answer length."""
    config = run_config(tmp_path, num_instructions=20, chat=True, compact_prompts=True)
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        summary = await generate(config, engine_config=engine_config(server, concurrency=1))
    assert summary.accepted == 20
    journal = list(read_journal(tmp_path / "journal.jsonl"))
    bootstrap = [r.request for r in journal if r.request.meta["stage"] == "bootstrap"]
    assert all(len(r.messages or []) == 1 and r.params["max_tokens"] == 256 for r in bootstrap)
    classify = next(r.request for r in journal if r.request.meta["stage"] == "classify")
    assert (classify.messages or [{}])[0]["content"].count("Is it classification?") == 8


async def test_compact_instance_prompts_share_their_examples(run_config: Any, tmp_path: Path) -> None:
    """Compact mode: every instance prompt of a kind has the same examples, so only the task differs."""
    config = run_config(tmp_path, num_instructions=30, compact_prompts=True)
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        await generate(config, engine_config=engine_config(server))
    journal = [r.request for r in read_journal(tmp_path / "journal.jsonl")]
    by_kind: dict[bool, set[str]] = {}
    for request in journal:
        if request.meta["stage"] == "instances":
            head, _, task = (request.prompt or "").rpartition("\nTask: ")
            assert task.strip() == " ".join(str(request.meta["instruction"]).split())
            by_kind.setdefault(bool(request.meta["is_classification"]), set()).add(head)
    assert sum(1 for r in journal if r.meta["stage"] == "instances") > 20
    assert by_kind
    assert all(len(heads) == 1 for heads in by_kind.values()), by_kind


async def test_extending_a_finished_run_equals_running_longer(run_config: Any, tmp_path: Path) -> None:
    """Re-running with a larger N continues from the journal and ends where a direct run ends."""
    model = CountingModel()
    async with FakeOpenAIServer(responder=model) as server:
        await generate(
            run_config(tmp_path / "grown", num_instructions=40), engine_config=engine_config(server)
        )
        await generate(
            run_config(tmp_path / "grown", num_instructions=90), engine_config=engine_config(server)
        )
        grown_repeats = model.repeats
        await generate(
            run_config(tmp_path / "direct", num_instructions=90), engine_config=engine_config(server)
        )
    assert grown_repeats == 0
    for name in OUTPUTS:
        assert (tmp_path / "grown" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes(), name


async def test_nearest_recording_can_be_turned_off(run_config: Any, tmp_path: Path) -> None:
    """record_nearest=False leaves nearest fields empty but accepts the same instructions."""
    async with FakeOpenAIServer(responder=FakeModel()) as server:
        await generate(run_config(tmp_path / "on", num_instructions=30), engine_config=engine_config(server))
        await generate(
            run_config(tmp_path / "off", num_instructions=30, record_nearest=False),
            engine_config=engine_config(server),
        )
    on, off = (
        read_lines(tmp_path / "on" / "instructions.jsonl"),
        read_lines(tmp_path / "off" / "instructions.jsonl"),
    )
    assert [i["instruction"] for i in on] == [i["instruction"] for i in off]
    assert all(i["nearest"] is None and i["nearest_score"] is None for i in off)
    assert all(isinstance(i["nearest_score"], float) for i in on)


async def test_a_run_of_failures_stops_cleanly(run_config: Any, tmp_path: Path) -> None:
    """A server that starts failing every request stops the run with its cause, files written."""
    model = FakeModel()
    calls = Counter[str]()

    def responder(kind: str, body: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] > 30:
            return FakeReply(status=400, error_message="the server went wrong")
        return model(kind, body)

    async with FakeOpenAIServer(responder=responder) as server:
        summary = await generate(
            run_config(tmp_path, num_instructions=500, max_failures_in_row=5),
            engine_config=engine_config(server),
        )
    assert summary.status.startswith("stopped: 5 requests in a row failed (last: bad_request:")
    assert 0 < summary.accepted < 500
    assert len(read_lines(tmp_path / "instructions.jsonl")) == summary.accepted
