"""Parsers for list continuations, yes/no answers and instances, on real-looking model output."""

from __future__ import annotations

import pytest

from selfinstruct.pipeline.parse import parse_instances, parse_instructions, parse_yes_no
from selfinstruct.pipeline.seeds import Instance

DEMOS = [
    "Write a haiku about autumn rain.",
    "Suggest three names for a hardware store.",
]


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        pytest.param(
            " Explain how tides work.\n10. List five uses of baking soda.\n"
            "11. Convert 5 miles to kilometers.",
            {"first_number": 9},
            ["Explain how tides work.", "List five uses of baking soda.", "Convert 5 miles to kilometers."],
            id="completion-continuation",
        ),
        pytest.param(
            "Sure! Here are some more tasks:\n\n9. Explain how tides work.\n"
            "10. List five uses of baking soda.\n\n"
            "Let me know if you need more!",
            {},
            ["Explain how tides work.", "List five uses of baking soda."],
            id="chat-preamble-and-signoff",
        ),
        pytest.param(
            "1. Write a haiku about autumn rain.\n2. Suggest three names for a hardware store.\n"
            "3. Describe a busy train station at dawn.",
            {"demos": DEMOS},
            ["Describe a busy train station at dawn."],
            id="chat-echoes-the-list",
        ),
        pytest.param(
            "9. **Plan a picnic for six people on a budget.**\n10. **Rank** the planets by size.",
            {},
            ["Plan a picnic for six people on a budget.", "Rank the planets by size."],
            id="markdown-bold",
        ),
        pytest.param(
            "- Name the capital of Peru.\n* Give two synonyms for happy.\n• Spell 'necessary' backwards.",
            {},
            ["Name the capital of Peru.", "Give two synonyms for happy.", "Spell 'necessary' backwards."],
            id="bullets",
        ),
        pytest.param(
            "9. Instruction: Summarize the article in two sentences.\n10. Task: Rewrite the email politely.\n"
            '11. "Find the odd one out in the list."',
            {},
            [
                "Summarize the article in two sentences.",
                "Rewrite the email politely.",
                "Find the odd one out in the list.",
            ],
            id="instruction-prefixes-and-quotes",
        ),
        pytest.param(
            " Translate the sentence into Spanish. Input: Good morning\n"
            "10. Sort the numbers. Output: 1, 2, 3",
            {"first_number": 9},
            ["Translate the sentence into Spanish.", "Sort the numbers."],
            id="trailing-input-output",
        ),
        pytest.param(
            " Explain recursion to a child.\n"
            "10. Write a limerick about a lazy cat.\n11. Describe the rules of",
            {"first_number": 9, "finish_reason": "length"},
            ["Explain recursion to a child.", "Write a limerick about a lazy cat."],
            id="truncated-last-item-dropped",
        ),
        pytest.param(
            " Explain recursion to a child.\n10. Describe the rules of chess.",
            {"first_number": 9, "finish_reason": "stop"},
            ["Explain recursion to a child.", "Describe the rules of chess."],
            id="stop-keeps-last-item",
        ),
        pytest.param(
            "9.\nGive three tips for public speaking.\n10) Name a mammal that lays eggs.",
            {},
            ["Give three tips for public speaking.", "Name a mammal that lays eggs."],
            id="number-alone-and-paren",
        ),
        pytest.param(
            "9. Write a short story about a lighthouse keeper\n"
            "who finds a message in a bottle.\n10. Define irony.",
            {},
            [
                "Write a short story about a lighthouse keeper who finds a message in a bottle.",
                "Define irony.",
            ],
            id="wrapped-item-joined",
        ),
        pytest.param("I'm sorry, but I can't continue this list.", {}, [], id="refusal"),
        pytest.param("", {"first_number": 9}, [], id="empty-completion"),
    ],
)
def test_parse_instructions(text: str, kwargs: dict, expected: list[str]) -> None:
    """Numbered-list continuations come back as clean instructions, whatever the model wrapped them in."""
    assert parse_instructions(text, **kwargs).items == expected


def test_parse_instructions_counts_what_it_drops() -> None:
    """Echoes, empty items and the truncated tail are counted, not silently lost."""
    parsed = parse_instructions(
        "1. Write a haiku about autumn rain.\n2. **  **\n3. Plan a garden.\n4. Describe the",
        demos=DEMOS,
        finish_reason="length",
    )
    assert (parsed.items, parsed.echoed, parsed.empty, parsed.truncated) == (["Plan a garden."], 1, 1, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(" Yes", True, id="completion-yes"),
        pytest.param(" No", False, id="completion-no"),
        pytest.param("yes.", True, id="lower-dot"),
        pytest.param("**No**", False, id="bold"),
        pytest.param("Yes, it is a classification task.", True, id="sentence"),
        pytest.param("No, the output is free text.", False, id="no-sentence"),
        pytest.param("Answer: Yes", True, id="answer-prefix"),
        pytest.param("It depends", None, id="unclear"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("Nope", None, id="not-a-word-match"),
    ],
)
def test_parse_yes_no(text: str | None, expected: bool | None) -> None:
    """Yes/No answers are read in their common shapes; anything else is None (unclear)."""
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        pytest.param(
            "Example 1\nInput: 2, 4\nOutput: 6\n\nExample 2\nInput: 10, 5\nOutput: 15",
            {},
            [Instance("2, 4", "6"), Instance("10, 5", "15")],
            id="input-first",
        ),
        pytest.param(
            "Example 1\nInput: (none)\nOutput: Roses are red.\nViolets are blue.\n\nExample 2\nInput: N/A\n"
            "Output: The sky is wide.",
            {},
            [Instance("", "Roses are red.\nViolets are blue."), Instance("", "The sky is wide.")],
            id="empty-input-markers-and-multiline",
        ),
        pytest.param(
            "Input: cat\nOutput: cats\n\nInput: mouse\nOutput: mice",
            {},
            [Instance("cat", "cats"), Instance("mouse", "mice")],
            id="no-example-headers",
        ),
        pytest.param(
            "Here are some examples:\n\n**Example 1:**\n**Input:** hello\n**Output:** HELLO\n\n"
            "### Example 2\n- **Input:** bye\n- **Output:** BYE",
            {},
            [Instance("hello", "HELLO"), Instance("bye", "BYE")],
            id="chat-markdown",
        ),
        pytest.param(
            "Output: Paris is the capital of France.",
            {},
            [Instance("", "Paris is the capital of France.")],
            id="output-only",
        ),
        pytest.param(
            "Example 1\nInput: a\nOutput: b\n\nExample 2\nInput: c\nOutput: d\n\nExample 3\nInput: e\nOut",
            {"finish_reason": "length"},
            [Instance("a", "b"), Instance("c", "d")],
            id="truncated-block-dropped",
        ),
        pytest.param(
            "Example 1\nInput: a\nOutput: b\n\nExample 2\nInput: c\nOutput: d",
            {"limit": 1},
            [Instance("a", "b")],
            id="limit",
        ),
        pytest.param(
            "Class label: Positive\nInput: I loved every minute.\n"
            "\nClass label: Negative\nInput: Never again.",
            {"label_first": True},
            [Instance("I loved every minute.", "Positive"), Instance("Never again.", "Negative")],
            id="label-first",
        ),
        pytest.param(
            "Sure!\n\n**Class label:** Spam\n**Input:** Win a free phone now\n"
            "\n**Label:** Not spam\nInput: Lunch at 1?",
            {"label_first": True},
            [Instance("Win a free phone now", "Spam"), Instance("Lunch at 1?", "Not spam")],
            id="label-first-markdown",
        ),
        pytest.param("I cannot help with that.", {}, [], id="refusal"),
        pytest.param("Class label: Positive", {"label_first": True}, [], id="label-without-input"),
    ],
)
def test_parse_instances(text: str, kwargs: dict, expected: list[Instance]) -> None:
    """Instances are read from tidy and sloppy answers in both layouts."""
    kwargs.setdefault("label_first", False)
    assert parse_instances(text, **kwargs).instances == expected


def test_parse_instances_counts_malformed_blocks() -> None:
    """A block without an Output line is counted as malformed and skipped."""
    parsed = parse_instances("Example 1\nInput: x\n\nExample 2\nInput: y\nOutput: z", label_first=False)
    assert parsed.instances == [Instance("y", "z")]
    assert parsed.malformed == 1
