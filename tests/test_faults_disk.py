"""Issue 11 item 3: a full disk while journaling or writing outputs is one clear line, exit 74,
and nothing lost (the same command resumes once there is space again).

The disk is filled by a seam, not for real: the journal's ``_write_all`` (every journal line goes
through it) and the ``os`` module ``selfinstruct.jsonl`` writes outputs with are replaced by ones
that raise ``OSError(ENOSPC)`` after a set number of writes, as a full disk does.
"""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

import selfinstruct.engine.journal as journal_module
import selfinstruct.jsonl as jsonl_module
from selfinstruct.cli import main
from selfinstruct.errors import WRITE_FAILED_EXIT
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeBatchConfig, FakeOpenAIServer, FakeServerConfig

DATA = Path(__file__).parent / "pipeline" / "data"
SEED_ARGS = [
    "--seeds",
    str(DATA / "seed_tasks.jsonl"),
    "--classification-examples",
    str(DATA / "classification_examples.jsonl"),
    "--instance-examples",
    str(DATA / "instance_examples.jsonl"),
]


def full_disk() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def journal_fills_after(monkeypatch: pytest.MonkeyPatch, lines: int) -> None:
    """Journal writes fail with ENOSPC once ``lines`` lines are written (half a line first)."""
    real = journal_module._write_all
    written = [0]

    def write_all(fd: int, data: bytes) -> None:
        if written[0] >= lines:
            os.write(fd, data[: len(data) // 2])  # a full disk may take part of the line
            raise full_disk()
        written[0] += 1
        real(fd, data)

    monkeypatch.setattr(journal_module, "_write_all", write_all)


class _FillingFile:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, handle: IO[Any], room: int) -> None:
        self._handle = handle
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise full_disk()
        self._room -= len(data)
        return self._handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()


class _OsWithFullDisk:
    """``os`` as ``selfinstruct.jsonl`` sees it, with ``fdopen`` handing out filling files."""

    def __init__(self, room: int) -> None:
        self._room = room

    def fdopen(self, fd: int, mode: str) -> _FillingFile:
        return _FillingFile(os.fdopen(fd, mode), self._room)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def outputs_fill_after(monkeypatch: pytest.MonkeyPatch, room: int) -> None:
    """Every atomic write of an output fails with ENOSPC after ``room`` bytes."""
    monkeypatch.setattr(jsonl_module, "os", _OsWithFullDisk(room))


def write_prompts(path: Path, count: int) -> None:
    path.write_bytes(
        b"".join(orjson.dumps({"id": i, "prompt": f"question {i}"}) + b"\n" for i in range(count))
    )


def complete_args(server: FakeOpenAIServer, source: Path, output: Path, *extra: str) -> list[str]:
    return ["complete", str(source), "-o", str(output), "--base-url", server.base_url, "--model", "m", *extra]


def run_args(run_dir: Path, server: FakeOpenAIServer, *extra: str) -> list[str]:
    return [
        "run",
        "-o",
        str(run_dir),
        "--num-instructions",
        "20",
        "--base-url",
        server.base_url,
        "--model",
        "m",
        "--no-progress",
        "--no-stats",
        *SEED_ARGS,
        *extra,
    ]


def one_clear_line(err: str, path: Path) -> str:
    """The command's stderr is a single error line naming ``path`` and how to resume."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert f"cannot write {path}: No space left on device" in lines[0], err
    assert "free space and re-run the same command to resume" in lines[0], err
    return lines[0]


def journal_keys(path: Path) -> list[str]:
    """The keys of a journal; every line whole (ends in a newline and parses)."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "a torn line was left in the journal"
    return [orjson.loads(line)["key"] for line in data.splitlines()]


@pytest.fixture
def server() -> Any:
    """A loopback fake server with the fake model (deterministic answers)."""
    with FakeOpenAIServer(
        FakeServerConfig(), FakeModel(), batch=FakeBatchConfig(time_scale=1e5)
    ).in_thread() as s:
        yield s


def test_3_complete_full_disk_while_journaling(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ENOSPC on the journal under 64 requests in flight: one line (file, answers saved, what to
    do), exit 74, no torn line; once there is space the same command finishes the same file."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 300)
    assert main(complete_args(server, source, tmp_path / "reference.jsonl")) == 0
    capsys.readouterr()

    with monkeypatch.context() as patch:
        journal_fills_after(patch, 40)
        assert main(complete_args(server, source, output)) == WRITE_FAILED_EXIT
    line = one_clear_line(capsys.readouterr().err, Path(f"{output}.journal"))
    assert "the journal holds the 40 answers before it" in line
    assert len(journal_keys(Path(f"{output}.journal"))) == 40
    assert not output.exists()

    assert main(complete_args(server, source, output)) == 0
    assert "40 from the journal" in capsys.readouterr().err
    assert output.read_bytes() == (tmp_path / "reference.jsonl").read_bytes()
    keys = journal_keys(Path(f"{output}.journal"))
    assert len(keys) == len(set(keys)) == 300


def test_3_complete_full_disk_while_writing_the_output(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """ENOSPC on the output: it is left as it was, no temporary file stays, the answers are in the
    journal, and the re-run writes the file without a single new request."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 200)
    with monkeypatch.context() as patch:
        outputs_fill_after(patch, 5000)
        assert main(complete_args(server, source, output)) == WRITE_FAILED_EXIT
    line = one_clear_line(capsys.readouterr().err, output)
    assert f"the 200 answers are saved in the journal {output}.journal" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.jsonl.lock", "in.jsonl", "out.jsonl.journal"]

    sent = server.counts["requests"]
    assert main(complete_args(server, source, output)) == 0
    assert server.counts["requests"] == sent
    assert len(output.read_bytes().splitlines()) == 200


def test_3_complete_batch_full_disk_while_journaling(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--batch: ENOSPC while journaling a batch's answers is the same one line and exit 74; the
    re-run collects the same batch (no batch created twice) and writes the online file."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 120)
    assert main(complete_args(server, source, tmp_path / "online.jsonl")) == 0
    capsys.readouterr()
    flags = ("--batch", "--poll-interval", "0.01", "--no-progress")
    with monkeypatch.context() as patch:
        journal_fills_after(patch, 30)
        assert main(complete_args(server, source, output, *flags)) == WRITE_FAILED_EXIT
    one_clear_line(capsys.readouterr().err, Path(f"{output}.journal"))
    created = server.counts["batch_created"]

    assert main(complete_args(server, source, output, *flags)) == 0
    assert server.counts["batch_created"] == created
    assert server.counts["batch_paid_twice"] == 0
    assert output.read_bytes() == (tmp_path / "online.jsonl").read_bytes()


@pytest.mark.parametrize(
    "where", [pytest.param("journal", id="journal"), pytest.param("outputs", id="outputs")]
)
def test_3_run_full_disk(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    """`run` on a full disk (journal, or the data files at the end): one line, exit 74; the re-run
    ends with the files an uninterrupted run writes."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    assert main(run_args(reference, server)) == 0
    capsys.readouterr()
    with monkeypatch.context() as patch:
        if where == "journal":
            journal_fills_after(patch, 25)
        else:
            outputs_fill_after(patch, 2000)
        assert main(run_args(run_dir, server)) == WRITE_FAILED_EXIT
    err = capsys.readouterr().err
    if where == "journal":
        one_clear_line(err, run_dir / "journal.jsonl")
    else:
        assert "answers are saved in the journal" in one_clear_line(err, run_dir / "instructions.jsonl")
    assert main(run_args(run_dir, server)) == 0
    for name in ("instructions.jsonl", "tasks.jsonl", "rejections.json"):
        assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name


def _filling_open(room: int) -> Callable[..., Any]:
    """``open`` whose files opened for writing fail with ENOSPC after ``room`` bytes."""

    def fake_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = open(path, mode, *args, **kwargs)  # noqa: SIM115 - the wrapper closes it
        return _FillingFile(handle, room) if "w" in mode else handle

    return fake_open


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("selfinstruct.batch.files", id="spooling-a-batch-file"),
        pytest.param("selfinstruct.batch.client", id="downloading-results"),
    ],
)
def test_3_complete_batch_full_disk_in_batch_files(
    tmp_path: Path,
    server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
) -> None:
    """--batch: a full disk while writing a batch input file or downloading a batch's results is
    one line and exit 74 (not a 'connection failed' retried), and the re-run finishes the file."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_prompts(source, 60)
    assert main(complete_args(server, source, tmp_path / "online.jsonl")) == 0
    capsys.readouterr()
    flags = ("--batch", "--poll-interval", "0.01", "--no-progress")
    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module(module), "open", _filling_open(1000), raising=False)
        assert main(complete_args(server, source, output, *flags)) == WRITE_FAILED_EXIT
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "No space left on device" in lines[0]
    assert "free space and re-run the same command to resume" in lines[0]
    assert "connection failed" not in err
    assert main(complete_args(server, source, output, *flags)) == 0
    assert server.counts["batch_paid_twice"] == 0
    assert output.read_bytes() == (tmp_path / "online.jsonl").read_bytes()


def test_3_an_output_path_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o under a regular file (complete, run) or naming a directory (dedup) is one line naming the
    path and the OS's reason, exit 74, not a FileNotFoundError / IsADirectoryError traceback."""
    source, blocker = tmp_path / "in.jsonl", tmp_path / "file.txt"
    write_prompts(source, 3)
    blocker.write_text("a file, not a directory\n")
    (tmp_path / "d").mkdir()
    nowhere = "http://127.0.0.1:9/v1"
    cases = [
        (
            [
                "complete",
                str(source),
                "-o",
                str(blocker / "out.jsonl"),
                "--base-url",
                nowhere,
                "--model",
                "m",
            ],
            blocker,
        ),
        (
            [
                "run",
                "-o",
                str(blocker / "run"),
                "--num-instructions",
                "3",
                "--base-url",
                nowhere,
                "--model",
                "m",
            ],
            blocker,
        ),
        (["dedup", str(source), "-o", str(tmp_path / "d"), "--field", "prompt"], tmp_path / "d"),
    ]
    for argv, named in cases:
        assert main(argv) == WRITE_FAILED_EXIT, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert f"cannot write {named}" in err, err
        assert "fix that (or give another path) and re-run" in err
