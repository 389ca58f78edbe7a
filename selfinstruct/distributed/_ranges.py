"""Line-aligned byte ranges of a JSONL file, and reading one range exactly as ``iter_jsonl`` would.

A range is cut at ``k * size / n`` and moved forward to just after the next newline, so every line
belongs to exactly one range whatever ``n`` is; each range knows the 1-based number of its first
line, so records, errors and rejects carry the same line numbers as a whole-file read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..errors import InputError
from ..jsonl import UTF8_BOM, describe_bad_line, missing_or_null

__all__ = [
    "Block",
    "BlockMeta",
    "Range",
    "align",
    "count_newlines",
    "file_size",
    "iter_range",
    "read_block",
    "text_of",
]

_CHUNK = 1 << 20
_EXAMPLES = 5


@dataclass(frozen=True)
class Range:
    """Bytes ``[start, end)`` of ``path``, whose first line is line ``first_line`` (1-based).

    For a Parquet file (``parquet``), rows ``[start, end)`` instead, row ``k`` being line ``k + 1``.
    """

    path: str
    start: int
    end: int
    first_line: int
    parquet: bool = False


@dataclass
class Block:
    """The texts of one range (records with a valid text field), with their line numbers."""

    texts: list[str]
    lines: np.ndarray  # int64, one per text


@dataclass
class BlockMeta:
    """What the driver learns about a range after reading it (small: never the texts).

    ``error`` is the first bad line as (message, line) when invalid lines are not skipped;
    ``examples`` the first few skipped ones, formatted as ``InputError`` formats them.
    """

    rows: int
    block_bytes: int = 0  # the tokenized block's size (what each join task reads)
    invalid: int = 0
    examples: list[str] = field(default_factory=list)
    error: tuple[str, int] | None = None


def align(path: str | Path, offset: int, size: int) -> int:
    """The start of the first line that begins at or after ``offset`` (``size`` past the last one)."""
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    with open(path, "rb") as handle:
        handle.seek(offset - 1)
        position = offset - 1
        while chunk := handle.read(_CHUNK):
            found = chunk.find(b"\n")
            if found >= 0:
                return position + found + 1
            position += len(chunk)
    return size


def count_newlines(path: str | Path, start: int, end: int) -> int:
    """Newline bytes in ``[start, end)``."""
    count = 0
    with open(path, "rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


def iter_range(span: Range) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line, record, problem)`` for each non-blank line of the range.

    ``problem`` is None for a JSON object, else the message ``iter_jsonl`` would raise for the line
    (``record`` is then None). Lines split on ``\\n`` only, as iterating a binary file does.
    A Parquet range yields its rows, numbered from 1 (every row is an object).
    """
    if span.parquet:
        from ..parquet_input import iter_parquet

        for number, record in iter_parquet(span.path, span.start, span.end):
            yield number, record, None
        return
    with open(span.path, "rb") as handle:
        handle.seek(span.start)
        data = handle.read(span.end - span.start)
    number = span.first_line - 1
    position = 0
    length = len(data)
    while position < length:
        newline = data.find(b"\n", position)
        stop = length if newline < 0 else newline + 1
        raw = data[position:stop]
        position = stop
        number += 1
        if number == 1 and span.start == 0 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]  # skipped as the local reader skips it
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield number, None, describe_bad_line(raw, exc)
            continue
        if not isinstance(record, dict):
            yield number, None, f"expected a JSON object, got {type(record).__name__}"
            continue
        yield number, record, None


def text_of(record: dict[str, Any], field_name: str) -> tuple[str | None, str | None]:
    """The record's text field, or (None, the message the local command gives for a bad one)."""
    value = record.get(field_name)
    if isinstance(value, str):
        return value, None
    problem = (
        missing_or_null(record, field_name) if value is None else f"not a string ({type(value).__name__})"
    )
    return None, f"field {field_name!r} is {problem}"


def read_block(span: Range, field_name: str, skip_invalid: bool) -> tuple[Block, BlockMeta]:
    """Read a range's texts; stop at the first bad line unless ``skip_invalid``."""
    texts: list[str] = []
    lines: list[int] = []
    meta = BlockMeta(rows=0)
    for number, record, problem in iter_range(span):
        text = None
        if problem is None:
            text, problem = text_of(record, field_name)
        if problem is not None:
            if not skip_invalid:
                meta.error = (problem, number)
                break
            meta.invalid += 1
            if len(meta.examples) < _EXAMPLES:
                meta.examples.append(str(InputError(problem, path=span.path, line=number)))
            continue
        assert text is not None
        texts.append(text)
        lines.append(number)
    meta.rows = len(texts)
    return Block(texts, np.asarray(lines, dtype=np.int64)), meta


def file_size(path: str | Path) -> int:
    """Size of a file in bytes."""
    return os.stat(path).st_size
