"""JSON Lines I/O with orjson: located errors on bad lines, and atomic whole-file writes."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import InputError, OutputWriteError, is_full_disk

__all__ = [
    "UTF8_BOM",
    "ReadStats",
    "atomic_write",
    "check_input_file",
    "describe_bad_line",
    "dumps_line",
    "ensure_directory",
    "iter_jsonl",
    "missing_or_null",
    "write_jsonl",
]

UTF8_BOM = b"\xef\xbb\xbf"  # what Windows editors put first in a "UTF-8" file
_DUMP_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps_line(obj: Any) -> bytes:
    """Serialize one record as a JSON line (bytes ending in a newline)."""
    return orjson.dumps(obj, option=_DUMP_OPTIONS)


def check_input_file(path: str | Path, *, empty_ok: bool = False) -> Path:
    """``path`` as a Path if it is a regular file we can read again; else say what it is instead.

    Raises:
        InputError: no such file; a directory; not a regular file (a device such as /dev/null, a
            pipe or a socket: our inputs are read more than once); empty (unless ``empty_ok``).
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as error:
        raise InputError(f"cannot read it ({error.strerror or error})", path=path) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory; give the JSONL file inside it", path=path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            "is not a regular file (a device, pipe or socket); inputs are read more than once, "
            "so save it to a file first",
            path=path,
        )
    if info.st_size == 0 and not empty_ok:
        raise InputError("is empty", path=path)
    return path


def describe_bad_line(raw: bytes, error: orjson.JSONDecodeError) -> str:
    """What is wrong with a line orjson refused, located within the line (not orjson's 'line 1').

    Bytes that are not UTF-8 are named with their position, as orjson's own message for them
    ("surrogates not allowed") does not say what to fix.
    """
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        sample = raw[bad.start : bad.start + 4]
        return f"not UTF-8 at byte {bad.start + 1} of the line ({sample!r}); save the file as UTF-8"
    return f"invalid JSON at column {error.colno}: {error.msg}"


def missing_or_null(record: Mapping[str, Any], key: str) -> str:
    """``"null"`` when the record has ``key`` set to JSON null, else ``"missing"`` (for messages)."""
    return "null" if key in record and record[key] is None else "missing"


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
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("is a directory; give the JSONL file inside it", path=path) from None
    except PermissionError as denied:
        raise InputError(f"cannot read it ({denied.strerror})", path=path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
                if require_object and not isinstance(record, dict):
                    raise InputError(
                        f"expected a JSON object, got {type(record).__name__}", path=path, line=number
                    )
            except orjson.JSONDecodeError as exc:
                error = InputError(describe_bad_line(raw, exc), path=path, line=number)
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


def ensure_directory(directory: str | Path) -> Path:
    """Create ``directory`` (and its parents) unless it exists.

    Raises:
        OutputWriteError: it cannot be created; a regular file in the way is named as such
            ("Not a directory"), not as mkdir's "File exists".
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        in_the_way = OSError(errno.ENOTDIR, "Not a directory (a file has that name)")
        raise OutputWriteError(directory, in_the_way, saved="nothing was written") from None
    except OSError as error:
        raise OutputWriteError(directory, error, saved="nothing was written") from None
    return directory


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was, so a reader
    never sees half a file.

    Raises:
        OutputWriteError: ``path`` cannot be written: the disk, quota or file-size limit is full,
            or the OS refuses (no permission, ``path`` is a directory...). It names ``path``; the
            caller may say more about what is saved with :meth:`OutputWriteError.saving`.
            An ``OSError`` of the caller's own block (reading its input) passes through as it is,
            unless it is a full disk (a write to ``handle``).
    """
    target = Path(path)
    ensure_directory(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise OutputWriteError(target, error, saved="nothing was written") from None
    from_block = False
    try:
        # mkstemp creates 0600; give the result the permissions an ordinary open() would.
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, mode) as handle:
            try:
                yield handle
            except OSError as error:
                from_block = not is_full_disk(error)
                raise
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as error:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError) and not from_block:
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
