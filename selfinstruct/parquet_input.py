"""Parquet files as dedup input: their rows as records, numbered like JSONL lines.

``selfinstruct dedup IN.parquet`` (and ``--against POOL.parquet``, and ``--ray``) reads records from
Parquet as from JSONL: row ``k`` (1-based) is "line" ``k`` in errors and rejects, and the kept rows
are written as JSON lines. pyarrow (``pip install 'selfinstruct[parquet]'``) is imported only
when a Parquet file is read. A file is Parquet when it starts with the magic bytes ``PAR1``,
whatever its name.

Values JSON cannot hold are written as text: decimals as their digits, durations as seconds,
binary as base64. Dates and timestamps become RFC 3339 strings (orjson's rendering).

    >>> from selfinstruct.parquet_input import dedup_file_any
    >>> dedup_file_any("in.parquet", "out.jsonl", rejects="rejects.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .errors import ConfigError, InputError
from .jsonl import atomic_write, dumps_line

if TYPE_CHECKING:
    from .dedup import DedupSummary

__all__ = ["dedup_file_any", "is_parquet", "iter_parquet", "parquet_row_groups", "parquet_rows"]

_MAGIC = b"PAR1"


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` is a Parquet file (by its first bytes; False for a missing file)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _MAGIC
    except OSError:
        return False


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "reading Parquet needs pyarrow: pip install 'selfinstruct[parquet]' (on every node with --ray)"
        ) from None
    return pq


def _open(path: str | Path) -> Any:
    pq = _parquet()
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"not a readable Parquet file ({error})", path=path) from None


def parquet_rows(path: str | Path) -> int:
    """Rows in a Parquet file (from its footer)."""
    return int(_open(path).metadata.num_rows)


def parquet_row_groups(path: str | Path) -> list[int]:
    """The first row of each row group (reading a range starting at one reads no other group)."""
    meta = _open(path).metadata
    starts, row = [], 0
    for k in range(meta.num_row_groups):
        starts.append(row)
        row += meta.row_group(k).num_rows
    return starts


def _plain(value: Any) -> Any:
    """``value`` with what orjson cannot write turned into text (decimals, durations, bytes)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _json_native(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    if pt.is_struct(arrow_type):
        return all(_json_native(arrow_type.field(k).type) for k in range(arrow_type.num_fields))
    if pt.is_list(arrow_type) or pt.is_large_list(arrow_type) or pt.is_fixed_size_list(arrow_type):
        return _json_native(arrow_type.value_type)
    if pt.is_map(arrow_type):
        return False  # a list of (key, value) tuples in Python
    return not (
        pt.is_decimal(arrow_type)
        or pt.is_duration(arrow_type)
        or pt.is_binary(arrow_type)
        or pt.is_large_binary(arrow_type)
        or pt.is_fixed_size_binary(arrow_type)
    )


def iter_parquet(
    path: str | Path, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row number, record)`` for rows ``[start, end)`` (0-based bounds, 1-based numbers).

    Only the row groups overlapping the range are read, one at a time.

    Raises:
        InputError: the file cannot be read as Parquet.
        ConfigError: pyarrow is not installed.
    """
    handle = _open(path)
    meta = handle.metadata
    end = meta.num_rows if end is None else min(end, meta.num_rows)
    schema = handle.schema_arrow
    fix = [name for name, kind in zip(schema.names, schema.types, strict=True) if not _json_native(kind)]
    first = 0
    for group in range(meta.num_row_groups):
        count = meta.row_group(group).num_rows
        lo, hi = max(start, first), min(end, first + count)
        if lo < hi:
            try:
                table = handle.read_row_group(group).slice(lo - first, hi - lo)
            except (OSError, ValueError) as error:
                raise InputError(f"row group {group} cannot be read ({error})", path=path) from None
            for offset, record in enumerate(table.to_pylist()):
                for name in fix:
                    record[name] = _plain(record[name])
                yield lo + offset + 1, record
        first += count
        if first >= end:
            break


def _to_jsonl(source: Path, target: Path) -> None:
    with open(target, "wb") as out:
        for _, record in iter_parquet(source):
            out.write(dumps_line(record))


def _rename_nearest(rejects: Path, names: dict[str, str]) -> None:
    with open(rejects, "rb") as handle, atomic_write(rejects) as out:
        for line in handle:
            record = orjson.loads(line)
            record["nearest_file"] = names.get(record["nearest_file"], record["nearest_file"])
            out.write(dumps_line(record))


def dedup_file_any(
    input: str | Path,
    output: str | Path,
    *,
    against: Sequence[str | Path] = (),
    rejects: str | Path | None = None,
    **options: Any,
) -> DedupSummary:
    """``selfinstruct.dedup_file`` accepting Parquet files as the input and the pools.

    Each Parquet file is copied to a temporary JSONL file (next to ``output``, deleted after), so
    its rows are read exactly as JSONL records; errors, skipped examples and the rejects'
    ``nearest_file`` name the Parquet file, and its 1-based row numbers stand for line numbers.
    Other arguments and the result are ``dedup_file``'s.

    Raises:
        InputError, ConfigError: as ``dedup_file``; also an unreadable Parquet file, or pyarrow missing.
    """
    from dataclasses import replace

    from .dedup import dedup_file

    names: dict[str, str] = {}  # temporary JSONL path -> the Parquet path as the user named it
    with ExitStack() as stack:

        def plain(path: str | Path) -> str | Path:
            if not is_parquet(path):
                return path
            if not names:
                parent = Path(output).resolve().parent
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix=".parquet-", dir=parent))
            else:
                folder = os.path.dirname(next(iter(names)))
            copy = Path(folder) / f"{len(names)}.jsonl"
            _to_jsonl(Path(path), copy)
            names[str(copy)] = str(path)
            return copy

        pools = [plain(path) for path in against]
        source = plain(input)
        try:
            summary = dedup_file(source, output, against=pools, rejects=rejects, **options)
        except InputError as error:
            if error.path in names:
                raise InputError(error.reason, path=names[error.path], line=error.line) from None
            raise
        if not names:
            return summary
        if rejects is not None:
            _rename_nearest(Path(rejects), names)
        examples = list(summary.examples)
        for copy, original in names.items():
            examples = [e.replace(copy + ":", original + ":", 1) for e in examples]
        return replace(summary, examples=tuple(examples))
