"""Line-level markup of model answers: field labels, markdown bold and bullets, chatter, empty markers.

The parsers read answers line by line; this module says what a line *is* (a ``Label: value`` field,
an example header, a chat-model pleasantry) so that both parsers agree on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BOLD",
    "EMPTY_MARKERS",
    "Field",
    "is_chatter",
    "is_rule",
    "norm_label",
    "read_field",
]

BOLD = re.compile(r"(\*\*|__)")
# Markdown around a label: bold or italic ("**Input:** x", "*Input*: x"); the marker closing it
# touches the colon, so "Output: **Yes**" keeps its value whole.
_OPEN = r"(?:\*\*|__|\*(?=\S)|_)?"
_CLOSE = r"(?:\*\*|__|\*|_)?"
# "Label: value", "**Label:** value", "- **Label**: value", "1. Label: value". A label is one to four
# words that start with a letter ("Sentence", "Class label", "Input 2", "Input 2 - List"); the colon
# must not be part of a time or a URL ("10:30", "http://").
_FIELD = re.compile(
    rf"""^(?P<indent>[ \t]*)(?P<bullet>[-*•+][ \t]+)?(?P<num>\(?\d{{1,2}}[.)][ \t]+)?{_OPEN}[ \t]*
    (?P<label>[A-Za-z][\w'/&()]*(?:[ \t]+[\w'/&()-]+){{0,3}}?)
    [ \t]*{_CLOSE}[ \t]*:(?![/\d]){_CLOSE}[ \t]*(?P<rest>.*)$""",
    re.VERBOSE,
)
_LABEL_NOISE = re.compile(r"[\s\d#-]+")
_CHATTER = re.compile(
    r"""^[ \t]*(?:[#>*_]+[ \t]*)?(?:
        sure|certainly|of\ course|okay|ok|absolutely|alright|great|no\ problem|gladly|
        here\ (?:are|is|you\ go)|below\ (?:are|is)|the\ following|following\ are|
        i\ hope|hope\ (?:this|these|that)|let\ me\ know|feel\ free|please\ let|
        (?:these|those|the\ above)\ (?:examples?|instances?|are|should|cover|show|illustrate)|
        (?:this|each|every)\ example|in\ (?:each|every|all|these)\ (?:of\ )?(?:the\ )?examples?|
        note\b|i'?ve\ |i\ have\ |i\ can\ |i'?m\ |would\ you\ like|as\ requested|happy\ to|glad\ to|
        examples?[ \t]*:?[ \t]*$
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_RULE = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,}|={3,}|```[\w-]*)[ \t]*$")

#: Values that mean "no input" (the prompt shows ``(none)``; models write their own variants).
EMPTY_MARKERS = frozenset(
    {
        "",
        "(none)",
        "none",
        "none.",
        "[none]",
        "<none>",
        "n/a",
        "(n/a)",
        "na",
        "-",
        "<noinput>",
        "<no input>",
        "no input",
        "no input.",
        "(no input)",
        "no input needed",
        "(no input needed)",
        "not applicable",
        "(empty)",
        "empty",
        "null",
    }
)


@dataclass(frozen=True)
class Field:
    """A ``Label: value`` line: the label as written, its normalized form, and the value."""

    label: str
    key: str
    rest: str
    marked: bool  # written with markdown (bold label or a bullet before a bold label)
    opening: str = ""  # the line up to its value ("- **Sentence:** "): what opens such a field


def norm_label(label: str) -> str:
    """``"Input 2"``, ``"**Class Label**"`` -> ``"input"``, ``"class label"``: the form labels compare in."""
    return _LABEL_NOISE.sub(" ", BOLD.sub("", label)).strip().lower()


def read_field(line: str) -> Field | None:
    """The line as a ``Label: value`` field, or ``None`` when it is not one."""
    match = _FIELD.match(line)
    if match is None:
        return None
    head = line[: match.start("rest")]
    start = max(match.end(name) for name in ("indent", "bullet", "num") if match.group(name) is not None)
    # Markers around the label, not inside it ("user_id" is a plain label).
    around = line[start : match.start("label")] + line[match.end("label") : match.start("rest")]
    return Field(
        label=match.group("label").strip(),
        key=norm_label(match.group("label")),
        rest=match.group("rest").strip(),
        marked=bool(BOLD.search(head)) or "*" in around or "_" in around,
        opening=head,
    )


def is_chatter(line: str) -> bool:
    """A chat model's pleasantry or comment ("Sure! Here are...", "I hope these help", "Note: ...")."""
    return _CHATTER.match(line) is not None


def is_rule(line: str) -> bool:
    """A markdown horizontal rule or code fence: layout, never content."""
    return _RULE.match(line) is not None
