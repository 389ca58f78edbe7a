"""``selfinstruct complete --batch`` as a subprocess: same file as online, kill -9 and resume, cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.testing.server import FakeBatchConfig, FakeOpenAIServer, FakeServerConfig

COMMAND = [sys.executable, "-m", "selfinstruct.cli.complete"]


def environment() -> dict[str, str]:
    """The test's environment without endpoint settings, and a dummy key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = "sk-test"
    return env


def write_input(path: Path, count: int) -> None:
    """Prompts, chat lines and an n=2 line, as a user's file would mix them."""
    with open(path, "wb") as handle:
        for i in range(count):
            record: dict[str, Any] = {"id": i, "prompt": f"Write a line about topic {i}.", "max_tokens": 8}
            if i % 7 == 0:
                record = {"id": f"chat-{i}", "messages": [{"role": "user", "content": f"Hi {i}?"}]}
            if i == 5:
                record["n"] = 2
            handle.write(orjson.dumps(record) + b"\n")


def complete(
    server: FakeOpenAIServer, source: Path, output: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """Run the command to the end."""
    args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url, *extra]
    return subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=120)


def start(server: FakeOpenAIServer, source: Path, output: Path, *extra: str) -> subprocess.Popen[str]:
    """Start the command in the background."""
    args = [str(source), "-o", str(output), "--model", "m", "--base-url", server.base_url, *extra]
    return subprocess.Popen(
        COMMAND + args, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def open_batches(output: Path) -> int:
    """Batches the ledger beside ``output`` records as created and not yet collected (read only)."""
    path = output.with_name(output.name + ".batches.jsonl")
    if not path.exists():
        return 0
    events = [
        orjson.loads(line)["event"]
        for line in path.read_bytes().splitlines(keepends=True)
        if line.endswith(b"\n")
    ]
    return events.count("created") - events.count("collected")


def kill_while_polling(
    process: subprocess.Popen[str], server: FakeOpenAIServer, output: Path, batches: int
) -> None:
    """SIGKILL the command once ``batches`` batches are recorded and it has polled them."""
    deadline = time.monotonic() + 60
    while open_batches(output) < batches or server.counts["batch_polls"] < 2 * batches:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the command never got to polling"
        time.sleep(0.01)
    polls = server.counts["batch_polls"]
    while server.counts["batch_polls"] < polls + batches:  # mid-poll: it is polling right now
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def test_batch_output_is_the_online_output(tmp_path: Path) -> None:
    """With line failures and expiries resubmitted, --batch writes the file online mode writes."""
    source = tmp_path / "in.jsonl"
    write_input(source, 120)
    batch = FakeBatchConfig(time_scale=1e5, line_error_rate=0.1, expire_rate=0.5, seed=2)
    with FakeOpenAIServer(FakeServerConfig(), batch=batch).in_thread() as server:
        online = complete(server, source, tmp_path / "online.jsonl")
        batched = complete(
            server,
            source,
            tmp_path / "batch.jsonl",
            "--batch",
            "--batch-size",
            "40",
            "--poll-interval",
            "0.01",
        )
    assert online.returncode == 0, online.stderr
    assert batched.returncode == 0, batched.stderr
    assert (tmp_path / "batch.jsonl").read_bytes() == (tmp_path / "online.jsonl").read_bytes()
    assert server.counts["batch_paid_twice"] == 0
    assert server.counts["batch_lines_failed"] + server.counts["batch_lines_expired"] > 0
    assert "at the batch rate" not in batched.stderr  # no prices given: no cost line
    assert "121 answered" in batched.stderr


def test_killed_twice_mid_poll_resumes_without_resubmitting(tmp_path: Path) -> None:
    """kill -9 twice while polling; the third run collects the same batches; nothing paid twice."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 300)
    # 1 real second = 100 virtual: a batch validates for 0.6 s and finalizes for 1.2 s.
    batch = FakeBatchConfig(time_scale=100.0, requests_per_second=200.0)
    flags = ("--batch", "--batch-size", "100", "--poll-interval", "0.02")
    with FakeOpenAIServer(FakeServerConfig(), batch=batch).in_thread() as server:
        for _ in range(2):
            kill_while_polling(start(server, source, output, *flags), server, output, batches=4)
        created = server.counts["batch_created"]
        last = complete(server, source, output, *flags)
        online = complete(server, source, tmp_path / "online.jsonl")
    assert online.returncode == 0, online.stderr
    assert last.returncode == 0, last.stderr
    assert created == 4  # 258 prompts in 3 batches, 43 chat lines in 1
    assert server.counts["batch_created"] == created
    assert server.counts["batch_paid_twice"] == 0
    assert "0 created, 4 resumed" in last.stderr
    assert output.read_bytes() == (tmp_path / "online.jsonl").read_bytes()


def test_batch_cancel_keeps_finished_answers(tmp_path: Path) -> None:
    """--batch-cancel after a kill: finished answers in the output, the rest cancelled, exit 1."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 60)
    # 1 real second = 10 virtual: 1 line every 2 virtual seconds, so even the 9 chat lines take
    # about 2 real seconds; nothing is finalizing yet when the cancel comes.
    batch = FakeBatchConfig(
        time_scale=10.0,
        validating_seconds=0.0,
        requests_per_second=0.5,
        cancelling_seconds=0.0,
        finalizing_seconds=0.0,
    )
    flags = ("--batch", "--poll-interval", "0.02")
    with FakeOpenAIServer(FakeServerConfig(), batch=batch).in_thread() as server:
        kill_while_polling(start(server, source, output, *flags), server, output, batches=2)
        time.sleep(0.3)  # a few more lines done
        cancelled = complete(server, source, output, "--batch-cancel", "--poll-interval", "0.02")
    assert cancelled.returncode == 1, cancelled.stderr
    assert "2 batches cancelled" in cancelled.stderr
    records = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    answered = [r for r in records if r["error"] is None]
    kinds = {r["error"]["kind"] for r in records if r["error"] is not None}
    assert 0 < len(answered) < len(records)
    assert kinds == {"cancelled"}
    assert server.counts["batch_cancel_requests"] == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(("--batch",), "needs an endpoint", id="no-endpoint"),
        pytest.param(
            ("--batch", "--base-url", "http://127.0.0.1:9/v1", "--service-tier", "flex"), "flex", id="flex"
        ),
        pytest.param(
            ("--batch", "--base-url", "http://127.0.0.1:9/v1", "--batch-size", "60000"),
            "1..50,000",
            id="size",
        ),
    ],
)
def test_batch_flags_that_cannot_work_are_refused(
    tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    """Refused before anything starts, with what to change."""
    source = tmp_path / "in.jsonl"
    write_input(source, 3)
    args = [str(source), "-o", str(tmp_path / "out.jsonl"), "--model", "m", *flags]
    result = subprocess.run(COMMAND + args, env=environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
