"""Instances from a model's answer, read by structure rather than by one spelling of the labels.

Input-first answers (ordinary tasks): an example runs from its header (``Example 2``, ``**Example
2:**``, ``### Example 2``, ``2. Sentence: ...``) or the start of the answer to its ``Output:`` line;
everything before that line is the input. A leading ``Input:`` label is removed; other field labels
(``Sentence:``, ``Question:`` + ``Options:``, ``Dialogue:`` over several lines) stay in the input text,
as in the paper's data. Without headers, the next example starts at the next line carrying the label
the first example's input started with.

Label-first answers (classification): the label is the rest of the ``Class label:`` line, the input
everything after it up to the next label. A block holding an ``Output:`` line or no input is malformed.
An answer with no ``Class label:`` line is read input-first (as if the model ignored the order).

An input written after the last output (an example never answered) is a block of its own, never
glued onto that output. A label is whatever the ``Class label:`` line says (``None`` too).

A block that cannot be read is dropped whole and counted by reason (:data:`REJECTION_REASONS`); an
instance never gets an empty input when the model wrote input text for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ._markup import BOLD, EMPTY_MARKERS, Field, is_chatter, is_rule, read_field
from .seeds import Instance

__all__ = ["REJECTION_REASONS", "ParsedInstances", "RejectionReason", "parse_instances"]

#: Why (part of) an answer yielded no instance.
RejectionReason = Literal["malformed", "truncated", "no_examples"]
#: ``malformed``: a block without an output (or, label-first, without an input, or with a stray
#: ``Output:``); ``truncated``: the last block, cut by ``max_tokens``; ``no_examples``: the answer
#: holds no example at all (a refusal, prose, an empty answer).
REJECTION_REASONS: tuple[RejectionReason, ...] = ("malformed", "truncated", "no_examples")


@dataclass
class ParsedInstances:
    """Instances read from a model answer, and what was dropped, counted by reason."""

    instances: list[Instance] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def malformed(self) -> int:
        """Blocks that could not be read."""
        return self.rejected["malformed"]

    @property
    def truncated(self) -> int:
        """1 when the last block was dropped because ``max_tokens`` cut it."""
        return self.rejected["truncated"]


_Block = Instance | None  # None: a block that could not be read
_IsLabel = Callable[[str], bool]

_HEADER = re.compile(
    r"""^[ \t]*(?:\#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*(?:example|instance|sample)\b[ \t]*\#?[ \t]*
    (?P<num>\d{1,3})?[ \t]*(?:\*\*|__)?[ \t]*(?:[:.)\-–—][ \t]*)?(?:\*\*|__)?[ \t]*(?P<rest>.*?)[ \t]*$""",
    re.IGNORECASE | re.VERBOSE,
)
_NUMBERED = re.compile(r"^[ \t]*(?:\*\*)?(?P<num>\d{1,2})[.)](?:\*\*)?[ \t]+(?P<rest>\S.*)$")


def _field_is(*keys: str) -> _IsLabel:
    def check(line: str) -> bool:
        found = read_field(line)
        return found is not None and found.key in keys

    return check


_is_output = _field_is("output")
_is_input = _field_is("input")
_is_class_label = _field_is("class label", "label")
_is_task = _field_is("task", "instruction")


def _header(line: str) -> str | None:
    """The rest of an ``Example N`` header line ("" when alone), or ``None`` when not a header."""
    match = _HEADER.match(line)
    if match is None:
        return None
    rest = match.group("rest")
    if not rest or match.group("num") or read_field(rest) is not None:
        return rest
    return None  # "Example sentences follow" is prose, not a header


def _strip_value(text: str) -> str:
    return "" if text.strip().lower() in EMPTY_MARKERS else text.strip()


def _plain(line: str, found: Field | None) -> str:
    """A field line without its markdown (``- **Sentence:** x`` -> ``Sentence: x``); others unchanged."""
    if found is None or not found.marked:
        return line.rstrip()
    return f"{found.label}: {found.rest}".rstrip()


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _input_text(lines: list[str]) -> str:
    """The input of one example: its lines, a leading ``Input:`` label removed, other labels kept."""
    lines = _trim(lines)
    if not lines:
        return ""
    fields = [read_field(line) for line in lines]
    first = fields[0]
    body = [_plain(line, found) for line, found in zip(lines, fields, strict=True)]
    if first is not None and first.key == "input":
        body[0] = first.rest
    elif first is not None and _NUMBERED.match(first.opening + "x"):
        body[0] = f"{first.label}: {first.rest}".rstrip()  # "1. Sentence: x", a lone numbered example
    text = "\n".join(body).strip()
    if text.lower() in EMPTY_MARKERS:
        return ""
    only = read_field(text) if "\n" not in text else None
    if only is not None and only.rest.lower() in EMPTY_MARKERS:
        return ""  # "Sentence: (none)": a field with no value
    return text


def _output_text(lines: list[str]) -> str:
    found = read_field(lines[0])
    first = found.rest if found is not None else lines[0]
    return _strip_value("\n".join([first, *lines[1:]]))


def _next_start(lines: list[str], after: int, before: int, first_key: str | None, unlabelled: bool) -> int:
    """Where the next example's input starts, between one output line and the next."""
    if first_key is not None:
        for index in range(after + 1, before):
            found = read_field(lines[index])
            if found is not None and found.key == first_key:
                return index
    for index in range(after + 1, before):
        if _is_input(lines[index]):
            return index
    # A field line opening the last paragraph before the next output ("Output: a" / blank line /
    # "Sentence: b" / "Output: c"), when the first example had no input or another label.
    last_blank = max((i for i in range(after + 1, before) if not lines[i].strip()), default=None)
    if last_blank is not None and last_blank + 1 < before:
        found = read_field(lines[last_blank + 1])
        if found is not None and found.key != "output":
            return last_blank + 1
    if unlabelled:
        # Unlabelled inputs: the output is one paragraph; the next input follows a blank line,
        # or (no blank line) the line after a one-line output.
        for index in range(after + 1, before):
            if not lines[index].strip():
                return index
        found = read_field(lines[after])
        return min(before, after + (1 if found is not None and found.rest else 2))
    return before  # outputs only: what lies between is the previous output


def _unanswered_start(lines: list[str], last_output: int, first_key: str | None) -> int | None:
    """Where an input written after the last output starts (an example with no output yet), if any.

    Only lines that open inputs for sure count: the label the first input started with, or ``Input:``.
    The output must hold text before it, so ``Output:`` / ``Sentence: x`` (an output written on the
    next line) stays an output.
    """
    found = read_field(lines[last_output])
    has_text = found is not None and bool(found.rest)
    for index in range(last_output + 1, len(lines)):
        here = read_field(lines[index])
        if has_text and here is not None and (here.key == "input" or here.key == first_key):
            return index
        has_text = has_text or bool(lines[index].strip())
    return None


def _read_segment(lines: list[str], is_output: _IsLabel, *, headed: bool) -> list[_Block]:
    """Examples of one segment (an ``Example N`` block, or a whole answer without headers)."""
    outputs = [index for index, line in enumerate(lines) if is_output(line)]
    if not outputs:
        return [None] if headed and any(line.strip() for line in lines) else []
    first_input = _trim(lines[: outputs[0]])
    first_field = read_field(first_input[0]) if first_input else None
    first_key = first_field.key if first_field is not None else None
    starts = [0]
    for after, before in zip(outputs, outputs[1:], strict=False):
        starts.append(_next_start(lines, after, before, first_key, bool(first_input) and first_key is None))
    tail = _unanswered_start(lines, outputs[-1], first_key)
    ends = [*starts[1:], tail if tail is not None else len(lines)]
    blocks: list[_Block] = []
    for start, out, end in zip(starts, outputs, ends, strict=True):
        opened = [index for index in range(start, out) if _is_input(lines[index])]
        if len(opened) > 1:
            # "Input: x" then "Input: y / Output: z": the first input never got its output.
            blocks += [None] * (len(opened) - 1)
            start = opened[-1]
        blocks.append(Instance(_input_text(lines[start:out]), _output_text(lines[out:end])))
    if tail is not None:
        blocks.append(None)  # the next example's input, never answered (or cut before its output)
    return blocks


def _headers(lines: list[str]) -> list[tuple[int, str]]:
    found = [(index, rest) for index, line in enumerate(lines) if (rest := _header(line)) is not None]
    if found:
        return found
    # "1. Input: ...", "2. Sentence: ..." numbered examples: numbers 1, 2, ... on field lines.
    numbered: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        match = _NUMBERED.match(line)
        if match and int(match.group("num")) == len(numbered) + 1 and read_field(match.group("rest")):
            numbered.append((index, match.group("rest")))
    return numbered if len(numbered) > 1 else []


def _dedent(lines: list[str]) -> list[str]:
    """Lines without the indentation they share (a numbered item's continuation lines)."""
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:] if line.strip() else line for line in lines]


def _input_first(lines: list[str], is_output: _IsLabel = _is_output) -> list[_Block]:
    headers = _headers(lines)
    if not headers:
        if lines and _NUMBERED.match(lines[0]) and read_field(lines[0]) is not None:
            lines = [lines[0], *_dedent(lines[1:])]  # a lone numbered example, its lines indented
        return _read_segment(lines, is_output, headed=False)
    segments: list[list[str]] = []
    preamble = lines[: headers[0][0]]
    if any(is_output(line) for line in preamble):
        segments.append(preamble)  # the model forgot the first header
    bounds = [index for index, _ in headers[1:]] + [len(lines)]
    numbered = _header(lines[headers[0][0]]) is None  # "1. Question: ..." with its lines indented
    for (index, rest), end in zip(headers, bounds, strict=True):
        body = lines[index + 1 : end]
        segments.append(([rest] if rest else []) + (_dedent(body) if numbered else body))
    blocks: list[_Block] = []
    for segment in segments:
        blocks += _read_segment(segment, is_output, headed=True)
    return blocks


def _label_block(lines: list[str]) -> _Block:
    found = read_field(lines[0])
    label = found.rest if found is not None else ""
    body = lines[1:]
    if not label.strip():
        # "Class label:" alone on its line: the label is the next line, unless that is a field.
        rest = _trim(body)
        if rest and read_field(rest[0]) is None:
            label, body = rest[0], rest[1:]
    label = BOLD.sub("", label).strip()
    if not label or any(_is_output(line) for line in body):
        return None  # no label, or a stray "Output:" (input and output mixed up)
    if not any(line.strip() for line in body):
        return None  # a label with no input
    return Instance(_input_text(body), label)  # "None", "N/A" are labels like any other


def _label_first(lines: list[str]) -> list[_Block] | None:
    lines = [line for line in lines if _header(line) is None]  # headers only separate blocks here
    starts = [index for index, line in enumerate(lines) if _is_class_label(line)]
    if not starts:
        return None
    preamble = lines[: starts[0]]
    if any(_is_input(line) for line in preamble) and not any(_is_output(line) for line in lines):
        return _input_first(lines, _is_class_label)  # "Input: ... / Class label: ...": input first
    ends = [*starts[1:], len(lines)]
    return [_label_block(lines[start:end]) for start, end in zip(starts, ends, strict=True)]


_DIGITS = re.compile(r"\d+")


def _shape(line: str) -> str:
    """A line compared as an opener: stripped, lower-case, numbers masked (``Example 2`` ~ ``Example 3``)."""
    return _DIGITS.sub("#", line.strip().lower())


def _letters(text: str) -> int:
    return sum(char.isalpha() for char in text)


def _openers(lines: list[str], label_first: bool) -> tuple[list[tuple[int, str]], list[str]]:
    """Where and how this answer opens its blocks (header lines, or the label its blocks start
    with), and the openings of its other field lines."""
    headers = [
        (index, line[: match.start("rest")])
        for index, line in enumerate(lines)
        if (match := _HEADER.match(line)) is not None and _header(line) is not None
    ]
    on_header = {index for index, _ in headers}
    fields = [
        (index, found)
        for index, line in enumerate(lines)
        if index not in on_header and (found := read_field(line)) is not None
    ]
    keys: set[str] = set()
    if headers:
        pass  # blocks open with their headers only
    elif label_first and any(found.key in ("class label", "label") for _, found in fields):
        keys = {"class label", "label"}
    else:
        first = next((read_field(line) for line in lines if line.strip()), None)
        keys = {"input"} | ({first.key} if first is not None else set())
        if any(found.key != "output" for _, found in fields):
            keys.discard("output")  # outputs open blocks only in answers made of outputs alone
    openers = sorted([*headers, *((index, found.opening) for index, found in fields if found.key in keys)])
    others = [found.opening for _, found in fields if found.key not in keys]
    return openers, others


def _ends_in_cut_opener(lines: list[str], label_first: bool) -> bool:
    """Whether the last line is the start of the next block's opener, cut by ``max_tokens``.

    ``...Output: b`` / ``Exam`` (headers), ``Sent`` (blocks opened by ``Sentence:``), ``Class lab``:
    the model had finished the block before. The line must begin like an opener *this* answer uses,
    with at least three of its letters, and like none of its other labels (``Cla`` may be ``Claim:``);
    it must follow a blank line unless this answer runs its blocks together. Otherwise the last
    block is taken as cut, and dropped.
    """
    if not lines or not lines[-1].strip():
        return False
    tail = _shape(lines[-1])
    openers, others = _openers(lines[:-1], label_first)
    if any(_shape(other).startswith(tail) for other in others):
        return False  # could be the next field of the last block
    if not any(
        shape.startswith(tail) and _letters(tail) >= min(3, _letters(shape))
        for shape in {_shape(opening) for _, opening in openers}
    ):
        return False
    if len(lines) > 1 and lines[-2].strip():
        return any(index > 0 and lines[index - 1].strip() for index, _ in openers[1:])
    return True


def _prepare(text: str) -> tuple[list[str], bool]:
    """The answer's lines without chat framing; and whether it went on to another task (cut there)."""
    lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if not is_rule(line)]
    start = 0
    while start < len(lines):
        line = lines[start]
        found = read_field(line)
        if not line.strip() or _is_task(line) or (is_chatter(line) and not (found and found.rest)):
            start += 1  # blank, an echoed "Task:" line, or a preamble ("Sure! Here are examples:")
        else:
            break
    lines = lines[start:]
    cut = False
    for index, line in enumerate(lines):
        if _is_task(line):
            lines, cut = lines[:index], True  # the model went on to write another task
            break
    last = max((i for i, line in enumerate(lines) if _is_output(line) or _is_class_label(line)), default=-1)
    for index in range(last + 1, len(lines) - 1):
        if not lines[index].strip() and is_chatter(lines[index + 1]):
            lines = lines[:index]  # a sign-off ("Let me know if you need more!")
            break
    return lines, cut


def parse_instances(
    text: str | None, *, label_first: bool, finish_reason: str | None = None, limit: int | None = None
) -> ParsedInstances:
    """Read instances from an answer in the input-first or label-first (classification) form.

    Args:
        text: the model's answer.
        label_first: the answer was asked for label first (``Class label:``, then the input).
        finish_reason: ``"length"`` means ``max_tokens`` cut the answer: its last, incomplete block
            is dropped and counted as ``truncated`` (an input not answered yet, a cut output, or a
            cut ``Exam``/``Sent``/``Class lab`` opener, which leaves the block before it whole),
            unless the answer had already gone on to another task, which is cut off instead.
        limit: keep only the first instances.

    Returns:
        The instances in order, and the blocks dropped, counted by reason.
    """
    parsed = ParsedInstances()
    if not text or not text.strip():
        parsed.rejected["truncated" if finish_reason == "length" else "no_examples"] += 1
        return parsed
    lines, cut = _prepare(text)
    at_cut = finish_reason == "length" and not cut
    if at_cut:
        lines = _trim(lines)  # "Example 2\n" cut after its newline is still a cut opener
    # The last block's opener cut in its first line ("Exam"): the block before it is complete.
    opened = at_cut and _ends_in_cut_opener(lines, label_first)
    if opened:
        lines = lines[:-1]
    blocks = _label_first(lines) if label_first else None
    if blocks is None:
        blocks = _input_first(lines)
    if not blocks:
        parsed.rejected["truncated" if at_cut else "no_examples"] += 1
        return parsed
    if at_cut:
        # Exactly one block is incomplete: the last one (an input not yet answered, a cut output),
        # or, when the cut fell in a new opener, that opener (with a last block that had no output:
        # the opener may have been its ``Output:`` label).
        if not opened or blocks[-1] is None:
            blocks.pop()
        parsed.rejected["truncated"] += 1
    good = [block for block in blocks if block is not None]
    if len(good) < len(blocks):
        parsed.rejected["malformed"] += len(blocks) - len(good)
    parsed.instances = good[:limit] if limit is not None else good
    return parsed
