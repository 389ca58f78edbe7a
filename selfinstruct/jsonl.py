"""JSON Lines I/O with orjson: located errors on bad lines, and atomic whole-file writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import InputError, OutputWriteError, is_full_disk

__all__ = ["ReadStats", "atomic_write", "dumps_line", "iter_jsonl", "write_jsonl"]

_DUMP_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps_line(obj: Any) -> bytes:
    """Serialize one record as a JSON line (bytes ending in a newline)."""
    return orjson.dumps(obj, option=_DUMP_OPTIONS)


@dataclass
class ReadStats:
    """What a lenient read passed over: counts and the first few locations."""

    read: int = 0
    invalid: int = 0
    examples: list[str] = field(default_factory=list)

    def note_invalid(self, error: InputError) -> None:
        self.invalid += 1
        if len(self.examples) < 5:
            self.examples.append(str(error))


def iter_jsonl(
    path: str | Path,
    *,
    skip_invalid: bool = False,
    stats: ReadStats | None = None,
    require_object: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSONL file.

    Raises:
        InputError: on a line that is not valid JSON (or not an object when ``require_object``),
            naming the file and 1-based line, unless ``skip_invalid`` is set; then the line is
            counted in ``stats`` and passed over.
    """
    stats = stats if stats is not None else ReadStats()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
                if require_object and not isinstance(record, dict):
                    raise InputError(
                        f"expected a JSON object, got {type(record).__name__}", path=path, line=number
                    )
            except orjson.JSONDecodeError as exc:
                error = InputError(f"invalid JSON ({exc})", path=path, line=number)
                if not skip_invalid:
                    raise error from None
                stats.note_invalid(error)
                continue
            except InputError as error:
                if not skip_invalid:
                    raise
                stats.note_invalid(error)
                continue
            stats.read += 1
            yield number, record


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was, so a reader
    never sees half a file.

    Raises:
        OutputWriteError: the disk, quota or file-size limit is full (names ``path``; the caller
            may say more about what is saved with :meth:`OutputWriteError.saving`).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the result the permissions an ordinary open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as error:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError) and is_full_disk(error):
            raise OutputWriteError(target, error, saved="it is left as it was") from None
        raise


def _current_umask() -> int:
    """The process umask, read without changing it where the OS allows (setting it is not thread-safe)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)  # no /proc: the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Write records atomically as JSONL; return how many were written."""
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(dumps_line(record))
            count += 1
    return count
