"""Seed tasks and few-shot examples: loading and validating the JSONL files in the original schema.

The seed file format is the one the SELF-INSTRUCT authors published, one task per line::

    {"id": "seed_task_0", "name": "...", "instruction": "...",
     "instances": [{"input": "...", "output": "..."}], "is_classification": false}

Our own files ship in ``seeds/`` (inside the wheel as ``selfinstruct/_seeds``).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..jsonl import check_input_file, iter_jsonl, missing_or_null

__all__ = [
    "ClassificationExample",
    "Instance",
    "SeedTask",
    "default_seeds_dir",
    "load_classification_examples",
    "load_instance_examples",
    "load_seed_tasks",
]

SEED_TASKS_FILE = "seed_tasks.jsonl"
CLASSIFICATION_EXAMPLES_FILE = "classification_examples.jsonl"
INSTANCE_EXAMPLES_FILE = "instance_examples.jsonl"


@dataclass(frozen=True, slots=True)
class Instance:
    """One input/output pair of a task (the input may be empty)."""

    input: str
    output: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SeedTask:
    """A task in the original schema: an instruction, its instances and whether it classifies."""

    id: str
    name: str
    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool

    def to_dict(self) -> dict[str, Any]:
        """The task as a record in the original schema."""
        return {
            "id": self.id,
            "name": self.name,
            "instruction": self.instruction,
            "instances": [{"input": i.input, "output": i.output} for i in self.instances],
            "is_classification": self.is_classification,
        }


@dataclass(frozen=True, slots=True)
class ClassificationExample:
    """A labelled few-shot example for classification identification."""

    instruction: str
    is_classification: bool


def default_seeds_dir() -> Path:
    """Where our shipped seed files live: the wheel's ``_seeds`` or the repository's ``seeds/``."""
    try:
        packaged = Path(str(importlib.resources.files("selfinstruct") / "_seeds"))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - odd loaders
        packaged = Path("/nonexistent")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "seeds"


def _resolve(path: str | Path | None, name: str) -> Path:
    resolved = Path(path) if path is not None else default_seeds_dir() / name
    if path is None and not resolved.is_file():
        raise InputError(f"no such file ({name} expected here; pass a path)", path=resolved)
    return check_input_file(resolved)


def _text(record: Mapping[str, Any], key: str, path: Path, line: int, *, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise InputError(f"field {key!r} is {missing_or_null(record, key)}", path=path, line=line)
    if not isinstance(value, str):
        raise InputError(f"field {key!r} must be a string, got {type(value).__name__}", path=path, line=line)
    return value


def _flag(record: Mapping[str, Any], key: str, path: Path, line: int, default: bool | None) -> bool:
    value = record.get(key, default)
    if isinstance(value, bool):
        return value
    if value is None:
        raise InputError(
            f"field {key!r} is {missing_or_null(record, key)}; give true or false", path=path, line=line
        )
    # The published seed file stores booleans, but hand-written files sometimes say "yes"/"no".
    if isinstance(value, str) and value.strip().lower() in {"yes", "true", "no", "false"}:
        return value.strip().lower() in {"yes", "true"}
    raise InputError(f"field {key!r} must be true or false, got {value!r}", path=path, line=line)


def _instances(record: Mapping[str, Any], path: Path, line: int) -> tuple[Instance, ...]:
    raw = record.get("instances", [])
    if not isinstance(raw, list):
        raise InputError("field 'instances' must be a list of {input, output} objects", path=path, line=line)
    out = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InputError(f"instances[{position}] must be an object", path=path, line=line)
        out.append(
            Instance(
                _text(item, "input", path, line, required=False),
                _text(item, "output", path, line, required=False),
            )
        )
    return tuple(out)


def load_seed_tasks(path: str | Path | None = None) -> list[SeedTask]:
    """Load seed tasks in the original schema; ``None`` loads our shipped ``seed_tasks.jsonl``.

    Raises:
        InputError: the file is missing, a line is not JSON, a field has the wrong type, an
            instruction is empty or appears twice (naming file and line).
    """
    resolved = _resolve(path, SEED_TASKS_FILE)
    tasks: list[SeedTask] = []
    seen: dict[str, int] = {}
    for line, record in iter_jsonl(resolved):
        instruction = _text(record, "instruction", resolved, line).strip()
        if not instruction:
            raise InputError("empty instruction", path=resolved, line=line)
        key = " ".join(instruction.lower().split())
        if key in seen:
            raise InputError(f"duplicate instruction (first on line {seen[key]})", path=resolved, line=line)
        seen[key] = line
        task_id = record.get("id", f"seed_task_{len(tasks)}")
        tasks.append(
            SeedTask(
                id=str(task_id),
                name=str(record.get("name", task_id)),
                instruction=instruction,
                instances=_instances(record, resolved, line),
                is_classification=_flag(record, "is_classification", resolved, line, False),
            )
        )
    if not tasks:
        raise InputError("no seed tasks in file", path=resolved)
    return tasks


def load_classification_examples(path: str | Path | None = None) -> list[ClassificationExample]:
    """Load the labelled few-shot examples for classification identification.

    Raises:
        InputError: missing file, bad line, or not at least one example of each label.
    """
    resolved = _resolve(path, CLASSIFICATION_EXAMPLES_FILE)
    examples = [
        ClassificationExample(
            _text(record, "instruction", resolved, line).strip(),
            _flag(record, "is_classification", resolved, line, None),
        )
        for line, record in iter_jsonl(resolved)
    ]
    if not any(e.is_classification for e in examples) or all(e.is_classification for e in examples):
        raise InputError("need at least one classification and one non-classification example", path=resolved)
    return examples


def load_instance_examples(path: str | Path | None = None) -> list[SeedTask]:
    """Load the few-shot demos for instance generation (tasks with 1+ instances each).

    Raises:
        InputError: missing file, bad line, a demo without instances, or no demo of either kind.
    """
    resolved = _resolve(path, INSTANCE_EXAMPLES_FILE)
    demos: list[SeedTask] = []
    for line, record in iter_jsonl(resolved):
        instruction = _text(record, "instruction", resolved, line).strip()
        instances = _instances(record, resolved, line)
        if not instruction or not instances:
            raise InputError(
                "a demo needs an instruction and at least one instance", path=resolved, line=line
            )
        demos.append(
            SeedTask(
                id=str(record.get("id", f"demo_{len(demos)}")),
                name=str(record.get("name", "")),
                instruction=instruction,
                instances=instances,
                is_classification=_flag(record, "is_classification", resolved, line, None),
            )
        )
    if not any(d.is_classification for d in demos) or all(d.is_classification for d in demos):
        raise InputError("need at least one classification and one non-classification demo", path=resolved)
    return demos
