"""The files of a run directory: what each holds and how it is written (atomically, as JSON).

``run.json`` is written twice: when the run starts (its settings and bootstrap window, so a
resumed run builds the same prompts) and at the end (with the summary). The data files
(``instructions.jsonl``, ``tasks.jsonl``, ``rejections.json``) are written once, at the end, from
the accepted instructions; the answers they come from are in the engine's ``journal.jsonl``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..engine import EngineConfig
from ..jsonl import atomic_write, dumps_line
from .seeds import Instance

__all__ = [
    "DATA_FILES",
    "INSTRUCTIONS_FILE",
    "JOURNAL_FILE",
    "REJECTIONS_FILE",
    "RUN_FILE",
    "TASKS_FILE",
    "AcceptedItem",
    "engine_settings",
    "recorded_window",
    "write_data_files",
    "write_run_record",
]

JOURNAL_FILE = "journal.jsonl"
INSTRUCTIONS_FILE = "instructions.jsonl"
TASKS_FILE = "tasks.jsonl"
REJECTIONS_FILE = "rejections.json"
RUN_FILE = "run.json"
DATA_FILES = (INSTRUCTIONS_FILE, TASKS_FILE, REJECTIONS_FILE)


@dataclass
class AcceptedItem:
    """One accepted machine instruction and what its follow-ups found."""

    number: int
    instruction: str
    seq: int  # the bootstrap request it came from
    nearest: str | None
    score: float | None
    seed_nearest: str | None
    seed_score: float
    is_classification: bool | None = None
    instances: tuple[Instance, ...] = ()
    failed: str | None = None  # why it has no task (a rejection kind), if so


def engine_settings(engine: EngineConfig | None) -> dict[str, Any]:
    """The engine settings that change answers, as recorded in run.json (a re-run compares them).

    ``None`` (a run driven by another completer) records no model.
    """
    if engine is None:
        return {"model": None, "params": {}}
    return {"model": engine.model, "params": dict(engine.default_params)}


def recorded_window(out_dir: Path) -> int | None:
    """The bootstrap window ``run.json`` recorded, if it holds a valid one."""
    path = out_dir / RUN_FILE
    if not path.exists():
        return None
    try:
        window = orjson.loads(path.read_bytes()).get("window")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return window if isinstance(window, int) and window > 0 else None


def write_run_record(
    out_dir: Path, config: dict[str, Any], window: int, engine: dict[str, Any], summary: dict[str, Any] | None
) -> None:
    """Write ``run.json``: the settings, window and engine settings, and the summary (None at the start)."""
    record = {"config": config, "window": window, "engine": engine, "summary": summary}
    with atomic_write(out_dir / RUN_FILE) as handle:
        handle.write(orjson.dumps(record, option=orjson.OPT_INDENT_2))


def write_data_files(
    out_dir: Path, accepted: Sequence[AcceptedItem], rejections: dict[str, Counter[str]]
) -> dict[str, dict[str, int]]:
    """Write the instructions, the tasks (those with instances) and the rejections; return the rejections."""
    with atomic_write(out_dir / INSTRUCTIONS_FILE) as handle:
        for item in accepted:
            handle.write(dumps_line(_instruction_record(item)))
    with atomic_write(out_dir / TASKS_FILE) as handle:
        for item in accepted:
            if item.instances:
                handle.write(dumps_line(_task_record(item)))
    counts = {stage: dict(sorted(c.items())) for stage, c in rejections.items()}
    with atomic_write(out_dir / REJECTIONS_FILE) as handle:
        handle.write(orjson.dumps(counts, option=orjson.OPT_INDENT_2))
    return counts


def _instruction_record(item: AcceptedItem) -> dict[str, Any]:
    return {
        "id": f"machine_{item.number}",
        "instruction": item.instruction,
        "is_classification": item.is_classification,
        "nearest": item.nearest,
        "nearest_score": item.score,
        "seed_nearest": item.seed_nearest,
        "seed_score": item.seed_score,
        "bootstrap_request": item.seq,
        "instances": len(item.instances),
        "dropped": item.failed,
    }


def _task_record(item: AcceptedItem) -> dict[str, Any]:
    """A task in the seed schema."""
    return {
        "id": f"machine_{item.number}",
        "name": f"machine_{item.number}",
        "instruction": item.instruction,
        "instances": [{"input": i.input, "output": i.output} for i in item.instances],
        "is_classification": bool(item.is_classification),
    }
