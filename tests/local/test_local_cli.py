"""End to end on the embedded model: the commands start it themselves when no endpoint is configured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from local_procs import local_extra_installed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


if not local_extra_installed():
    pytestmark.append(pytest.mark.skip(reason='needs pip install "selfinstruct[local]"'))


def _no_endpoint_env() -> dict[str, str]:
    """Our environment without any endpoint configured, so the command must serve the local model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _selfinstruct(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m selfinstruct ARGS`` with no endpoint configured; check it left no server behind."""
    command = [sys.executable, "-m", "selfinstruct", *args]
    with subprocess.Popen(
        command, cwd=cwd, env=_no_endpoint_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=280)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        leftovers = _servers_started_by(process.pid)
    assert not leftovers, f"server process(es) left behind: {leftovers}\n{stderr[-2000:]}"
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _jsonl(path: Path) -> list[dict[str, object]]:
    """Every record of a JSONL file."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _servers_started_by(parent_pid: int) -> list[int]:
    """Pids of live local-server processes whose launcher was ``parent_pid`` (read from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 2 and argv[1].endswith(b"_child.py") and argv[2] == str(parent_pid).encode():
            found.append(int(proc.name))
    return found


def test_run_on_embedded_model(tmp_path: Path) -> None:
    """``selfinstruct run`` with no endpoint finishes on SmolLM2 and writes tasks with instances."""
    out = tmp_path / "run"
    done = _selfinstruct("run", "-o", str(out), "--num-instructions", "3", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "a real endpoint gives far better data" in done.stderr
    instructions = _jsonl(out / "instructions.jsonl")
    assert len(instructions) >= 3
    assert all(isinstance(r["instruction"], str) and r["instruction"].strip() for r in instructions)
    tasks = _jsonl(out / "tasks.jsonl")
    with_instances = [t for t in tasks if t["instances"]]
    assert with_instances, f"no task got instances:\n{done.stdout}\n{done.stderr[-2000:]}"
    for task in with_instances:
        for instance in task["instances"]:  # type: ignore[attr-defined]
            assert isinstance(instance["input"], str)
            assert isinstance(instance["output"], str)
            assert instance["output"].strip()


def test_complete_on_embedded_model(tmp_path: Path) -> None:
    """``selfinstruct complete`` with no endpoint answers a two-line file (chat and raw prompt)."""
    source = tmp_path / "prompts.jsonl"
    source.write_bytes(
        orjson.dumps(
            {"id": "chat", "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 24}
        )
        + b"\n"
        + orjson.dumps({"id": "raw", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0})
        + b"\n"
    )
    out = tmp_path / "answers.jsonl"
    done = _selfinstruct("complete", str(source), "-o", str(out), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = {r["id"]: r for r in _jsonl(out)}
    assert set(answers) == {"chat", "raw"}
    for answer in answers.values():
        assert answer.get("error") is None, answer
        assert isinstance(answer["text"], str)
        assert answer["text"].strip()
    assert "Paris" in str(answers["raw"]["text"])


def test_ctrl_c_stops_run_and_server(tmp_path: Path) -> None:
    """SIGINT to ``selfinstruct run`` mid-run: exit code 130, resume hint, and the server is gone."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "selfinstruct", "run", "-o", str(out), "--num-instructions", "50"]
    with subprocess.Popen(
        [*command, "--no-progress"],
        env=_no_endpoint_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job may have SIGINT ignored; the user's Ctrl-C case has it live.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as process:
        try:
            # Wait (on the other process, not on a clock we own) until model answers are arriving.
            deadline = time.monotonic() + 120
            while not (out / "journal.jsonl").exists() or not _servers_started_by(process.pid):
                assert process.poll() is None, process.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "the run never got going"
                time.sleep(0.1)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130, stderr[-2000:]
        assert "interrupted" in stderr
        assert _servers_started_by(process.pid) == []
