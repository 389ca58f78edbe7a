"""Export a run's tasks for fine-tuning: prompt-completion, alpaca, openai-chat and sharegpt.

Each instance becomes one record; exact duplicates (same instruction, input and output) are
written once. With the same ``seed`` the output is byte-for-byte the same. Written as JSONL, as
Parquet (``parquet``), or as a dataset folder (``hf``: ``README.md`` dataset card with YAML
metadata and ``data/train-00000-of-00001.parquet``, what the Hugging Face Hub and
``datasets.load_dataset(FOLDER)`` read).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..jsonl import atomic_write, dumps_line
from ..rundir import check_finished_run
from .card import dataset_card, read_card_facts
from .parquet import write_parquet
from .seeds import SeedTask, load_seed_tasks

__all__ = [
    "DESTINATIONS",
    "FORMATS",
    "PROMPT_TEMPLATES",
    "ExportSummary",
    "export_records",
    "export_run",
    "iter_tasks",
]

FORMATS = ("prompt-completion", "alpaca", "openai-chat", "sharegpt")
#: What ``export_run`` writes: a JSONL file, a Parquet file, or a dataset folder with a card.
DESTINATIONS = ("jsonl", "parquet", "hf")
_DATA_FILE = "data/train-00000-of-00001.parquet"

#: Prompt/completion templates (ours): (template with input, template without input). One is
#: drawn at random per instance so a fine-tuned model does not overfit one layout.
PROMPT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("{instruction}\n\n{input}\n\n", "{instruction}\n\n"),
    ("{instruction}\nInput: {input}\nOutput:", "{instruction}\nOutput:"),
    ("Task: {instruction}\nInput: {input}\nAnswer:", "Task: {instruction}\nAnswer:"),
    ("{instruction}\n\n### Input:\n{input}\n\n### Response:\n", "{instruction}\n\n### Response:\n"),
    ("Instruction: {instruction}\n{input}\n\nResponse:", "Instruction: {instruction}\n\nResponse:"),
    ("{input}\n\n{instruction}\n\n", "{instruction}\n\n"),
    ("Q: {instruction}\n{input}\nA:", "Q: {instruction}\nA:"),
)


@dataclass(frozen=True)
class ExportSummary:
    """How many records were written and how many duplicates were left out."""

    written: int
    duplicates: int
    tasks: int
    path: str


def iter_tasks(path: str | Path) -> Iterator[SeedTask]:
    """Read tasks (the seed schema, as in a run's ``tasks.jsonl``)."""
    yield from load_seed_tasks(path)


def _user_text(instruction: str, inp: str) -> str:
    return f"{instruction}\n\n{inp}" if inp else instruction


def _record(fmt: str, instruction: str, inp: str, out: str, rng: random.Random) -> dict[str, Any]:
    if fmt == "alpaca":
        return {"instruction": instruction, "input": inp, "output": out}
    if fmt == "openai-chat":
        return {
            "messages": [
                {"role": "user", "content": _user_text(instruction, inp)},
                {"role": "assistant", "content": out},
            ]
        }
    if fmt == "sharegpt":
        return {
            "conversations": [
                {"from": "human", "value": _user_text(instruction, inp)},
                {"from": "gpt", "value": out},
            ]
        }
    with_input, without_input = PROMPT_TEMPLATES[rng.randrange(len(PROMPT_TEMPLATES))]
    template = with_input if inp else without_input
    # The leading space and end marker follow the usual completion fine-tuning convention.
    return {
        "prompt": template.format(instruction=instruction, input=inp),
        "completion": f" {out}<|endoftext|>",
    }


def export_records(tasks: Iterable[SeedTask], fmt: str, *, seed: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Turn tasks into records of format ``fmt``; return (records, duplicates dropped)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    rng = random.Random(seed)
    seen: set[tuple[str, str, str]] = set()
    records, duplicates = [], 0
    for task in tasks:
        instruction = task.instruction.strip()
        for instance in task.instances:
            key = (instruction, instance.input.strip(), instance.output.strip())
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            records.append(_record(fmt, *key, rng))
    return records, duplicates


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    fmt: str,
    seed: int = 0,
    include_seeds: bool = False,
    seeds_path: str | Path | None = None,
    to: str = "jsonl",
) -> ExportSummary:
    """Export ``RUN_DIR/tasks.jsonl`` (and optionally the seed tasks first) to ``out`` atomically.

    ``to`` is ``jsonl`` (a file), ``parquet`` (a file) or ``hf`` (``out`` is a folder: a
    ``README.md`` dataset card and ``data/train-00000-of-00001.parquet``). Parquet needs pyarrow.

    Raises:
        InputError: no such run directory, not a run directory, the run has not finished, or
            ``tasks.jsonl`` is missing or malformed (each says which).
        ConfigError: unknown format or destination, or pyarrow missing for Parquet.
    """
    if to not in DESTINATIONS:
        raise ConfigError(f"unknown export destination {to!r}; choose one of {', '.join(DESTINATIONS)}")
    tasks_path = check_finished_run(run_dir, "tasks.jsonl") / "tasks.jsonl"
    tasks: list[SeedTask] = []
    if include_seeds:
        tasks.extend(load_seed_tasks(seeds_path))
    if tasks_path.stat().st_size:
        tasks.extend(iter_tasks(tasks_path))
    records, duplicates = export_records(tasks, fmt, seed=seed)
    summary = ExportSummary(written=len(records), duplicates=duplicates, tasks=len(tasks), path=str(out))
    if to == "parquet":
        write_parquet(records, fmt, out)
    elif to == "hf":
        _write_folder(Path(run_dir), Path(out), records, summary, fmt=fmt, seed=seed)
    else:
        with atomic_write(out) as handle:
            for record in records:
                handle.write(dumps_line(record))
    return summary


def _write_folder(
    run_dir: Path, out: Path, records: list[dict[str, Any]], summary: ExportSummary, *, fmt: str, seed: int
) -> None:
    """A dataset folder: the Parquet data file, then the card that describes it."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; the 'hf' export writes a folder (give a directory path)")
    num_bytes = write_parquet(records, fmt, out / _DATA_FILE)
    card = dataset_card(
        read_card_facts(run_dir),
        fmt=fmt,
        data_files=[_DATA_FILE],
        records=summary.written,
        duplicates=summary.duplicates,
        tasks=summary.tasks,
        num_bytes=num_bytes,
        export_seed=seed,
        title=f"{run_dir.resolve().name} ({fmt})",
    )
    with atomic_write(out / "README.md") as handle:
        handle.write(card.encode())
