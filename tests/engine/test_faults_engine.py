"""Issue 11, engine side: odd answers, journals, secrets, resume keys, empty answers, auth stops.

One test (or one parametrized group) per defect, each against the fault-injecting loopback server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.engine import Engine, EngineConfig, Journal, Request, read_journal
from selfinstruct.engine.clock import FakeClock
from selfinstruct.engine.files import complete_file
from selfinstruct.engine.http import parse_usage
from selfinstruct.engine.requests import AnswerScope, Usage
from selfinstruct.errors import BAD_BODY_RETRIES, STOP_IN_A_ROW, JournalError
from selfinstruct.redact import REDACTED, redact
from selfinstruct.testing.server import FakeOpenAIServer, FakeReply, FakeServerConfig

COMPLETE = [sys.executable, "-m", "selfinstruct.cli.complete"]


def config(server: Any, **overrides: Any) -> EngineConfig:
    """An engine config pointed at the fake server (no API key, no backoff)."""
    values: dict[str, Any] = {
        "model": "m",
        "base_urls": [server.base_url],
        "api_key": None,
        "concurrency": 4,
        "backoff_base": 0.0,
    }
    values.update(overrides)
    return EngineConfig(**values)


def prompts(count: int) -> list[Request]:
    return [Request(prompt=f"question {i}", params={"max_tokens": 8}, id=str(i)) for i in range(count)]


async def run_all(engine: Engine, requests: list[Request]) -> list[Any]:
    return [result async for result in engine.run(requests)]


def write_input(path: Path, count: int) -> None:
    path.write_bytes(
        b"".join(orjson.dumps({"id": i, "prompt": f"question {i}"}) + b"\n" for i in range(count))
    )


# -- item 2: odd usage counts and journal lines of the wrong type ---------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param({"prompt_tokens": 3, "completion_tokens": 4}, (Usage(3, 4), False), id="ints"),
        pytest.param(
            {"prompt_tokens": 3.0, "completion_tokens": 4}, (Usage(3, 4), False), id="integral-float"
        ),
        pytest.param({"completion_tokens": 4}, (Usage(0, 4), False), id="one-count"),
        pytest.param(None, (None, False), id="absent"),
        pytest.param({"prompt_tokens": "ten", "completion_tokens": 4}, (None, True), id="string"),
        pytest.param({"prompt_tokens": None, "completion_tokens": 4}, (None, True), id="null"),
        pytest.param({"prompt_tokens": 3, "completion_tokens": 4.5}, (None, True), id="fraction"),
        pytest.param({"prompt_tokens": -3, "completion_tokens": 4}, (None, True), id="negative"),
        pytest.param({"prompt_tokens": True, "completion_tokens": 4}, (None, True), id="boolean"),
        pytest.param({"total_tokens": 7}, (None, True), id="no-counts"),
        pytest.param("12", (None, True), id="not-an-object"),
    ],
)
def test_usage_is_parsed_defensively(usage: Any, expected: tuple[Usage | None, bool]) -> None:
    """Only non-negative integer counts are usage; anything else is unknown usage, never an exception."""
    assert parse_usage(usage) == expected


@pytest.mark.anyio
async def test_odd_usage_is_estimated_and_counted_not_a_crash(fake_server: Any) -> None:
    """Answers with usage "ten"/null/12.5/-3 succeed, are journaled, and are counted and estimated."""
    async with fake_server(rate_odd_usage=1.0) as server:
        async with Engine(config(server, prices=(1.0, 1.0), max_cost=100.0)) as engine:
            results = await run_all(engine, prompts(8))
        stats = engine.statistics()
    assert all(r.ok and r.text and r.usage is None for r in results)
    assert server.counts["odd_usage"] == 8
    assert stats.usage_estimated == 8
    assert stats.completion_tokens == 8 * 8  # max_tokens, the estimate for an answer's length
    assert stats.prompt_tokens > 0
    assert stats.cost > 0  # the budget sees estimated spending, not nothing


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("usage", "x", id="usage-string"),
        pytest.param("usage", [1, "2"], id="usage-count-string"),
        pytest.param("attempts", "3", id="attempts-string"),
        pytest.param("text", 5, id="text-number"),
        pytest.param("error", {"kind": "bad_request", "message": 7}, id="error-message-number"),
        pytest.param("params", [], id="params-list"),
    ],
)
def test_journal_line_with_wrong_types_names_file_and_line(tmp_path: Path, field: str, value: Any) -> None:
    """A journal line whose fields have the wrong types is a JournalError naming file and line."""
    path = tmp_path / "j.journal"
    good = {"key": "k1-0", "prompt": "p", "params": {}, "text": "t", "usage": [1, 2], "attempts": 1}
    bad = {**good, "key": "k2-0", field: value}
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in (good, bad, {**good, "key": "k3-0"})))
    with pytest.raises(JournalError, match=rf"j\.journal:2: .*{field}"):
        Journal(path).open()
    with pytest.raises(JournalError, match=r"j\.journal:2:"):
        list(read_journal(path))


# -- item 4: the API key never reaches a file or a stream ----------------------------------------


def test_redact_removes_the_key_and_sk_tokens() -> None:
    """The configured key and any sk-/bearer token are replaced; short placeholder keys are not searched."""
    text = "bad key my-proxy-key-0123456789, also sk-proj-AbCdEf0123456789xyz and Bearer abc.def-123456"
    clean = redact(text, ["my-proxy-key-0123456789"])
    assert "my-proxy-key" not in clean
    assert "sk-proj-AbCd" not in clean
    assert "abc.def-123456" not in clean
    assert clean.count(REDACTED) == 3
    assert redact("x marks the spot", ["x"]) == "x marks the spot"


def test_echoed_key_is_redacted_from_output_journal_and_streams(tmp_path: Path) -> None:
    """A server that echoes the key in its errors: no byte of it in out.jsonl, the journal, stdout, stderr."""
    key = "proxy-secret-4f9a2b7c1d"
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 12)

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        if body["prompt"].endswith(("3", "7")):
            return FakeReply(status=400, error_message="rejected")  # journaled, echoed key included
        return "fine"

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = key
    with FakeOpenAIServer(
        FakeServerConfig(rate_500=0.3, echo_key=True, seed=5), responder
    ).in_thread() as server:
        args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url]
        done = subprocess.run(
            [*COMPLETE, *args, "--max-retries", "0"], env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 1, done.stderr
    records = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    messages = [r["error"]["message"] for r in records if r["error"]]
    assert any("HTTP 500" in m for m in messages)
    assert any("HTTP 400" in m for m in messages)
    assert all(REDACTED in m for m in messages)
    for blob in (output.read_text(), Path(f"{output}.journal").read_text(), done.stdout, done.stderr):
        assert key not in blob


def test_echoed_key_is_redacted_from_run_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` against a server that refuses and echoes the key: not in the run directory or streams."""
    from selfinstruct.cli import run as run_command

    key = "sk-live-ZZZZ0123456789abcdefghij"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    data = Path(__file__).parents[1] / "pipeline" / "data"
    run_dir = tmp_path / "run"

    def responder(kind: str, body: dict[str, Any]) -> FakeReply:
        return FakeReply(status=401, error_message="Incorrect API key provided")

    import argparse

    with FakeOpenAIServer(FakeServerConfig(echo_key=True), responder).in_thread() as server:
        parser = argparse.ArgumentParser(prog="selfinstruct")
        run_command.add_parser(parser.add_subparsers(dest="command", required=True))
        argv = [
            "run",
            "-o",
            str(run_dir),
            "--base-url",
            server.base_url,
            "--model",
            "m",
            "--num-instructions",
            "5",
        ]
        argv += ["--seeds", str(data / "seed_tasks.jsonl")]
        argv += ["--classification-examples", str(data / "classification_examples.jsonl")]
        argv += ["--instance-examples", str(data / "instance_examples.jsonl"), "--no-progress"]
        run_command.run(parser.parse_args(argv))
    captured = capsys.readouterr()
    assert server.counts["reply_error"] > 0
    assert key not in captured.out + captured.err
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in written)
    for path in written:
        assert key.encode() not in path.read_bytes(), path


# -- item 5: the journal key includes the model and the sampling defaults --------------------------


@pytest.mark.anyio
async def test_another_model_or_params_asks_again_and_the_first_replays(
    fake_server: Any, tmp_path: Path
) -> None:
    """Same journal, another model or temperature: sent again; the first settings replay their answers."""
    journal = tmp_path / "out.journal"
    requests = prompts(6)
    async with fake_server() as server:
        sent = []
        for model, params in [("a", {}), ("b", {}), ("a", {}), ("a", {"temperature": 0.2}), ("b", {})]:
            before = server.counts["requests"]
            async with Engine(config(server, model=model, default_params=params), journal=journal) as engine:
                results = await run_all(engine, requests)
            assert all(r.ok for r in results)
            sent.append(server.counts["requests"] - before)
    assert sent == [6, 6, 0, 6, 0]
    assert len(list(read_journal(journal))) == 18


@pytest.mark.anyio
async def test_read_journal_with_a_scope_replays_only_its_answers(fake_server: Any, tmp_path: Path) -> None:
    """read_journal(path, scope), which run's replay uses, takes only the lines of that model and params."""
    journal = tmp_path / "out.journal"
    async with fake_server() as server:
        for model in ("a", "b"):
            async with Engine(config(server, model=model), journal=journal) as engine:
                await run_all(engine, prompts(3))
    scope_a = AnswerScope("a")
    scope_b = AnswerScope("b", {"service_tier": "flex"})
    assert [r.model for r in read_journal(journal, scope_a)] == ["a"] * 3
    assert [r.model for r in read_journal(journal, scope_b)] == ["b"] * 3  # the tier does not change answers
    assert len(list(read_journal(journal))) == 6


@pytest.mark.anyio
async def test_old_journal_without_scope_stays_readable(fake_server: Any, tmp_path: Path) -> None:
    """Lines written before scopes replay for the model they record (or its dated name), not for another."""
    journal = tmp_path / "out.journal"
    requests = prompts(5)
    async with fake_server() as server:
        async with Engine(config(server, model="gpt-x"), journal=journal) as engine:
            await run_all(engine, requests)
        old = []
        for line in journal.read_bytes().splitlines():
            record = orjson.loads(line)
            del record["scope"]
            record["model"] = "gpt-x-2024-07-18"  # what a server answers for "gpt-x"
            old.append(orjson.dumps(record) + b"\n")
        journal.write_bytes(b"".join(old))
        counts = []
        for model in ("gpt-x", "other"):
            before = server.counts["requests"]
            async with Engine(config(server, model=model), journal=journal) as engine:
                results = await run_all(engine, requests)
            assert all(r.ok for r in results)
            counts.append(server.counts["requests"] - before)
    assert counts == [0, 5]
    assert len(list(read_journal(journal))) == 10


# -- item 6: an answer without text is a bad body, retried on a small budget ------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        pytest.param("rate_empty_answer", "empty_answer", id="null-content-or-no-message"),
        pytest.param("rate_garbage", "invalid_body", id="malformed-200"),
    ],
)
async def test_bad_200_bodies_get_a_small_retry_budget(
    fake_server: Any, tmp_path: Path, fault: str, kind: str
) -> None:
    """Null content, no message or a malformed 200: retried BAD_BODY_RETRIES times, counted, not journaled."""
    journal = tmp_path / "out.journal"
    async with fake_server(**{fault: 1.0}) as server:
        async with Engine(config(server, max_retries=6), journal=journal, clock=FakeClock()) as engine:
            results = await run_all(engine, prompts(4))
        stats = engine.statistics()
    assert [r.error.kind for r in results] == [kind] * 4
    assert all(r.attempts == 1 + BAD_BODY_RETRIES and r.text is None for r in results)
    assert server.counts["requests"] == 4 * (1 + BAD_BODY_RETRIES)
    assert stats.retries == {kind: 4 * BAD_BODY_RETRIES}
    assert stats.errors == {kind: 4}
    assert list(read_journal(journal)) == []  # a re-run asks again


@pytest.mark.anyio
async def test_bad_body_budget_is_separate_from_other_retries(fake_server: Any) -> None:
    """Earlier 429s do not use up the bad-body budget, and one empty answer then a good one succeeds."""
    seen: list[int] = []

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        seen.append(1)
        return FakeReply(status=429) if len(seen) <= 4 else "fine"

    async with fake_server(responder=responder) as server:
        async with Engine(config(server, concurrency=1), clock=FakeClock()) as engine:
            result = await engine.complete(Request(prompt="p"))
    assert result.ok
    assert result.attempts == 5
    async with fake_server(rate_empty_answer=0.3, seed=1) as server:
        async with Engine(config(server, concurrency=1), clock=FakeClock()) as engine:
            results = await run_all(engine, prompts(40))
        stats = engine.statistics()
    assert sum(r.ok for r in results) >= 37  # 0.3**3: about one in 37 fails three times
    assert stats.retries["empty_answer"] == server.counts["empty_answer"] - stats.errors.get(
        "empty_answer", 0
    )
    assert all(r.text for r in results if r.ok)


# -- item 7: complete stops after a short run of auth failures ------------------------------------


@pytest.mark.anyio
async def test_complete_stops_after_auth_failures_in_a_row(fake_server: Any, tmp_path: Path) -> None:
    """The probe passes but every completion is 401: complete_file stops after a few, not 500 of 500."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 500)

    def responder(kind: str, body: dict[str, Any]) -> FakeReply:
        return FakeReply(status=401, error_message="Incorrect API key provided")

    concurrency = 4
    async with fake_server(responder=responder) as server:
        report = await complete_file(source, output, engine_config=config(server, concurrency=concurrency))
    assert server.counts["requests"] <= STOP_IN_A_ROW + concurrency
    assert report.stop_error is not None
    assert "401" in str(report.stop_error)
    assert report.lines == 500
    assert report.errors == {"auth": 500}


@pytest.mark.anyio
async def test_an_auth_failure_between_successes_does_not_stop(fake_server: Any) -> None:
    """Auth failures that are not in a row (a proxy's hiccup) do not stop the engine."""
    calls: list[int] = []

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        calls.append(1)
        return FakeReply(status=403) if len(calls) % 2 else "fine"

    async with fake_server(responder=responder) as server:
        async with Engine(config(server, concurrency=1)) as engine:
            results = await run_all(engine, prompts(20))
    assert engine.stopped_reason is None
    assert server.counts["requests"] == 20
    assert sum(r.ok for r in results) == 10
