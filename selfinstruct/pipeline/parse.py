"""Parsers for model output: numbered-list continuations, yes/no answers and task instances.

Every parser is total: it never raises on odd text, it returns what it could read and says what it
dropped, so the run can count bad output and go on. Instance parsing lives in
:mod:`.instance_parser` and is re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._markup import BOLD as _BOLD
from .instance_parser import ParsedInstances, parse_instances

__all__ = [
    "ParsedInstances",
    "ParsedList",
    "normalize",
    "parse_instances",
    "parse_instructions",
    "parse_yes_no",
]

_ITEM = re.compile(
    r"""^\s*(?:[-*•+]\s*)?(?:\*\*|__)?\s*
    (?:(?P<num>\d{1,3})\s*[.):]|(?P<bullet>[-*•+]))\s*(?:\*\*|__)?\s*(?P<rest>.*)$""",
    re.VERBOSE,
)
_PREFIX = re.compile(
    r"^(?:new\s+)?(?:instruction|task|prompt|question|q)\s*(?:\d+\s*)?[:\-–—]\s*", re.IGNORECASE
)
_TAIL = re.compile(r"\s*(?:\n|\s)(?:input|output|answer|example)\s*:.*$", re.IGNORECASE | re.DOTALL)
_QUOTES = ('"', "“", "”", "'")
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, collapse whitespace: the form used to spot an echoed demo."""
    return _SPACE.sub(" ", text).strip().lower()


@dataclass
class ParsedList:
    """Instructions read from a list continuation, and what was passed over."""

    items: list[str] = field(default_factory=list)
    echoed: int = 0
    truncated: int = 0
    empty: int = 0


def _clean_item(text: str) -> str:
    text = _BOLD.sub("", text).strip()
    text = _PREFIX.sub("", text).strip()
    text = _TAIL.sub("", text).strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return _SPACE.sub(" ", text)


def _split_run_together(text: str, number: int | None) -> list[str]:
    """Split ``"A story 2. A poem 3. A song"`` (item 1 with items 2 and 3 run into it) at the numbers.

    Only the numbers that come next in the list split, followed by a space and a capital, a quote or a
    bold marker, so "costs 2.50" or "in 3. steps" stay whole.
    """
    if number is None:
        return [text]
    pieces: list[str] = []
    while True:
        number += 1
        found = re.search(rf"(?<=\S)\s+(?:\*\*)?{number}[.)](?:\*\*)?\s+(?=[A-Z\"“'*])", text)
        if found is None:
            pieces.append(text)
            return pieces
        pieces.append(text[: found.start()])
        text = text[found.end() :]


def parse_instructions(
    text: str,
    *,
    first_number: int | None = None,
    finish_reason: str | None = None,
    demos: Iterable[str] = (),
) -> ParsedList:
    """Read new instructions from a model's continuation of a numbered list.

    Args:
        text: the model output. For a completion model it continues right after ``"{first_number}."``,
            so its first line is the first item without a number.
        first_number: the number the prompt ended with (completion form), or ``None`` for chat
            output, where every item carries its own number or bullet.
        finish_reason: ``"length"`` means max_tokens cut the text: its last item is dropped.
        demos: the prompt's instructions; items repeating one of them are dropped as echoes.

    Returns:
        The items in order, cleaned of numbering, bullets, bold markers, ``Instruction:``
        prefixes, quotes and trailing ``Input:``/``Output:`` parts. Items a small model ran together
        on one line (``1. A 2. B 3. C``) are split.
    """
    if first_number is not None:
        text = f"{first_number}. {text.lstrip()}"
    raw_items: list[tuple[int | None, list[str]]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None  # a blank line ends an item; prose after it is not part of the list
            continue
        match = _ITEM.match(line)
        number = int(match.group("num")) if match and match.group("num") is not None else None
        if (
            match
            and (match.group("num") is not None or match.group("bullet"))
            and match.group("rest").strip()
        ):
            current = [match.group("rest")]
            raw_items.append((number, current))
        elif match and not match.group("rest").strip():
            current = [""]  # "9." alone on a line: the item follows on the next line
            raw_items.append((number, current))
        elif current is not None:
            current.append(line.strip())
        # else: a preamble such as "Sure! Here are more tasks:" is ignored
    joined = [
        piece
        for number, parts in raw_items
        for piece in _split_run_together(" ".join(p for p in parts if p), number)
    ]
    parsed = ParsedList()
    if finish_reason == "length" and joined:
        joined.pop()
        parsed.truncated = 1
    echoes = {normalize(d) for d in demos}
    for raw in joined:
        item = _clean_item(raw)
        if not item:
            parsed.empty += 1
        elif normalize(item) in echoes:
            parsed.echoed += 1
        else:
            parsed.items.append(item)
    return parsed


_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_yes_no(text: str | None) -> bool | None:
    """Read a Yes/No answer; ``None`` when the text says neither (or both) clearly."""
    if not text:
        return None
    head = _BOLD.sub("", text).strip()[:60]
    found = {m.group(1).lower() for m in _YES_NO.finditer(head)}
    if len(found) == 1:
        return found.pop() == "yes"
    if found:  # both words: trust the first one ("Yes, ... no other labels")
        first = _YES_NO.search(head)
        return first is not None and first.group(1).lower() == "yes"
    return None
