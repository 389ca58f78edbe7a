"""Parsers for model output: numbered-list continuations, yes/no answers and task instances.

Every parser is total: it never raises on odd text, it returns what it could read and says what it
dropped, so the run can count bad output and go on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .seeds import Instance

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
_BOLD = re.compile(r"(\*\*|__)")
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
        prefixes, quotes and trailing ``Input:``/``Output:`` parts.
    """
    if first_number is not None:
        text = f"{first_number}. {text.lstrip()}"
    raw_items: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if not line.strip():
            current = None  # a blank line ends an item; prose after it is not part of the list
            continue
        match = _ITEM.match(line)
        if (
            match
            and (match.group("num") is not None or match.group("bullet"))
            and match.group("rest").strip()
        ):
            current = [match.group("rest")]
            raw_items.append(current)
        elif match and not match.group("rest").strip():
            current = [""]  # "9." alone on a line: the item follows on the next line
            raw_items.append(current)
        elif current is not None:
            current.append(line.strip())
        # else: a preamble such as "Sure! Here are more tasks:" is ignored
    parsed = ParsedList()
    if finish_reason == "length" and raw_items:
        raw_items.pop()
        parsed.truncated = 1
    echoes = {normalize(d) for d in demos}
    for parts in raw_items:
        item = _clean_item(" ".join(p for p in parts if p))
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


@dataclass
class ParsedInstances:
    """Instances read from a model answer, and how many blocks could not be read."""

    instances: list[Instance] = field(default_factory=list)
    malformed: int = 0
    truncated: int = 0


_EXAMPLE_HEADER = re.compile(
    r"^[ \t]*(?:#+[ \t]*)?(?:\*\*|__)?[ \t]*Example[ \t]*\d*[ \t]*[:.)]?[ \t]*(?:\*\*|__)?[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_FIELD = r"^[ \t]*(?:[-*][ \t]*)?(?:\*\*|__)?[ \t]*{name}[ \t]*(?:\*\*|__)?[ \t]*:[ \t]*(?:\*\*|__)?[ \t]*"
_INPUT = re.compile(_FIELD.format(name="input"), re.IGNORECASE | re.MULTILINE)
_OUTPUT = re.compile(_FIELD.format(name="output"), re.IGNORECASE | re.MULTILINE)
_LABEL = re.compile(_FIELD.format(name=r"(?:class[ \t]*)?label"), re.IGNORECASE | re.MULTILINE)
_EMPTY_MARKERS = {
    "",
    "(none)",
    "none",
    "none.",
    "n/a",
    "na",
    "-",
    "<noinput>",
    "<no input>",
    "(empty)",
    "empty",
    "null",
}


def _clean_field(text: str) -> str:
    text = text.strip()
    if text.lower() in _EMPTY_MARKERS:
        return ""
    return text


def _split_blocks(text: str, marker: re.Pattern[str]) -> list[str]:
    starts = [m.start() for m in marker.finditer(text)]
    if not starts:
        return []
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _input_first(text: str) -> list[Instance | None]:
    blocks = [b for b in _EXAMPLE_HEADER.split(text) if b.strip()]
    if len(blocks) > 1 and _INPUT.search(blocks[0]) is None and _OUTPUT.search(blocks[0]) is None:
        blocks = blocks[1:]  # a preamble such as "Here are some examples:"
    if len(blocks) <= 1:
        # No "Example N" headers (or only one): cut before each "Input:" line instead.
        blocks = _split_blocks(text, _INPUT) or ([text] if text.strip() else [])
        if blocks and len(blocks) == 1 and _INPUT.search(text) is None:
            blocks = _split_blocks(text, _OUTPUT)
    instances: list[Instance | None] = []
    for block in blocks:
        out = _OUTPUT.search(block)
        if out is None:
            instances.append(None)
            continue
        inp = _INPUT.search(block, 0, out.start())
        input_text = block[inp.end() : out.start()] if inp else ""
        instances.append(Instance(_clean_field(input_text), _clean_field(block[out.end() :])))
    return instances


def _label_first(text: str) -> list[Instance | None]:
    instances: list[Instance | None] = []
    for block in _split_blocks(text, _LABEL):
        label = _LABEL.match(block)
        inp = _INPUT.search(block)
        if label is None or inp is None:
            instances.append(None)
            continue
        output = _clean_field(block[label.end() : inp.start()])
        instances.append(Instance(_clean_field(block[inp.end() :]), output))
    return instances


def parse_instances(
    text: str | None, *, label_first: bool, finish_reason: str | None = None, limit: int | None = None
) -> ParsedInstances:
    """Read instances from an answer in the input-first or label-first (classification) form.

    Input-first: ``Example N`` blocks with ``Input:`` and ``Output:`` lines (headers may be missing,
    bold, or end in a colon; an input may be ``(none)``). Label-first: ``Class label:`` then
    ``Input:``. Multi-line inputs and outputs are kept. When ``finish_reason == "length"``, the last
    block is dropped. ``limit`` keeps only the first instances.
    """
    parsed = ParsedInstances()
    if not text or not text.strip():
        return parsed
    blocks = (_label_first if label_first else _input_first)(text)
    if not blocks:
        parsed.malformed = 1
        return parsed
    if finish_reason == "length":
        blocks.pop()
        parsed.truncated = 1
    good = [b for b in blocks if b is not None]
    parsed.malformed = len(blocks) - len(good)
    parsed.instances = good[:limit] if limit is not None else good
    return parsed
