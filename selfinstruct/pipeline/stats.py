"""Dataset statistics of a run, as in the paper's table, plus rejections and similarity histograms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import InputError
from ..jsonl import iter_jsonl
from ..rundir import check_finished_run

__all__ = ["RunStats", "format_stats", "load_stats", "plot_stats"]

_BINS = 10


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
        ("avg. instruction length (words)", f"{_mean(stats.instruction_words):.2f}"),
        ("avg. non-empty input length (words)", f"{_mean(stats.input_words):.2f}"),
        ("avg. output length (words)", f"{_mean(stats.output_words):.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["statistic".ljust(width) + "  value", "-" * (width + 12)]
    lines += [f"{name.ljust(width)}  {value}" for name, value in rows]
    if stats.rejections:
        lines += ["", "rejections by reason"]
        for stage, by_reason in stats.rejections.items():
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


def plot_stats(stats: RunStats, path: str | Path) -> None:
    """Draw the seed-similarity histogram and the length histograms into one PNG.

    Raises:
        InputError: matplotlib is not installed (``pip install 'selfinstruct[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'selfinstruct[plot]'") from None
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    panels = [
        (stats.seed_scores, "ROUGE-L to the most similar seed", [i / 20 for i in range(21)]),
        (stats.instruction_words, "instruction length (words)", 30),
        (stats.input_words, "non-empty input length (words)", 30),
        (stats.output_words, "output length (words)", 30),
    ]
    for axis, (values, title, bins) in zip(axes.flat, panels, strict=True):
        axis.hist(values, bins=bins, color="#4C72B0", edgecolor="white")
        axis.set_title(title)
        axis.set_ylabel("count")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
