"""Exported records as Parquet, with a fixed Arrow schema per format (extra: ``selfinstruct[parquet]``).

The schema is explicit, so an export with no records still has its columns, and nested formats
keep their shape: ``openai-chat`` is ``messages: list<struct<role, content>>``, ``sharegpt`` is
``conversations: list<struct<from, value>>``. Hugging Face ``datasets`` and pandas read the file
back as the same records the JSONL export holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..jsonl import atomic_write

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FIELDS", "arrow_schema", "write_parquet"]

#: The columns of each export format: (name, type), type ``"string"`` or a list of struct fields.
FIELDS: dict[str, tuple[tuple[str, str | tuple[str, ...]], ...]] = {
    "alpaca": (("instruction", "string"), ("input", "string"), ("output", "string")),
    "prompt-completion": (("prompt", "string"), ("completion", "string")),
    "openai-chat": (("messages", ("role", "content")),),
    "sharegpt": (("conversations", ("from", "value")),),
}


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401 - loads the submodule onto the package
    except ImportError:
        raise ConfigError(
            "Parquet export needs pyarrow: pip install 'selfinstruct[parquet]' (or pip install pyarrow)"
        ) from None
    return pyarrow


def arrow_schema(fmt: str) -> pa.Schema:
    """The Arrow schema of export format ``fmt``.

    Raises:
        ConfigError: unknown format, or pyarrow is not installed.
    """
    if fmt not in FIELDS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FIELDS)}")
    pa = _pyarrow()
    columns = []
    for name, kind in FIELDS[fmt]:
        if kind == "string":
            columns.append(pa.field(name, pa.string()))
        else:
            item = pa.struct([pa.field(sub, pa.string()) for sub in kind])
            columns.append(pa.field(name, pa.list_(item)))
    return pa.schema(columns)


def write_parquet(records: Sequence[dict[str, Any]], fmt: str, path: str | Path) -> int:
    """Write ``records`` of format ``fmt`` to ``path`` atomically (zstd); return the file size in bytes.

    Raises:
        ConfigError: unknown format, a record that does not fit it, or pyarrow is not installed.
    """
    schema = arrow_schema(fmt)
    pa = _pyarrow()
    try:
        table = pa.Table.from_pylist(list(records), schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, TypeError) as error:
        raise ConfigError(f"records do not fit the {fmt} schema: {error}") from None
    with atomic_write(path) as handle:
        pa.parquet.write_table(table, handle, compression="zstd")
    return Path(path).stat().st_size
