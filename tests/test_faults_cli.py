"""Issue 11, the command-line side: one output per process, changed settings, full disks, odd inputs.

Each test reproduces one defect a user met (numbered as in the issue) through the real commands,
against the loopback fake server.
"""

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

from selfinstruct import __version__
from selfinstruct.cli import main
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeOpenAIServer, FakeServerConfig

DATA = Path(__file__).parent / "pipeline" / "data"
SEED_ARGS = [
    "--seeds",
    str(DATA / "seed_tasks.jsonl"),
    "--classification-examples",
    str(DATA / "classification_examples.jsonl"),
    "--instance-examples",
    str(DATA / "instance_examples.jsonl"),
]
COMMAND = [sys.executable, "-m", "selfinstruct"]


def environment() -> dict[str, str]:
    """The test's environment without endpoint settings, and a dummy key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_API_KEY"] = "sk-test"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_args(run_dir: Path, server: FakeOpenAIServer, *extra: str, n: int = 20) -> list[str]:
    """``selfinstruct run`` arguments on the small test seeds."""
    return [
        "run",
        "-o",
        str(run_dir),
        "--num-instructions",
        str(n),
        "--base-url",
        server.base_url,
        "--model",
        "m",
        "--no-progress",
        "--no-stats",
        *SEED_ARGS,
        *extra,
    ]


def write_prompts(path: Path, count: int) -> None:
    """An input file for ``complete`` with ids 0..count-1."""
    path.write_bytes(
        b"".join(orjson.dumps({"id": i, "prompt": f"question {i}"}) + b"\n" for i in range(count))
    )


def wait_for(condition: Any, timeout: float = 60.0) -> None:
    """Poll ``condition()`` until it is true (the other process is a real process: no fake clock)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_1_a_second_process_on_one_output_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While `run` / `complete` write an output, the same command (also with --batch) is refused at
    once naming the path and the holder's pid; after a kill -9 of the holder the next one resumes."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    run_dir, source, output = tmp_path / "run", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 400)
    with FakeOpenAIServer(FakeServerConfig(latency=0.05), FakeModel()).in_thread() as server:
        complete_args = ["complete", str(source), "-o", str(output), "--base-url", server.base_url]
        complete_args += ["--model", "m", "--concurrency", "1"]
        holders = [
            subprocess.Popen(COMMAND + run_args(run_dir, server, "--concurrency", "1"), env=environment()),
            subprocess.Popen(COMMAND + complete_args, env=environment()),
        ]
        try:
            wait_for(lambda: lines(run_dir / "journal.jsonl") >= 2 and lines(Path(f"{output}.journal")) >= 2)
            refused = [
                (run_args(run_dir, server, "--concurrency", "1"), run_dir, holders[0]),
                (run_args(run_dir, server, "--concurrency", "1", "--batch"), run_dir, holders[0]),
                (complete_args, output, holders[1]),
                (complete_args + ["--batch"], output, holders[1]),
            ]
            for argv, path, holder in refused:
                requests_before = server.counts["requests"]
                assert main(argv) == 2, argv
                err = capsys.readouterr().err
                assert f"{path} is in use by process {holder.pid}" in err, err
                assert holder.poll() is None  # refused while the holder still runs
            for holder in holders:
                holder.send_signal(signal.SIGKILL)
                holder.wait(timeout=30)
        finally:
            for holder in holders:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait()
        assert requests_before > 0
        # The lock died with its holder: the same commands now resume and finish.
        assert main(run_args(run_dir, server)) == 0
        assert main(complete_args[:-2]) == 0
    assert lines(output) == 400
    keys = [orjson.loads(line)["key"] for line in Path(f"{output}.journal").read_bytes().splitlines()]
    assert len(keys) == len(set(keys)) == 400


def test_7_run_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """SIGTERM stops `run` with exit 143 and a message saying how to resume; the re-run finishes."""
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(FakeServerConfig(latency=0.05), FakeModel()).in_thread() as server:
        argv = run_args(run_dir, server, "--concurrency", "1")
        process = subprocess.Popen(COMMAND + argv, env=environment(), stderr=subprocess.PIPE, text=True)
        wait_for(lambda: lines(run_dir / "journal.jsonl") >= 3)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 143, err
        assert "stopped by SIGTERM" in err
        assert "re-run the same command to resume" in err
        assert "Traceback" not in err
        again = subprocess.run(COMMAND + argv, env=environment(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert lines(run_dir / "instructions.jsonl") == 20


def test_10_changed_settings_are_refused_and_a_larger_n_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-running a finished run with settings that change its data is refused naming each one, and
    the files stay as they were; a larger --num-instructions resumes; --new-run starts over on purpose."""
    run_dir = tmp_path / "run"
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        assert main(run_args(run_dir, server)) == 0
        first = {name: (run_dir / name).read_bytes() for name in ("instructions.jsonl", "tasks.jsonl")}
        capsys.readouterr()
        for extra, said in [
            (["--seed", "1"], "--seed: 0 before, 1 now"),
            (["--chat"], "--chat: false before, true now"),
            (["--threshold", "0.5"], "--threshold: 0.7 before, 0.5 now"),
            (["--param", "temperature=0"], '--param: {} before, {"temperature":0} now'),
        ]:
            assert main(run_args(run_dir, server, *extra)) == 2
            assert said in capsys.readouterr().err
        argv = run_args(run_dir, server)
        argv[argv.index("--model") + 1] = "other"
        assert main(argv) == 2
        assert '--model: "m" before, "other" now' in capsys.readouterr().err
        assert main(run_args(run_dir, server, n=10)) == 2
        assert "--num-instructions: 20 before, 10 now" in capsys.readouterr().err
        assert {name: (run_dir / name).read_bytes() for name in first} == first

        assert main(run_args(run_dir, server, n=30)) == 0
        grown = (run_dir / "instructions.jsonl").read_bytes().splitlines()
        assert len(grown) == 30
        assert grown[:20] == first["instructions.jsonl"].splitlines()

        assert main(run_args(run_dir, server, "--seed", "1", "--new-run")) == 0
    record = orjson.loads((run_dir / "run.json").read_bytes())
    assert record["config"]["seed"] == 1
    assert record["engine"]["model"] == "m"


def test_10_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`selfinstruct --version` prints the package version."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"selfinstruct {__version__}"


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param(None, "in.jsonl: is a directory; give the JSONL file inside it", id="directory"),
        pytest.param(
            b'{"id": 1, "prompt": null}\n',
            "in.jsonl:1: each line needs one of 'prompt' or 'messages' ('prompt' is null)",
            id="null-prompt",
        ),
        pytest.param(
            b'{"id": null, "prompt": "x"}\n', "in.jsonl:1: each line needs an 'id' (it is null)", id="null-id"
        ),
        pytest.param(b'{"prompt": "x"}\n', "in.jsonl:1: each line needs an 'id' (it is missing)", id="no-id"),
        pytest.param(
            b'{"id": 1, "prompt": "x"}\n{"id": 2, "prompt": "\xff\xfe"}\n',
            "in.jsonl:2: not UTF-8 at byte 22 of the line (b'\\xff\\xfe\"}')",
            id="not-utf8",
        ),
        pytest.param(
            b'{"id": 1, "prompt": "x"}\n\n\n{"id" 2}\n',
            "in.jsonl:4: invalid JSON at column 7: unexpected character, expected ':' after key",
            id="bad-json",
        ),
    ],
)
def test_8_bad_inputs_say_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, said: str
) -> None:
    """A directory, a null field, bytes that are not UTF-8 and bad JSON are each named for what
    they are, at file:line, without orjson's own 'line 1 column' beside ours."""
    source = tmp_path / "in.jsonl"
    if content is None:
        source.mkdir()
    else:
        source.write_bytes(content)
    argv = ["complete", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", "http://127.0.0.1:9/v1"]
    assert main([*argv, "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert said in err, err
    assert "line 1 column" not in err
    assert "surrogates" not in err


def test_8_dev_null_and_a_seeds_directory_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/dev/null as input is 'not a regular file'; --seeds naming a directory says so; a seed
    whose instruction is null says 'is null' (all before any endpoint is asked)."""
    argv = ["complete", "/dev/null", "-o", str(tmp_path / "out.jsonl"), "--base-url", "http://127.0.0.1:9/v1"]
    assert main([*argv, "--model", "m"]) == 2
    assert "/dev/null: is not a regular file (a device, pipe or socket)" in capsys.readouterr().err

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        argv = run_args(tmp_path / "run", server)
    argv[argv.index("--base-url") + 1] = "http://127.0.0.1:9/v1"  # nothing listens: nothing is asked
    argv[argv.index("--seeds") + 1] = str(seeds)
    assert main(argv) == 2
    assert f"{seeds}: is a directory" in capsys.readouterr().err
    bad = tmp_path / "seeds.jsonl"
    bad.write_bytes(b'{"instruction": "Say hi.", "instances": []}\n{"instruction": null}\n')
    argv[argv.index("--seeds") + 1] = str(bad)
    assert main(argv) == 2
    assert f"{bad}:2: field 'instruction' is null" in capsys.readouterr().err


def test_8_a_byte_order_mark_is_read_as_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file saved "UTF-8 with BOM" (Windows editors) is read; its first line is not an error."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 3)
    source.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        assert (
            main(["complete", str(source), "-o", str(output), "--base-url", server.base_url, "--model", "m"])
            == 0
        )
    assert [orjson.loads(line)["id"] for line in output.read_bytes().splitlines()] == [0, 1, 2]


def test_8_a_killed_atomic_write_leaves_nothing_after_the_next_run(tmp_path: Path) -> None:
    """The hidden temporaries a kill during the final atomic write leaves (`.NAME.XXXX.tmp`) are
    removed by the next successful `run` and `complete`, and only those of their own outputs."""
    run_dir, source, output = tmp_path / "run", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    run_dir.mkdir()
    write_prompts(source, 5)
    stale = [
        run_dir / ".instructions.jsonl.k3j9x.tmp",
        run_dir / ".run.json.a8b2c.tmp",
        tmp_path / ".out.jsonl.q1w2e.tmp",
    ]
    other = tmp_path / ".notes.txt.z9z9z.tmp"  # not an output of ours: left alone
    for path in [*stale, other]:
        path.write_bytes(b'{"half": ')
    env = environment()
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        done = subprocess.run(
            COMMAND + run_args(run_dir, server), env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        complete = ["complete", str(source), "-o", str(output), "--base-url", server.base_url, "--model", "m"]
        done = subprocess.run(COMMAND + complete, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert [path for path in stale if path.exists()] == []
    assert other.exists()
    assert sorted(p.name for p in run_dir.glob(".*.tmp")) == []


def test_9_a_url_without_v1_gets_the_url_to_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A live server's URL without /v1 (its /models is 404, /v1/models answers) is refused at the
    probe with the URL to use; nothing is sent and no output is written."""
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 5)
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        root = server.base_url.removesuffix("/v1")
        assert main(["complete", str(source), "-o", str(output), "--base-url", root, "--model", "m"]) == 2
        err = capsys.readouterr().err
        assert f"did you mean --base-url {server.base_url} ?" in err, err
        assert server.counts["requests"] == 0
        argv = run_args(tmp_path / "run", server)
        argv[argv.index("--base-url") + 1] = root + "/"
        assert main(argv) == 2
        assert f"did you mean --base-url {server.base_url} ?" in capsys.readouterr().err
        assert server.counts["requests"] == 0
    assert not output.exists()


def test_9_export_and_stats_tell_a_missing_directory_from_an_unfinished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export` / `stats` on a missing directory, an empty one and a stopped run say three
    different true things; on the finished run they work."""
    run_dir = tmp_path / "run"
    cases = [
        (tmp_path / "nothing", "no such run directory"),
        (tmp_path, "not a run directory: no"),
        (run_dir, "the run has not finished yet"),
    ]
    with FakeOpenAIServer(FakeServerConfig(latency=0.05), FakeModel()).in_thread() as server:
        argv = run_args(run_dir, server, "--concurrency", "1")
        process = subprocess.Popen(COMMAND + argv, env=environment(), stderr=subprocess.DEVNULL)
        wait_for(lambda: lines(run_dir / "journal.jsonl") >= 3)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        for path, said in cases:
            for command in (["export", str(path), "-o", str(tmp_path / "x.jsonl")], ["stats", str(path)]):
                assert main(command) == 2, command
                err = capsys.readouterr().err
                assert f"{path}: {said}" in err, err
        assert main(argv) == 0
    assert main(["export", str(run_dir), "-o", str(tmp_path / "x.jsonl")]) == 0
    assert main(["stats", str(run_dir)]) == 0


def test_9_the_local_model_is_not_started_when_the_journal_answers_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`complete` with no endpoint replays a journal that answers every request without starting
    the local model (its model file here does not even exist); one new request and it is started."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 20)
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        # seed=0 is what the local model's requests carry: the journal is keyed on the params
        argv = [
            "complete",
            str(source),
            "-o",
            str(output),
            "--model",
            "tiny",
            "--param",
            "seed=0",
            "--no-progress",
        ]
        assert main([*argv, "--base-url", server.base_url]) == 0
    answered = output.read_bytes()
    output.unlink()
    capsys.readouterr()
    local = [*argv, "--model-path", str(tmp_path / "absent.gguf")]
    assert main(local) == 0
    assert "the local model is not started" in capsys.readouterr().err
    assert output.read_bytes() == answered

    source.write_bytes(source.read_bytes() + b'{"id": 20, "prompt": "one more"}\n')
    assert main(local) == 2
    err = capsys.readouterr().err
    assert "not started" not in err
    assert "absent.gguf" in err  # it tried to start the model for the new request
