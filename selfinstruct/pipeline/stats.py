"""Dataset statistics of a run, as in the paper's table, plus rejections and similarity histograms.

Instances are also counted by the kind of their input, so a user sees at a glance what the model
wrote: ``empty`` (no input), ``one field`` (plain text, or one ``Sentence: ...``-style field,
possibly over several lines) or ``several fields`` (``Question: ...`` + ``Options: ...``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ..errors import InputError
from ..jsonl import iter_jsonl
from ..rundir import check_finished_run
from ._markup import read_field

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "INPUT_KINDS",
    "InputKind",
    "RunStats",
    "draw_stats",
    "format_stats",
    "input_kind",
    "load_stats",
    "plot_stats",
]

_BINS = 10

#: What an instance's input holds.
InputKind = Literal["empty", "one field", "several fields"]
INPUT_KINDS: tuple[InputKind, ...] = ("empty", "one field", "several fields")


def input_kind(text: str) -> InputKind:
    """``empty``, ``one field`` or ``several fields``: how many top-level ``Label:`` lines the input has.

    A field is a line starting with its label (``Question: ...``, ``Options: ...``); bulleted or
    indented label lines (``- Agent: ...`` under ``Dialogue:``) belong to the field above them.
    """
    if not text.strip():
        return "empty"
    fields = sum(1 for line in text.splitlines() if line[:1].isalpha() and read_field(line) is not None)
    return "several fields" if fields > 1 else "one field"


@dataclass
class RunStats:
    """Counts and length distributions of a finished run."""

    instructions: int = 0
    tasks: int = 0
    classification: int = 0
    non_classification: int = 0
    instances: int = 0
    empty_input: int = 0
    instruction_words: list[int] = field(default_factory=list)
    input_words: list[int] = field(default_factory=list)
    output_words: list[int] = field(default_factory=list)
    seed_scores: list[float] = field(default_factory=list)
    input_kinds: Counter[str] = field(default_factory=Counter)
    rejections: dict[str, dict[str, int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def load_stats(run_dir: str | Path) -> RunStats:
    """Read a run's ``instructions.jsonl``, ``tasks.jsonl``, ``rejections.json`` and ``run.json``.

    Raises:
        InputError: no such run directory, not a run directory, the run has not finished, a
            file is missing or malformed (each says which).
    """
    run = check_finished_run(run_dir, "instructions.jsonl", "tasks.jsonl")
    stats = RunStats()
    for _, record in iter_jsonl(run / "instructions.jsonl"):
        stats.instructions += 1
        score = record.get("seed_score")
        if isinstance(score, (int, float)):
            stats.seed_scores.append(float(score))
    for _, task in iter_jsonl(run / "tasks.jsonl"):
        stats.tasks += 1
        if task.get("is_classification"):
            stats.classification += 1
        else:
            stats.non_classification += 1
        stats.instruction_words.append(len(str(task.get("instruction", "")).split()))
        for instance in task.get("instances", []):
            stats.instances += 1
            stats.input_kinds[input_kind(str(instance.get("input", "")))] += 1
            words = len(str(instance.get("input", "")).split())
            if words:
                stats.input_words.append(words)
            else:
                stats.empty_input += 1
            stats.output_words.append(len(str(instance.get("output", "")).split()))
    for name, attr in (("rejections.json", "rejections"), ("run.json", "summary")):
        path = run / name
        if path.exists():
            try:
                data = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError as error:
                raise InputError(f"invalid JSON ({error})", path=path) from None
            setattr(stats, attr, data if attr == "rejections" else (data.get("summary") or {}))
    return stats


def _histogram(values: Sequence[float], bins: int = _BINS) -> list[int]:
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, int(value * bins)))] += 1
    return counts


def format_stats(stats: RunStats) -> str:
    """The statistics as a plain-text report (table, rejections, similarity histogram)."""
    rows = [
        ("# of accepted instructions", f"{stats.instructions:,}"),
        ("# of tasks with instances", f"{stats.tasks:,}"),
        ("  - classification", f"{stats.classification:,}"),
        ("  - non-classification", f"{stats.non_classification:,}"),
        ("# of instances", f"{stats.instances:,}"),
        ("  - with empty input", f"{stats.empty_input:,}"),
        ("  - input of one field", f"{stats.input_kinds['one field']:,}"),
        ("  - input of several fields", f"{stats.input_kinds['several fields']:,}"),
        ("avg. instruction length (words)", f"{_mean(stats.instruction_words):.2f}"),
        ("avg. non-empty input length (words)", f"{_mean(stats.input_words):.2f}"),
        ("avg. output length (words)", f"{_mean(stats.output_words):.2f}"),
    ]
    reasons = [f"  {stage}/{reason}" for stage, by_reason in stats.rejections.items() for reason in by_reason]
    width = max(len(name) for name in [*(name for name, _ in rows), *reasons])
    lines = ["statistic".ljust(width) + "  value", "-" * (width + 12)]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    if stats.rejections:
        lines += ["", "rejections by reason"]
        for stage, by_reason in stats.rejections.items():
            total = sum(by_reason.values())
            if total:
                lines.append(f"  {stage} (all reasons)".ljust(width) + f"  {total:,}")
            for reason, number in sorted(by_reason.items(), key=lambda item: -item[1]):
                if number:
                    lines.append(f"  {stage}/{reason}".ljust(width) + f"  {number:,}")
    if stats.seed_scores:
        lines += ["", "ROUGE-L to the most similar seed instruction"]
        histogram = _histogram(stats.seed_scores)
        peak = max(histogram) or 1
        for index, count in enumerate(histogram):
            label = f"  [{index / _BINS:.1f}, {(index + 1) / _BINS:.1f}{']' if index == _BINS - 1 else ')'}"
            lines.append(f"{label.ljust(14)} {count:>8,}  {'#' * round(40 * count / peak)}")
    return "\n".join(lines)


def _rejection_bars(stats: RunStats, top: int = 12) -> tuple[list[str], list[int]]:
    counted = [
        (f"{stage}/{reason}", number)
        for stage, by_reason in stats.rejections.items()
        for reason, number in by_reason.items()
        if number
    ]
    counted.sort(key=lambda item: -item[1])
    return [name for name, _ in counted[:top]], [number for _, number in counted[:top]]


def draw_stats(stats: RunStats) -> Figure:
    """The statistics as a matplotlib figure: similarity and length histograms, input kinds,
    rejections by reason; every count axis has integer ticks.

    Raises:
        InputError: matplotlib is not installed (``pip install 'selfinstruct[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'selfinstruct[plot]'") from None
    figure, axes = plt.subplots(2, 3, figsize=(15, 8))
    panels = [
        (stats.seed_scores, "ROUGE-L to the most similar seed", [i / 20 for i in range(21)]),
        (stats.instruction_words, "instruction length (words)", 30),
        (stats.input_words, "non-empty input length (words)", 30),
        (stats.output_words, "output length (words)", 30),
    ]
    for axis, (values, title, bins) in zip(axes.flat, panels, strict=False):
        axis.hist(values, bins=bins, color="#4C72B0", edgecolor="white")
        axis.set_title(title)
        axis.set_ylabel("count")
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    kinds_axis, rejections_axis = axes.flat[4], axes.flat[5]
    kinds_axis.bar(list(INPUT_KINDS), [stats.input_kinds[kind] for kind in INPUT_KINDS], color="#55A868")
    kinds_axis.set_title("instances by input kind")
    kinds_axis.set_ylabel("count")
    kinds_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    names, numbers = _rejection_bars(stats)
    rejections_axis.barh(names[::-1], numbers[::-1], color="#C44E52")
    rejections_axis.set_title("rejections by reason")
    rejections_axis.set_xlabel("count")
    rejections_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    rejections_axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    return figure


def plot_stats(stats: RunStats, path: str | Path) -> None:
    """Draw the statistics (:func:`draw_stats`) into one PNG.

    Raises:
        InputError: matplotlib is not installed (``pip install 'selfinstruct[plot]'``).
    """
    figure = draw_stats(stats)  # first: says when matplotlib is missing
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)
