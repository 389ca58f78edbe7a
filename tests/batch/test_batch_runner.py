"""BatchRunner against the fake Batch API: same answers as online, splitting, retries, resume, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from batch_helpers import BatchServerFactory, StepClock, engine_config, fast_batches

from selfinstruct.batch import BatchRunner, Ledger, ledger_path, split_into_files
from selfinstruct.batch.files import FileLimits
from selfinstruct.engine import Engine, Request, RetryPolicy, read_journal
from selfinstruct.errors import JournalError
from selfinstruct.testing.server import FakeReply, default_responder

pytestmark = pytest.mark.anyio


def prompts(count: int, *, chat_every: int = 0) -> list[Request]:
    """``count`` distinct requests; every ``chat_every``-th one a chat request."""
    requests = []
    for i in range(count):
        params = {"max_tokens": 12, "temperature": 0.0}
        if chat_every and i % chat_every == 0:
            messages = [{"role": "user", "content": f"Question number {i}?"}]
            requests.append(Request(messages=messages, params=params, id=str(i)))
        else:
            requests.append(Request(prompt=f"Complete sentence number {i}:", params=params, id=str(i)))
    return requests


def answers(journal: Path) -> dict[str, tuple[Any, ...]]:
    """key -> (text, finish_reason, usage) for the successes in a journal."""
    found = {}
    for result in read_journal(journal):
        if result.ok:
            usage = (result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
            found[result.key] = (result.text, result.finish_reason, usage)
    return found


async def wait_until(condition: Any, *, limit: float = 20.0) -> None:
    """Poll ``condition()`` until true (real time, for tests that interrupt a running job)."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - the condition is a server counter, no event to await
            await anyio.sleep(0.002)


async def test_answers_match_the_online_engine(batch_server: BatchServerFactory, tmp_path: Path) -> None:
    """Chat and completion requests (n=2 fanned out) get the online answers; one batch per endpoint."""
    requests = prompts(40, chat_every=3) + [
        Request(prompt="Twice, please:", params={"n": 2, "max_tokens": 5})
    ]
    async with batch_server() as server:
        config = engine_config(server)
        async with BatchRunner(config, journal=tmp_path / "batch.jsonl", config=fast_batches()) as runner:
            stats = await runner.run(requests)
        async with Engine(config, journal=tmp_path / "online.jsonl") as engine:
            async for _ in engine.run(requests):
                pass
    assert stats.succeeded == 42
    assert stats.failed == 0
    assert stats.batches_created == 2
    assert server.counts["batch_created"] == 2
    assert answers(tmp_path / "batch.jsonl") == answers(tmp_path / "online.jsonl")
    assert len(answers(tmp_path / "batch.jsonl")) == 42


def test_files_are_split_within_the_limits(tmp_path: Path) -> None:
    """No file holds more than the request or byte limit, or two endpoints; every request once."""
    requests = prompts(50, chat_every=4)
    limits = FileLimits(max_requests=7, max_bytes=1_000)
    files = list(
        split_into_files(requests, tmp_path, model="m", default_params={}, limits=limits, prefix="t")
    )
    assert sorted(k for f in files for k in f.keys) == sorted(r.key for r in requests)
    for file in files:
        lines = [orjson.loads(x) for x in file.path.read_bytes().splitlines()]
        assert len(lines) <= 7
        assert file.path.stat().st_size == file.size <= 1_000
        assert {x["url"] for x in lines} == {file.endpoint}
        assert [x["custom_id"] for x in lines] == list(file.keys)
    assert len(files) > 50 // 7


async def test_retryable_failures_and_expiry_are_resubmitted(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """Line 500s/429s and expired leftovers go out again until answered; nothing is paid twice."""
    async with batch_server(line_error_rate=0.2, expire_rate=0.5, seed=3) as server:
        batches = fast_batches(max_requests_per_file=60, max_rounds=10)
        async with BatchRunner(engine_config(server), journal=tmp_path / "j.jsonl", config=batches) as runner:
            stats = await runner.run(prompts(300))
    assert stats.succeeded == 300
    assert stats.resubmitted > 0
    assert server.counts["batch_lines_ok"] == 300
    assert server.counts["batch_paid_twice"] == 0
    assert server.counts["batch_expired"] > 0
    assert len(answers(tmp_path / "j.jsonl")) == 300


async def test_gives_up_after_max_rounds_without_journaling(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """A request failing every round is sent max_rounds + 1 times, then fails (a re-run retries it)."""
    async with batch_server(line_error_rate=1.0) as server:
        async with BatchRunner(
            engine_config(server), journal=tmp_path / "j.jsonl", config=fast_batches(max_rounds=2)
        ) as runner:
            stats = await runner.run(prompts(5))
    assert stats.failed == 5
    assert set(stats.errors) <= {"server", "rate_limit"}
    assert server.counts["batch_lines"] == 15
    assert list(read_journal(tmp_path / "j.jsonl")) == []


async def test_request_errors_are_journaled_not_resent(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """A line answered 400 context_length is final and journaled (no call when run again)."""

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        if "number 3:" in body.get("prompt", ""):
            return FakeReply(status=400, error_code="context_length_exceeded", error_message="too long")
        return default_responder(kind, body)

    async with batch_server(responder=responder) as server:
        config = engine_config(server)
        async with BatchRunner(config, journal=tmp_path / "j.jsonl", config=fast_batches()) as runner:
            stats = await runner.run(prompts(6))
        assert stats.errors == {"context_length": 1}
        assert stats.resubmitted == 0
        async with BatchRunner(config, journal=tmp_path / "j.jsonl", config=fast_batches()) as runner:
            again = await runner.run(prompts(6))
    assert again.replayed == 6
    assert server.counts["batch_created"] == 1


async def test_killed_mid_poll_resumes_the_same_batches(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """A run cut off while polling leaves its batches in the ledger; the next run polls them, creates none."""
    clock = StepClock()
    journal = tmp_path / "j.jsonl"
    requests = prompts(100, chat_every=5)
    async with batch_server(clock=clock, time_scale=1.0) as server:
        config = engine_config(server)
        batches = fast_batches(max_requests_per_file=30)
        async with BatchRunner(config, journal=journal, config=batches) as first:
            async with anyio.create_task_group() as group:
                group.start_soon(first.run, requests)
                await wait_until(lambda: server.counts["batch_polls"] >= 10)
                group.cancel_scope.cancel()  # the "kill": mid-poll, every batch still validating
        created = server.counts["batch_created"]
        assert created == 4  # 80 completion requests in 3 files, 20 chat requests in 1
        with Ledger(ledger_path(journal)) as ledger:
            assert sum(1 for p in ledger.open_parts() if p.batch_id) == created
        clock.advance(100_000)
        async with BatchRunner(config, journal=journal, config=batches) as second:
            stats = await second.run(requests)
    assert stats.batches_created == 0
    assert stats.batches_resumed == created
    assert stats.succeeded == 100
    assert server.counts["batch_created"] == created
    assert server.counts["batch_paid_twice"] == 0


class Killed(Exception):
    """Stands in for a process killed at an exact point."""


async def test_kill_between_create_and_record_adopts_the_batch(
    batch_server: BatchServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch created but not yet in the ledger is found by its file id, not created again."""
    journal = tmp_path / "j.jsonl"

    def killed(self: Ledger, part: Any, batch_id: str) -> None:
        raise Killed(batch_id)

    async with batch_server() as server:
        config = engine_config(server)
        with monkeypatch.context() as patch:
            patch.setattr(Ledger, "created", killed)
            async with BatchRunner(config, journal=journal, config=fast_batches()) as first:
                with pytest.raises(Killed):
                    await first.run(prompts(10))
        assert server.counts["batch_created"] == 1
        async with BatchRunner(config, journal=journal, config=fast_batches()) as second:
            stats = await second.run(prompts(10))
    assert stats.batches_adopted == 1
    assert stats.batches_created == 0
    assert stats.succeeded == 10
    assert server.counts["batch_created"] == 1


async def test_cancel_keeps_what_was_finished(batch_server: BatchServerFactory, tmp_path: Path) -> None:
    """Cancelling from another process: finished answers are journaled, the rest fail as cancelled."""
    clock = StepClock()
    journal = tmp_path / "j.jsonl"
    settings = {
        "time_scale": 1.0,
        "validating_seconds": 0.0,
        "requests_per_second": 1.0,
        "cancelling_seconds": 0.0,
    }
    async with batch_server(clock=clock, **settings) as server:
        config = engine_config(server)
        async with BatchRunner(config, journal=journal, config=fast_batches()) as first:
            async with anyio.create_task_group() as group:
                group.start_soon(first.run, prompts(20))
                await wait_until(lambda: server.counts["batch_polls"] >= 2)
                group.cancel_scope.cancel()
        clock.advance(7.5)
        async with BatchRunner(config, journal=journal, config=fast_batches()) as second:
            asked = await second.cancel()
            stats = second.statistics()
    assert asked == 1
    assert stats.succeeded == 7
    assert stats.finished_batches == {"cancelled": 1}
    assert len(answers(journal)) == 7
    with Ledger(ledger_path(journal)) as ledger:
        assert list(ledger.open_parts()) == []


async def test_requests_arriving_over_time_are_batched_and_awaited(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """complete() from many tasks while drive() runs: each caller gets its own request back."""
    requests = prompts(30)
    results: dict[str, Any] = {}
    async with batch_server() as server:
        async with BatchRunner(
            engine_config(server), journal=tmp_path / "j.jsonl", config=fast_batches()
        ) as runner:

            async def ask(request: Request) -> None:
                results[str(request.id)] = await runner.complete(request)

            async with anyio.create_task_group() as group:
                group.start_soon(runner.drive)
                for wave in range(3):
                    async with anyio.create_task_group() as callers:
                        for request in requests[wave * 10 : (wave + 1) * 10]:
                            callers.start_soon(ask, request)
                runner.close_input()
    assert sorted(results, key=int) == [str(i) for i in range(30)]
    assert all(r.ok and r.request.id == key for key, r in results.items())
    assert server.counts["batch_created"] == 3


async def test_enqueued_token_limit_waits_for_earlier_batches(
    batch_server: BatchServerFactory, tmp_path: Path
) -> None:
    """A batch refused for the enqueued-token limit goes out again once an earlier one is in."""
    async with batch_server(enqueued_token_limit=60, time_scale=1_000.0) as server:
        batches = fast_batches(max_requests_per_file=10)
        async with BatchRunner(engine_config(server), journal=tmp_path / "j.jsonl", config=batches) as runner:
            stats = await runner.run(prompts(30))
    assert stats.succeeded == 30
    assert server.counts["batch_failed"] >= 1
    assert server.counts["batch_paid_twice"] == 0


async def test_api_errors_are_retried(batch_server: BatchServerFactory, tmp_path: Path) -> None:
    """500s from the Files/Batches endpoints are retried; the job still finishes exactly once."""
    async with batch_server(api_error_rate=0.3, seed=1) as server:
        async with BatchRunner(
            engine_config(server),
            journal=tmp_path / "j.jsonl",
            config=fast_batches(max_requests_per_file=5),
            retry=RetryPolicy(max_retries=20, base=0.0, cap=0.0),
        ) as runner:
            stats = await runner.run(prompts(25))
            retries = runner.client.retries
    assert stats.succeeded == 25
    assert retries > 0
    assert server.counts["batch_created"] == 5


async def test_cost_applies_the_batch_discount(batch_server: BatchServerFactory, tmp_path: Path) -> None:
    """Cost is half the standard price for the tokens the batch used."""
    async with batch_server() as server:
        config = engine_config(server, prices=(2.0, 8.0))
        async with BatchRunner(config, journal=tmp_path / "j.jsonl", config=fast_batches()) as runner:
            stats = await runner.run(prompts(10))
    standard = (stats.prompt_tokens * 2.0 + stats.completion_tokens * 8.0) / 1_000_000
    assert stats.prompt_tokens > 0
    assert stats.cost == pytest.approx(standard / 2)


def test_ledger_cuts_a_torn_last_line_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    """A kill mid-write leaves a torn line that is cut off; a bad line elsewhere is an error."""
    path = tmp_path / "ledger.jsonl"
    with Ledger(path) as ledger:
        part = ledger.uploaded(
            "part-00001", endpoint="/v1/completions", keys=["a", "b"], round=0, file_id="f1"
        )
        ledger.created(part, "batch_1")
    good = path.read_bytes()
    path.write_bytes(good + b'{"event": "collected", "pa')
    with Ledger(path) as ledger:
        assert ledger.repaired_bytes > 0
        assert [p.batch_id for p in ledger.open_parts()] == ["batch_1"]
        assert ledger.open_keys() == {"a", "b"}
    assert path.read_bytes() == good
    path.write_bytes(b"not json\n" + good)
    with pytest.raises(JournalError, match=r"ledger.jsonl:1"):
        Ledger(path).open()
