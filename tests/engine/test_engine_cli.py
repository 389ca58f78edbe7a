"""``selfinstruct complete`` as a subprocess: output, resume, kill -9, SIGTERM and bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.engine import read_journal
from selfinstruct.testing.server import FakeOpenAIServer, FakeReply, FakeServerConfig

COMMAND = [sys.executable, "-m", "selfinstruct.cli.complete"]


def environment() -> dict[str, str]:
    """The test's environment without any endpoint or key settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_input(path: Path, count: int, **extra: Any) -> None:
    """An input file of ``count`` prompts with ids 0..count-1."""
    with open(path, "wb") as handle:
        for i in range(count):
            handle.write(orjson.dumps({"id": i, "prompt": f"question {i}", **extra}) + b"\n")


def read_output(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def counting_responder(hits: Counter[str], after: int = 0, event: threading.Event | None = None) -> Any:
    """Count hits per prompt; set ``event`` once ``after`` requests were answered."""
    lock = threading.Lock()

    def responder(kind: str, body: dict[str, Any]) -> str:
        with lock:
            hits[str(body["prompt"])] += 1
            if event is not None and sum(hits.values()) >= after:
                event.set()
        return f"answer: {body['prompt']}"

    return responder


def test_complete_writes_every_id_and_resumes(tmp_path: Path) -> None:
    """The output has one line per id in input order; a re-run makes no new calls."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 50, max_tokens=2)
    hits: Counter[str] = Counter()
    with FakeOpenAIServer(
        FakeServerConfig(rate_500=0.2, seed=3), counting_responder(hits)
    ).in_thread() as server:
        args = [
            str(source),
            "-o",
            str(output),
            "--model",
            "m",
            "--base-url",
            server.base_url,
            "--max-retries",
            "20",
        ]
        first = subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        requests_after_first = server.counts["requests"]
        second = subprocess.run(
            COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0, second.stderr
        assert server.counts["requests"] == requests_after_first
    records = read_output(output)
    assert [r["id"] for r in records] == list(range(50))
    assert all(r["error"] is None and r["text"].startswith("answer") for r in records)
    assert records[0]["finish_reason"] == "length"
    assert "50 from the journal" in second.stderr
    assert set(hits.values()) == {1}


def test_chat_flag_and_failures_are_reported(tmp_path: Path) -> None:
    """--chat sends messages; a request the server rejects is an error line and exit code 1."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 5)
    kinds: list[str] = []

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        kinds.append(kind)
        if body["messages"][0]["content"] == "question 3":
            return FakeReply(status=400, error_message="nope")
        return "fine"

    with FakeOpenAIServer(responder=responder).in_thread() as server:
        args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url, "--chat"]
        done = subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    records = read_output(output)
    assert records[3]["error"]["kind"] == "bad_request"
    assert records[3]["error"]["status"] == 400
    assert [r["text"] for i, r in enumerate(records) if i != 3] == ["fine"] * 4
    assert set(kinds) == {"chat"}


@pytest.mark.parametrize(
    ("content", "where"),
    [
        pytest.param(
            b'{"id": 1, "prompt": "a"}\n{"id": 2, "prompt": "b"}\n{"id": 3, "prom\n', ":3:", id="bad-json"
        ),
        pytest.param(b'{"id": 1, "prompt": "a"}\n{"prompt": "b"}\n', ":2:", id="no-id"),
        pytest.param(b'{"id": 1, "prompt": "a"}\n{"id": 1, "prompt": "b"}\n', ":2:", id="duplicate-id"),
        pytest.param(b'{"id": 1}\n', ":1:", id="no-prompt"),
    ],
)
def test_bad_input_is_located_and_nothing_is_sent(tmp_path: Path, content: bytes, where: str) -> None:
    """A bad input line fails before any call, naming the file and line; no output is written."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(content)
    with FakeOpenAIServer().in_thread() as server:
        args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url]
        done = subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120)
        assert server.counts["requests"] == 0
    assert done.returncode == 2
    assert f"in.jsonl{where}" in done.stderr
    assert not output.exists()


@pytest.mark.parametrize(
    ("sig", "code"),
    [
        pytest.param(signal.SIGKILL, -signal.SIGKILL, id="kill-9"),
        pytest.param(signal.SIGTERM, 143, id="sigterm"),
    ],
)
def test_interrupted_run_resumes_without_duplicates(tmp_path: Path, sig: int, code: int) -> None:
    """After kill -9 or SIGTERM mid-run, a re-run completes every id once; only in-flight work is redone."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    total, concurrency = 300, 8
    write_input(source, total)
    hits: Counter[str] = Counter()
    reached = threading.Event()
    config = FakeServerConfig(latency=0.01)
    with FakeOpenAIServer(config, counting_responder(hits, after=60, event=reached)).in_thread() as server:
        args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url]
        args += ["--concurrency", str(concurrency)]
        process = subprocess.Popen(
            COMMAND + args, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert reached.wait(timeout=60), "the run never got going"
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == code, stderr
        if sig == signal.SIGTERM:
            assert "re-run the same command to resume" in stderr
        journal = Path(str(output) + ".journal")
        journaled = list(read_journal(journal))
        assert 0 < len(journaled) < total
        resumed = subprocess.run(
            COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120
        )
        assert resumed.returncode == 0, resumed.stderr
    records = read_output(output)
    assert [r["id"] for r in records] == list(range(total))
    assert all(r["error"] is None for r in records)
    keys = [r.key for r in read_journal(journal)]
    assert len(keys) == len(set(keys)) == total
    redone = sum(hits.values()) - total
    assert 0 <= redone <= concurrency  # only requests that were in flight at the kill were paid twice


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    """--base-url without --model fails with a message that names the flag."""
    source = tmp_path / "in.jsonl"
    write_input(source, 1)
    args = [str(source), "-o", str(tmp_path / "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1"]
    done = subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--model" in done.stderr


def test_no_endpoint_serves_the_local_model(
    tmp_path: Path, local_model_stub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no endpoint, complete serves --model-path locally, prints the hint once and answers every id."""
    from selfinstruct.cli import main
    from selfinstruct.local import LOCAL_HINT

    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 3, max_tokens=2)
    model_path = tmp_path / "other.gguf"
    with FakeOpenAIServer().in_thread() as server:
        local_model_stub.base_url = server.base_url
        code = main(
            ["complete", str(source), "-o", str(output), "--model-path", str(model_path), "--no-progress"]
        )
    assert code == 0
    assert local_model_stub.model_paths == [model_path]
    assert capsys.readouterr().err.count(LOCAL_HINT) == 1
    assert [line["id"] for line in read_output(output)] == [0, 1, 2]
