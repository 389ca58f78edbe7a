"""The batch ledger: which batches this job submitted, written down before anything else happens.

One JSON line per event, each fsynced before the next step:

* ``uploaded``: a part's input file is on the server (file id, endpoint, the request keys in it);
* ``created``: the batch over that file exists (batch id) - the first thing done once it does;
* ``cancel``: this job asked the server to cancel it;
* ``collected``: its results are in the journal (or recorded as failed); it needs nothing more.

A process killed at any point resumes from the ledger: a created batch is polled again, never
submitted again; a part uploaded but not known to have become a batch is looked up on the server
by its file id before a batch is created for it. A torn last line (a kill mid-write) is cut off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import JournalError, OutputWriteError

__all__ = ["Ledger", "Part"]


@dataclass(eq=False)
class Part:
    """One batch input file of this job and what became of it."""

    name: str
    endpoint: str
    keys: list[str]
    round: int
    file_id: str
    uploaded_at: float
    batch_id: str | None = None
    cancel_requested: bool = False
    collected: bool = False
    outcome: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """True while its results are still to be collected."""
        return not self.collected


class Ledger:
    """An append-only, fsynced event log of this job's batches."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.parts: dict[str, Part] = {}
        self._fd: int | None = None
        self.repaired_bytes = 0

    # -- life cycle -----------------------------------------------------------------------------

    def open(self) -> Ledger:
        """Read what earlier runs recorded and open for appending."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._replay()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Ledger:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _replay(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        good = 0
        for number, line in enumerate(lines, start=1):
            last = number == len(lines)
            if last and not line:
                break
            try:
                if last:  # no newline after it: torn by a kill
                    raise ValueError("torn line")
                self._apply(orjson.loads(line))
            except (ValueError, KeyError, TypeError) as error:
                if last or number == len(lines) - 1 and not lines[-1]:
                    self.repaired_bytes = len(data) - good
                    os.truncate(self.path, good)
                    return
                raise JournalError(
                    f"{self.path}:{number}: not a batch ledger line ({error}); "
                    "move the file away to start the batches over (already submitted batches are then "
                    "not polled, and their results not collected)"
                ) from None
            good += len(line) + 1

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        name = str(event["part"])
        if kind == "uploaded":
            keys = event["keys"]
            if not isinstance(keys, list):
                raise TypeError("keys is not a list")
            self.parts[name] = Part(
                name=name,
                endpoint=str(event["endpoint"]),
                keys=[str(k) for k in keys],
                round=int(event.get("round") or 0),
                file_id=str(event["file_id"]),
                uploaded_at=float(event.get("time") or 0.0),
            )
            return
        part = self.parts[name]
        if kind == "created":
            part.batch_id = str(event["batch_id"])
        elif kind == "cancel":
            part.cancel_requested = True
        elif kind == "collected":
            part.collected = True
            outcome = event.get("outcome")
            part.outcome = outcome if isinstance(outcome, dict) else {}
        else:
            raise ValueError(f"unknown event {kind!r}")

    def _write(self, event: dict[str, Any]) -> None:
        if self._fd is None:
            raise JournalError(f"batch ledger {self.path} is not open")
        event["time"] = round(time.time(), 3)
        line = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)  # a few lines per batch: always durable before the next step
        except OSError as error:
            try:
                os.ftruncate(self._fd, end)  # no torn line for a later event to follow
            except OSError:
                pass
            raise OutputWriteError(
                self.path, error, saved=f"the ledger holds the {len(self.parts):,} batches recorded before it"
            ) from None
        self._apply(event)

    # -- events ---------------------------------------------------------------------------------

    def next_name(self) -> str:
        """A fresh part name."""
        return f"part-{len(self.parts) + 1:05d}"

    def uploaded(self, name: str, *, endpoint: str, keys: Sequence[str], round: int, file_id: str) -> Part:
        """Record an uploaded input file; returns its part."""
        self._write(
            {
                "event": "uploaded",
                "part": name,
                "file_id": file_id,
                "endpoint": endpoint,
                "round": round,
                "keys": list(keys),
            }
        )
        return self.parts[name]

    def created(self, part: Part, batch_id: str) -> None:
        """Record the batch id of a part (call this before anything else once the batch exists)."""
        self._write({"event": "created", "part": part.name, "batch_id": batch_id})

    def cancel_requested(self, part: Part) -> None:
        """Record that this job asked for the part's batch to be cancelled."""
        self._write({"event": "cancel", "part": part.name})

    def collected(self, part: Part, outcome: dict[str, Any]) -> None:
        """Record that a part's results are in the journal (``outcome``: counts by result)."""
        self._write({"event": "collected", "part": part.name, "outcome": outcome})

    # -- queries --------------------------------------------------------------------------------

    def open_parts(self) -> Iterator[Part]:
        """Parts whose results are still to be collected, in submission order."""
        return (p for p in self.parts.values() if p.open)

    def open_keys(self) -> set[str]:
        """Request keys inside parts still to be collected (never to be submitted again)."""
        return {key for part in self.open_parts() for key in part.keys}
