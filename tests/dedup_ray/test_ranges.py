"""Reading a JSONL file in line-aligned byte ranges gives the whole-file read, cut anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfinstruct.distributed._dedup import _cut
from selfinstruct.distributed._ranges import Range, count_newlines, read_block, text_of
from selfinstruct.errors import InputError
from selfinstruct.jsonl import ReadStats, iter_jsonl

LINES = [
    b'{"instruction": "write a poem"}',
    b'{"instruction": "caf\xc3\xa9 \xe6\x9d\xb1"}',
    b'  {"instruction": "padded", "k": [1, 2]}  ',
    b"",
    b"   ",
    b"\r",
    b'{"instruction": 3}',
    b'{"other": "x"}',
    b"[1, 2]",
    b"{broken",
    b'{"instruction": "crlf"}\r',
]
files = st.tuples(st.lists(st.sampled_from(LINES), max_size=25), st.booleans())


def whole_file(path: Path, skip_invalid: bool) -> tuple[list[str], list[int], ReadStats]:
    """Texts and line numbers as the local command reads them (the reference)."""
    stats = ReadStats()
    texts, lines = [], []
    for number, record in iter_jsonl(path, skip_invalid=skip_invalid, stats=stats):
        text, problem = text_of(record, "instruction")
        if problem is not None:
            error = InputError(problem, path=path, line=number)
            if not skip_invalid:
                raise error
            stats.note_invalid(error)
            continue
        texts.append(text)
        lines.append(number)
    return texts, lines, stats


def ranged(path: Path, pieces: int, skip_invalid: bool) -> tuple[list[str], list[int], int, list[str]]:
    """Texts, line numbers, invalid count and examples read range by range."""
    texts: list[str] = []
    lines: list[int] = []
    invalid = 0
    examples: list[str] = []
    first_line = 1
    for start, end in _cut(path, pieces):
        block, meta = read_block(Range(str(path), start, end, first_line), "instruction", skip_invalid)
        first_line += count_newlines(path, start, end)
        if meta.error is not None:
            raise InputError(meta.error[0], path=path, line=meta.error[1])
        texts += block.texts
        lines += block.lines.tolist()
        invalid += meta.invalid
        examples += meta.examples
    return texts, lines, invalid, examples[:5]


@given(content=files, pieces=st.integers(1, 7))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ranges_read_like_the_whole_file(
    tmp_path: Path, content: tuple[list[bytes], bool], pieces: int
) -> None:
    """Same texts, line numbers, skipped count and examples; the same first error when not skipping."""
    lines, trailing_newline = content
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if trailing_newline and lines else b""))
    texts, numbers, stats = whole_file(path, skip_invalid=True)
    assert ranged(path, pieces, skip_invalid=True) == (texts, numbers, stats.invalid, stats.examples)
    expected: str | None = None
    try:
        whole_file(path, skip_invalid=False)
    except InputError as error:
        expected = str(error)
    if expected is not None:
        with pytest.raises(InputError) as caught:
            ranged(path, pieces, skip_invalid=False)
        assert str(caught.value) == expected


@pytest.mark.parametrize("pieces", [1, 2, 3, 100])
def test_cuts_cover_the_file_once(tmp_path: Path, pieces: int) -> None:
    """Ranges are contiguous, non-empty, start at line starts and end at the file's end."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"a\nbb\n\nccc\nd")
    cuts = _cut(path, pieces)
    assert cuts[0][0] == 0
    assert cuts[-1][1] == path.stat().st_size
    data = path.read_bytes()
    for (_, end), (start, _) in zip(cuts, cuts[1:], strict=False):
        assert end == start
        assert data[start - 1 : start] == b"\n"
    assert all(end > start for start, end in cuts)


def test_empty_file_has_no_ranges(tmp_path: Path) -> None:
    """An empty file is cut into nothing."""
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert _cut(path, 3) == []
