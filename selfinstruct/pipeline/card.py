"""The dataset card (``README.md``) of an exported dataset folder, as the Hugging Face Hub reads it.

YAML metadata first (the data files per split, the features of the format, sizes, task and
tags), then what a reader needs to trust the data: how it was made, the model(s) that answered
(counted from the run's journal), the run's settings, counts, and the rejections by reason.
The YAML is written by hand (no YAML library needed); every string is JSON-quoted, which YAML
reads as the same string.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .parquet import FIELDS

__all__ = ["CardFacts", "dataset_card", "read_card_facts"]

_JOURNAL = "journal.jsonl"
# Run settings worth a reader's attention, in this order (paths and tuning knobs left out).
_SETTINGS = (
    "num_instructions",
    "seed",
    "chat",
    "classification_only",
    "instances_per_task",
    "threshold",
    "tokenizer",
    "rule",
    "prompt_instructions",
    "machine_instructions",
    "compact_prompts",
)
_FORMAT_NOTES = {
    "alpaca": "`instruction`, `input` (may be empty) and `output` strings.",
    "prompt-completion": (
        "`prompt` and `completion` strings; the prompt template is drawn per record from several "
        "(seeded), and the completion ends with `<|endoftext|>`."
    ),
    "openai-chat": "`messages`: a user turn (instruction and input) and the assistant's answer.",
    "sharegpt": "`conversations`: a `human` turn (instruction and input) and the `gpt` answer.",
}


@dataclass(frozen=True)
class CardFacts:
    """What a run directory says about itself (empty where a file is missing)."""

    settings: Mapping[str, Any]
    summary: Mapping[str, Any]
    rejections: Mapping[str, Mapping[str, int]]
    models: Mapping[str, int]


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _models(journal: Path) -> Counter[str]:
    """Answers per model name in a journal (lines that do not parse are passed over)."""
    models: Counter[str] = Counter()
    if not journal.exists():
        return models
    with open(journal, "rb") as handle:
        for line in handle:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if (
                isinstance(record, dict)
                and record.get("error") is None
                and isinstance(record.get("model"), str)
            ):
                models[record["model"]] += 1
    return models


def read_card_facts(run_dir: str | Path) -> CardFacts:
    """Read ``run.json``, ``rejections.json`` and the journal's model names of a run directory."""
    run = Path(run_dir)
    record = _json_file(run / "run.json")
    settings = record.get("config") if isinstance(record.get("config"), dict) else {}
    summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
    rejections = {
        str(stage): {str(k): v for k, v in reasons.items() if isinstance(v, int)}
        for stage, reasons in _json_file(run / "rejections.json").items()
        if isinstance(reasons, dict)
    }
    return CardFacts(settings or {}, summary or {}, rejections, dict(_models(run / _JOURNAL)))


def _q(value: str) -> str:
    return orjson.dumps(value).decode()


def _q_any(value: Any) -> str:
    """A setting as JSON (``true``, ``0.7``, ``"rouge"`` -> ``rouge``)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _size_category(count: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if count < limit:
            return label
    return "1M<n<10M"


def _yaml_header(fmt: str, data_files: Sequence[str], records: int, num_bytes: int) -> list[str]:
    lines = ["---", "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path:"]
    lines += [f"    - {_q(path)}" for path in data_files]
    lines += ["dataset_info:", "  features:"]
    for name, kind in FIELDS[fmt]:
        lines.append(f"  - name: {_q(name)}")
        if kind == "string":
            lines.append("    dtype: string")
        else:
            lines.append("    list:")
            for sub in kind:
                lines += [f"    - name: {_q(sub)}", "      dtype: string"]
    lines += [
        "  splits:",
        "  - name: train",
        f"    num_bytes: {num_bytes}",
        f"    num_examples: {records}",
        f"  download_size: {num_bytes}",
        f"  dataset_size: {num_bytes}",
        "language:",
        "- en",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- synthetic",
        "- self-instruct",
        "- selfinstruct",
        "size_categories:",
        f"- {_size_category(records)}",
        "---",
    ]
    return lines


def _table(rows: Sequence[tuple[str, str]], header: tuple[str, str]) -> list[str]:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines


def dataset_card(
    facts: CardFacts,
    *,
    fmt: str,
    data_files: Sequence[str],
    records: int,
    duplicates: int,
    tasks: int,
    num_bytes: int,
    export_seed: int,
    title: str,
) -> str:
    """The README.md text of an exported dataset folder."""
    lines = _yaml_header(fmt, data_files, records, num_bytes)
    lines += [
        "",
        f"# {title}",
        "",
        "Instruction-tuning data made with the SELF-INSTRUCT method (Wang et al., ACL 2023) by "
        "`selfinstruct`: a model bootstrapped new instructions from a small seed pool, each kept only "
        "if its ROUGE-L against every instruction already in the pool was below the threshold, then "
        "classified them and wrote input/output instances. The data is machine-made and unreviewed: "
        "check it, and the terms of the model that wrote it, before you train on it or publish it.",
        "",
        f"Format `{fmt}`: {_FORMAT_NOTES[fmt]} One record per instance; exact duplicates removed.",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("parquet", data_files="'
        + (data_files[0] if data_files else "")
        + '", split="train")',
        "```",
        "",
        "## Model",
        "",
    ]
    if facts.models:
        lines += _table([(f"`{m}`", f"{n:,}") for m, n in sorted(facts.models.items())], ("model", "answers"))
    else:
        lines.append("Not recorded (the run's journal was not found).")
    counts = [
        ("records in this dataset", f"{records:,}"),
        ("duplicate records removed", f"{duplicates:,}"),
        ("tasks exported", f"{tasks:,}"),
        *_run_counts(facts.summary),
    ]
    lines += ["", "## Counts", ""] + _table(counts, ("what", "count"))
    settings = [(f"`{k}`", f"`{_q_any(facts.settings[k])}`") for k in _SETTINGS if k in facts.settings]
    settings.append(("`export seed`", f"`{export_seed}`"))
    lines += ["", "## Run settings", ""] + _table(settings, ("setting", "value"))
    rejected = [
        (f"{stage} / {reason}", f"{number:,}")
        for stage, reasons in facts.rejections.items()
        for reason, number in sorted(reasons.items(), key=lambda item: -item[1])
        if number
    ]
    lines += ["", "## Rejections by reason", ""]
    lines += _table(rejected, ("stage / reason", "count")) if rejected else ["None recorded."]
    return "\n".join(lines) + "\n"


def _run_counts(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The run summary's counts, labelled, in the card's order."""
    counts = []
    for key, label in (
        ("accepted", "instructions accepted"),
        ("tasks", "tasks with instances"),
        ("classification_tasks", "classification tasks"),
        ("instances", "instances"),
        ("tasks_dropped", "tasks dropped (no valid instance)"),
        ("bootstrap_requests", "bootstrap answers"),
        ("status", "run status"),
    ):
        if key in summary:
            value = summary[key]
            counts.append((label, f"{value:,}" if isinstance(value, int) else str(value)))
    return counts
