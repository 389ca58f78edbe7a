"""JSONL helpers: located errors, lenient reads, atomic writes with ordinary permissions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfinstruct.errors import InputError
from selfinstruct.jsonl import ReadStats, atomic_write, iter_jsonl, write_jsonl


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    """A malformed line raises InputError carrying the path and its 1-based line number."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n')
    with pytest.raises(InputError) as caught:
        list(iter_jsonl(path))
    assert caught.value.line == 3
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "payload",
    [pytest.param(b"[1, 2]\n", id="array"), pytest.param(b'"text"\n', id="string")],
)
def test_non_object_line_is_an_error(tmp_path: Path, payload: bytes) -> None:
    """A valid JSON value that is not an object is rejected with its location."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=":1: expected a JSON object"):
        list(iter_jsonl(path))


def test_skip_invalid_counts_and_keeps_good_lines(tmp_path: Path) -> None:
    """With skip_invalid, bad lines are counted and every good line is still read."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n[3]\n{"a": 2}\n')
    stats = ReadStats()
    records = [record for _, record in iter_jsonl(path, skip_invalid=True, stats=stats)]
    assert records == [{"a": 1}, {"a": 2}]
    assert (stats.read, stats.invalid) == (2, 2)
    assert "in.jsonl:2" in stats.examples[0]


def test_atomic_write_leaves_old_file_on_error(tmp_path: Path) -> None:
    """An exception inside atomic_write keeps the previous file and leaves no temporary behind."""
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"v": 1}])

    def write_then_fail() -> None:
        with atomic_write(path) as handle:
            handle.write(b'{"v": 2}\n')
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert path.read_bytes() == b'{"v":1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_atomic_write_uses_umask_permissions(tmp_path: Path) -> None:
    """The written file gets the permissions an ordinary open() would give, not mkstemp's 0600."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "out.jsonl"
        write_jsonl(path, [{"v": 1}])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
