"""Instruction and instance filters; each rejection is named so runs can count them by reason."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .seeds import Instance

__all__ = [
    "BLACKLIST",
    "InstanceFilterResult",
    "InstructionFilter",
    "filter_instances",
]

#: Words that point at inputs or outputs a text model cannot see or make (the paper's list).
BLACKLIST: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class InstructionFilter:
    """The heuristic instruction filters that run before the novelty check.

    Attributes:
        min_words / max_words: kept instructions have ``min_words <= words <= max_words``.
        blacklist: whole words or phrases (case-insensitive) that reject an instruction.
        ascii_start: reject instructions whose first character is not ASCII (turn off for
            non-English runs, as the ``unicode`` tokenizer does).
    """

    min_words: int = 4
    max_words: int = 150
    blacklist: Sequence[str] = BLACKLIST
    ascii_start: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {self.min_words} and {self.max_words}")
        words = "|".join(
            re.escape(w).replace(r"\ ", r"\s+") for w in sorted(self.blacklist, key=len, reverse=True)
        )
        object.__setattr__(
            self, "_pattern", re.compile(rf"\b(?:{words})\b", re.IGNORECASE) if words else None
        )

    def reason(self, instruction: str) -> str | None:
        """Why the instruction is rejected (a short reason code), or ``None`` if it passes."""
        text = instruction.strip()
        if not text:
            return "empty"
        words = len(text.split())
        if words < self.min_words:
            return "too_short"
        if words > self.max_words:
            return "too_long"
        pattern: re.Pattern[str] | None = getattr(self, "_pattern")  # noqa: B009 - set in __post_init__
        if pattern is not None and pattern.search(text):
            return "blacklist"
        if text.lower().startswith("write a program"):
            return "write_a_program"
        if text[0] in string.punctuation:
            return "punctuation_start"
        if self.ascii_start and not text[0].isascii():
            return "non_ascii_start"
        return None

    def split(self, instructions: Iterable[str], counts: Counter[str]) -> list[str]:
        """Keep the instructions that pass; count each rejection by reason in ``counts``."""
        kept = []
        for text in instructions:
            why = self.reason(text)
            if why is None:
                kept.append(text)
            else:
                counts[why] += 1
        return kept


@dataclass(frozen=True)
class InstanceFilterResult:
    """Instances that survived, and why the others went (``task_conflict`` drops them all)."""

    instances: tuple[Instance, ...]
    dropped: Counter[str]


def filter_instances(instances: Iterable[Instance]) -> InstanceFilterResult:
    """Apply the instance filters of the method to one task's instances.

    Drops an instance whose output is empty, whose input equals its output, or whose input or
    output ends with ``":"``, and exact duplicates. If two kept instances share a non-empty input
    but disagree on the output, the task's instances are all dropped (reason ``conflict``).
    """
    dropped: Counter[str] = Counter()
    kept: list[Instance] = []
    seen: set[tuple[str, str]] = set()
    outputs_by_input: dict[str, str] = {}
    for instance in instances:
        inp, out = instance.input.strip(), instance.output.strip()
        if not out:
            dropped["empty_output"] += 1
        elif inp == out:
            dropped["input_equals_output"] += 1
        elif inp.endswith(":") or out.endswith(":"):
            dropped["ends_with_colon"] += 1
        elif (inp, out) in seen:
            dropped["duplicate"] += 1
        else:
            seen.add((inp, out))
            if inp and outputs_by_input.setdefault(inp, out) != out:
                dropped["conflict"] += len(seen)
                return InstanceFilterResult((), dropped)
            kept.append(Instance(inp, out))
    return InstanceFilterResult(tuple(kept), dropped)
