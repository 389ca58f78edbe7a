"""A corpus of real answer shapes with the exact instances expected, and round-trip properties."""

from __future__ import annotations

import string
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.pipeline import prompts
from selfinstruct.pipeline._markup import EMPTY_MARKERS, is_chatter, is_rule, read_field
from selfinstruct.pipeline.instance_parser import _header
from selfinstruct.pipeline.parse import parse_instances, parse_instructions
from selfinstruct.pipeline.seeds import Instance
from selfinstruct.testing.fake_model import FakeModel

# (text, label_first, finish_reason, instances, rejected)
SHAPES = [
    # -- the paper's demo shapes: task-named fields, kept as part of the input ----------------------
    pytest.param(
        "Example 1\nSentence: The tea was great.\nOutput: yes",
        False,
        None,
        [Instance("Sentence: The tea was great.", "yes")],
        {},
        id="paper-sentence-field",
    ),
    pytest.param(
        "Example 1\nParagraph: Dr. No is a novel by Ian Fleming, set in Jamaica.\n"
        "Output: Jamaica\nExample 2\nParagraph: The Rhine flows through Germany and France.\n"
        "Output: Germany, France",
        False,
        None,
        [
            Instance("Paragraph: Dr. No is a novel by Ian Fleming, set in Jamaica.", "Jamaica"),
            Instance("Paragraph: The Rhine flows through Germany and France.", "Germany, France"),
        ],
        {},
        id="paper-paragraph-no-blank-lines",
    ),
    pytest.param(
        "Example 1\nQuestion: Which planet is largest?\nOptions: (A) Mars (B) Jupiter (C) Venus\nOutput: (B)",
        False,
        None,
        [Instance("Question: Which planet is largest?\nOptions: (A) Mars (B) Jupiter (C) Venus", "(B)")],
        {},
        id="paper-question-and-options",
    ),
    pytest.param(
        "Example 1\nList: [10, 92, 2, 5]\nOutput: [2, 5, 10, 92]\nExample 2\nList: [9, -5]\nOutput: [-5, 9]",
        False,
        None,
        [Instance("List: [10, 92, 2, 5]", "[2, 5, 10, 92]"), Instance("List: [9, -5]", "[-5, 9]")],
        {},
        id="paper-list",
    ),
    pytest.param(
        "Email: Check out our amazing new sale!\nOutput: Promotion\n\n"
        "Email: We hope you are doing well.\nOutput: Not promotion",
        False,
        None,
        [
            Instance("Email: Check out our amazing new sale!", "Promotion"),
            Instance("Email: We hope you are doing well.", "Not promotion"),
        ],
        {},
        id="paper-fields-without-headers",
    ),
    pytest.param(
        "Example 1\nDialogue:\n- Agent: Thank you for your email.\n- Customer: My order is late again.\n"
        "Output: Unsatisfied",
        False,
        None,
        [
            Instance(
                "Dialogue:\n- Agent: Thank you for your email.\n- Customer: My order is late again.",
                "Unsatisfied",
            )
        ],
        {},
        id="paper-multiline-dialogue",
    ),
    pytest.param(
        "Output: Hi Sam,\nThank you for the offer. I have decided to accept another role.\nBest, Kim",
        False,
        None,
        [Instance("", "Hi Sam,\nThank you for the offer. I have decided to accept another role.\nBest, Kim")],
        {},
        id="paper-no-input-output-only",
    ),
    pytest.param(
        "Output:\n- Lying leg raises\n- Plank\n- Mountain climbers",
        False,
        None,
        [Instance("", "- Lying leg raises\n- Plank\n- Mountain climbers")],
        {},
        id="paper-output-on-next-lines",
    ),
    pytest.param(
        "Output: Murder at the Muffin Shop\n\nOutput: The Case of the Missing Teapot",
        False,
        None,
        [Instance("", "Murder at the Muffin Shop"), Instance("", "The Case of the Missing Teapot")],
        {},
        id="outputs-only-several",
    ),
    pytest.param(
        "Output: A poem about rain.\n\nSentence: The sky is grey.\nOutput: The sky is gray.",
        False,
        None,
        [Instance("", "A poem about rain."), Instance("Sentence: The sky is grey.", "The sky is gray.")],
        {},
        id="mixed-empty-then-field",
    ),
    pytest.param(
        "Class label: mixed\nSentence: I enjoy the food but the service is slow.\n"
        "Class label: Positive\nSentence: I had a great day today.",
        True,
        None,
        [
            Instance("Sentence: I enjoy the food but the service is slow.", "mixed"),
            Instance("Sentence: I had a great day today.", "Positive"),
        ],
        {},
        id="paper-label-first-sentence",
    ),
    pytest.param(
        "Class label: Unsupport\nDocument: Stocks fell 3% on Monday.\nClaim: The market recovered.\n"
        "Class label: Support\nDocument: Rain fell all week.\nClaim: It was a wet week.",
        True,
        None,
        [
            Instance("Document: Stocks fell 3% on Monday.\nClaim: The market recovered.", "Unsupport"),
            Instance("Document: Rain fell all week.\nClaim: It was a wet week.", "Support"),
        ],
        {},
        id="paper-label-first-two-fields",
    ),
    pytest.param(
        "Class label: true\nCode:\ndef f(x)\n    return x\n\nClass label: false\nCode:\nprint(1)",
        True,
        None,
        [Instance("Code:\ndef f(x)\n    return x", "true"), Instance("Code:\nprint(1)", "false")],
        {},
        id="label-first-multiline-code",
    ),
    # -- our prompt's own shape, and what chat models wrap it in -----------------------------------
    pytest.param(
        "Example 1\nInput: 20 C\nOutput: 68 F\n\nExample 2\nInput: (none)\nOutput: Water boils at 100 C.",
        False,
        None,
        [Instance("20 C", "68 F"), Instance("", "Water boils at 100 C.")],
        {},
        id="prompt-shape",
    ),
    pytest.param(
        "Sure! Here are three examples for this task:\n\n**Example 1:**\n**Input:** hello\n"
        "**Output:** HELLO\n\n**Example 2:**\n**Input:** bye\n**Output:** BYE\n\n"
        "I hope these examples help! Let me know if you need more.",
        False,
        None,
        [Instance("hello", "HELLO"), Instance("bye", "BYE")],
        {},
        id="chat-preamble-bold-signoff",
    ),
    pytest.param(
        "### Example 1\n- **Sentence:** The soup was cold.\n- **Output:** negative\n\n"
        "### Example 2\n- **Sentence:** Lovely staff.\n- **Output:** positive",
        False,
        None,
        [
            Instance("Sentence: The soup was cold.", "negative"),
            Instance("Sentence: Lovely staff.", "positive"),
        ],
        {},
        id="markdown-bullets-bold-field",
    ),
    pytest.param(
        "1. Input: cat\n   Output: cats\n2. Input: mouse\n   Output: mice",
        False,
        None,
        [Instance("cat", "cats"), Instance("mouse", "mice")],
        {},
        id="numbered-examples",
    ),
    pytest.param(
        "Input 1: cat\nOutput 1: cats\nInput 2: mouse\nOutput 2: mice",
        False,
        None,
        [Instance("cat", "cats"), Instance("mouse", "mice")],
        {},
        id="numbered-labels",
    ),
    pytest.param(
        "Example 1: Sentence: The tea was great.\nOutput: yes\nExample 2: Sentence: Awful.\nOutput: no",
        False,
        None,
        [Instance("Sentence: The tea was great.", "yes"), Instance("Sentence: Awful.", "no")],
        {},
        id="header-and-field-on-one-line",
    ),
    pytest.param(
        "Example 1\nInput: N/A\nOutput: a\n\nExample 2\nInput: None\nOutput: b\n\nExample 3\n"
        "Input: No input needed\nOutput: c\n\nExample 4\nSentence: (none)\nOutput: d",
        False,
        None,
        [Instance("", "a"), Instance("", "b"), Instance("", "c"), Instance("", "d")],
        {},
        id="empty-input-markers",
    ),
    pytest.param(
        "Task: Sort the list.\nExample 1\nList: [3, 1, 2]\nOutput: [1, 2, 3]\n\n"
        "Task: Write a poem about spring.\nExample 1\nOutput: Buds",
        False,
        "length",
        [Instance("List: [3, 1, 2]", "[1, 2, 3]")],
        {},
        id="echoed-task-and-next-task-cut",
    ),
    pytest.param(
        "The tea was great.\nOutput: positive\nThe soup was cold.\nOutput: negative",
        False,
        None,
        [Instance("The tea was great.", "positive"), Instance("The soup was cold.", "negative")],
        {},
        id="unlabelled-inputs",
    ),
    pytest.param(
        "```\nExample 1\nInput: 2, 4\nOutput: 6\n```",
        False,
        None,
        [Instance("2, 4", "6")],
        {},
        id="code-fence",
    ),
    pytest.param(
        "Input: cat\nOutput: cats\n\nNote: the plural adds an s.",
        False,
        None,
        [Instance("cat", "cats")],
        {},
        id="trailing-note",
    ),
    pytest.param(
        "Example 1\nSentence: Good.\nOutput: positive\n\nExample 2\nSentence: Bad.\nOutput: neg",
        False,
        "length",
        [Instance("Sentence: Good.", "positive")],
        {"truncated": 1},
        id="truncated-at-max-tokens",
    ),
    pytest.param(
        "Example 1\nSentence: Good.\nOutput: positive\n\nExample 2\nSentence: Bad.",
        False,
        None,
        [Instance("Sentence: Good.", "positive")],
        {"malformed": 1},
        id="block-without-output",
    ),
    pytest.param(
        "I'm sorry, I can't write examples for that.", False, None, [], {"no_examples": 1}, id="refusal"
    ),
    # -- label-first slips ------------------------------------------------------------------------
    pytest.param(
        "Class label: Product A\nInput: 2017 Toyota Corolla\nOutput: Product B",
        True,
        None,
        [],
        {"malformed": 1},
        id="label-first-stray-output",
    ),
    pytest.param(
        "Example 1\nClass label: Positive\nSentence: Good.\n\n"
        "Example 2\nClass label: Negative\nSentence: Bad.",
        True,
        None,
        [Instance("Sentence: Good.", "Positive"), Instance("Sentence: Bad.", "Negative")],
        {},
        id="label-first-with-example-headers",
    ),
    pytest.param(
        "Class label:\nPositive\nInput: I loved it.",
        True,
        None,
        [Instance("I loved it.", "Positive")],
        {},
        id="label-on-next-line",
    ),
    pytest.param(
        "Input: x marks the spot\nClass label: A\nInput: y is a letter\nClass label: B",
        True,
        None,
        [Instance("x marks the spot", "A"), Instance("y is a letter", "B")],
        {},
        id="label-first-asked-input-first-given",
    ),
    pytest.param(
        "Input: The movie was dull.\nOutput: Negative\n\nInput: What a ride!\nOutput: Positive",
        True,
        None,
        [Instance("The movie was dull.", "Negative"), Instance("What a ride!", "Positive")],
        {},
        id="label-first-asked-input-output-given",
    ),
    pytest.param(
        "Class label: Spam\nEmail: Win money now\n\nClass label: Not spam\nEmail: Lunch at 1?\n\n"
        "Class label: Spam",
        True,
        "length",
        [Instance("Email: Win money now", "Spam"), Instance("Email: Lunch at 1?", "Not spam")],
        {"truncated": 1},
        id="label-first-truncated",
    ),
    # -- labels are whatever the Class label: line says, even words that mean "empty" elsewhere -----
    pytest.param(
        "Class label: None\nSentence: The report has no errors.\n\nClass label: N/A\nSentence: Hi.\n\n"
        "Class label: NULL\nInput: x = null",
        True,
        None,
        [
            Instance("Sentence: The report has no errors.", "None"),
            Instance("Sentence: Hi.", "N/A"),
            Instance("x = null", "NULL"),
        ],
        {},
        id="label-first-empty-words-are-labels",
    ),
    # -- cut by max_tokens: exactly the last incomplete block goes, counted as truncated ------------
    pytest.param(
        "Sentence: Good.\nOutput: positive\n\nSentence: Bad food.",
        False,
        "length",
        [Instance("Sentence: Good.", "positive")],
        {"truncated": 1},
        id="cut-next-input-unanswered",
    ),
    pytest.param(
        "Input: 2, 3\nOutput: 5\nInput: 4, 4",
        False,
        None,
        [Instance("2, 3", "5")],
        {"malformed": 1},
        id="next-input-unanswered-not-glued-to-output",
    ),
    pytest.param(
        "Example 1\nInput: cat\nOutput: cats\n\nExam",
        False,
        "length",
        [Instance("cat", "cats")],
        {"truncated": 1},
        id="cut-in-header",
    ),
    pytest.param(
        "**Example 1:**\n**Input:** cat\n**Output:** cats\n\n**Example 2:**\n",
        False,
        "length",
        [Instance("cat", "cats")],
        {"truncated": 1},
        id="cut-after-whole-header",
    ),
    pytest.param(
        "Sentence: Good.\nOutput: positive\n\nSent",
        False,
        "length",
        [Instance("Sentence: Good.", "positive")],
        {"truncated": 1},
        id="cut-in-field-label",
    ),
    pytest.param(
        "Output: Murder at the Muffin Shop\n\nOutp",
        False,
        "length",
        [Instance("", "Murder at the Muffin Shop")],
        {"truncated": 1},
        id="cut-in-output-label-outputs-only",
    ),
    pytest.param(
        "Class label: Spam\nEmail: Win money now\n\nClass lab",
        True,
        "length",
        [Instance("Email: Win money now", "Spam")],
        {"truncated": 1},
        id="cut-in-class-label",
    ),
    pytest.param(
        "Sentence: Good.\nOutput: positive\nExam",
        False,
        "length",
        [],
        {"truncated": 1},
        id="cut-output-ending-like-a-header-of-another-kind",
    ),
    pytest.param(
        "Example 1\nInput: cat\nOutput: It is\nIn",
        False,
        "length",
        [],
        {"truncated": 1},
        id="cut-output-ending-in-short-word",
    ),
    pytest.param("Exam", False, "length", [], {"truncated": 1}, id="cut-before-any-block"),
    pytest.param(
        "Class label: Support\nDocument: Rain fell all week.\nClaim: It was wet.\n"
        "Class label: Unsupport\nDocument: Stocks fell.\nCla",
        True,
        "length",
        [Instance("Document: Rain fell all week.\nClaim: It was wet.", "Support")],
        {"truncated": 1},
        id="cut-label-that-may-be-another-field",
    ),
    pytest.param(
        "Class label: Support\nDocument: Rain fell all week.\nCla",
        True,
        "length",
        [],
        {"truncated": 1},
        id="cut-label-after-a-field-line-is-ambiguous",
    ),
    pytest.param(
        "1. Sentence: The tea was great.\n   Output: yes",
        False,
        None,
        [Instance("Sentence: The tea was great.", "yes")],
        {},
        id="lone-numbered-example",
    ),
    pytest.param("", False, None, [], {"no_examples": 1}, id="empty-answer"),
    pytest.param(
        "1. Question: Which is largest?\n   Options: (A) Mars (B) Jupiter\n   Output: (B)\n"
        "2. Question: Which is red?\n   Options: (A) Mars (B) Venus\n   Output: (A)",
        False,
        None,
        [
            Instance("Question: Which is largest?\nOptions: (A) Mars (B) Jupiter", "(B)"),
            Instance("Question: Which is red?\nOptions: (A) Mars (B) Venus", "(A)"),
        ],
        {},
        id="numbered-examples-indented-fields",
    ),
    pytest.param(
        "1. Question: Which is largest?\n   Options: (A) Mars (B) Jupiter\n   Output: (B)\n\n2. Question:",
        False,
        "length",
        [Instance("Question: Which is largest?\nOptions: (A) Mars (B) Jupiter", "(B)")],
        {"truncated": 1},
        id="numbered-example-then-cut-header",
    ),
    pytest.param(
        "**Example 1**\n*Sentence:* The tea was great.\n*Output:* yes\n\n"
        "**Example 2**\n_Sentence:_ Awful.\n_Output:_ **no**",
        False,
        None,
        [Instance("Sentence: The tea was great.", "yes"), Instance("Sentence: Awful.", "**no**")],
        {},
        id="italic-labels-and-a-bold-value-kept",
    ),
]


@pytest.mark.parametrize(("text", "label_first", "finish_reason", "expected", "rejected"), SHAPES)
def test_answer_shapes(
    text: str, label_first: bool, finish_reason: str | None, expected: list[Instance], rejected: dict
) -> None:
    """Each answer shape gives exactly the instances written, and counts what it drops by reason."""
    parsed = parse_instances(text, label_first=label_first, finish_reason=finish_reason)
    assert parsed.instances == expected
    assert dict(+parsed.rejected) == rejected


def test_no_input_text_is_lost_across_the_corpus() -> None:
    """No instance of the corpus has an empty input while its answer block had input text."""
    for case in SHAPES:
        text, label_first, finish_reason, expected, _ = case.values
        for instance in parse_instances(text, label_first=label_first, finish_reason=finish_reason).instances:
            assert instance.input or instance in expected


@pytest.mark.parametrize(
    ("text", "first_number", "expected"),
    [
        pytest.param(
            "Cara Cali-Bella (The Beauty and the Beast) 2. The Big Sleeps - A Tale of Two Cities "
            "3. Write a song about the sea.",
            1,
            [
                "Cara Cali-Bella (The Beauty and the Beast)",
                "The Big Sleeps - A Tale of Two Cities",
                "Write a song about the sea.",
            ],
            id="run-together-completion",
        ),
        pytest.param(
            "9. Write a story about a fox. 10. Write a poem about rain.\n11. Name three rivers.",
            None,
            ["Write a story about a fox.", "Write a poem about rain.", "Name three rivers."],
            id="run-together-chat",
        ),
        pytest.param(
            " Split a bill of 12.50 between 3. Explain why in 2 sentences.\n10. Name a bird.",
            9,
            ["Split a bill of 12.50 between 3. Explain why in 2 sentences.", "Name a bird."],
            id="numbers-that-are-not-items-stay",
        ),
    ],
)
def test_run_together_lists_are_split(text: str, first_number: int | None, expected: list[str]) -> None:
    """Items a small model ran together on one line come back as separate instructions."""
    assert parse_instructions(text, first_number=first_number).items == expected


# -- round trips: parsing the rendering of instances gives them back ---------------------------------

_ALPHABET = string.ascii_letters + string.digits + " .,!?'()$%&"


def _line_ok(line: str) -> bool:
    return bool(line.strip()) and not (
        is_chatter(line) or is_rule(line) or read_field(line) or _header(line) is not None
    )


_line = st.text(_ALPHABET, min_size=1, max_size=40).map(str.strip).filter(_line_ok)
_text = (
    st.lists(_line, min_size=1, max_size=3)
    .map("\n".join)
    .filter(lambda t: t.lower() not in EMPTY_MARKERS and t.strip() == t)
)
_paragraphs = st.lists(_text, min_size=1, max_size=3).map("\n\n".join)
_instances = st.lists(st.builds(Instance, st.one_of(st.just(""), _text), _paragraphs), min_size=1, max_size=5)
_FIELDS = ("Sentence", "Paragraph", "Question", "Review", "Text")


def _render(instances: list[Instance], style: str, field: str) -> tuple[str, list[Instance]]:
    """An answer in one layout, and the instances a reader should get back from it."""
    blocks, expected = [], []
    for number, inst in enumerate(instances, start=1):
        if style == "prompt":
            blocks.append(f"Example {number}\nInput: {inst.input or '(none)'}\nOutput: {inst.output}")
            expected.append(inst)
        elif style == "paper":
            given_input = f"{field}: {inst.input}" if inst.input else ""
            blocks.append(
                f"Example {number}\n" + (f"{given_input}\n" if given_input else "") + f"Output: {inst.output}"
            )
            expected.append(Instance(given_input, inst.output))
        elif style == "paper-bare":
            given_input = f"{field}: {inst.input}" if inst.input else ""
            blocks.append((f"{given_input}\n" if given_input else "") + f"Output: {inst.output}")
            expected.append(Instance(given_input, inst.output))
        elif style == "bare":
            blocks.append(f"Input: {inst.input or '(none)'}\nOutput: {inst.output}")
            expected.append(inst)
        elif style == "markdown":
            blocks.append(
                f"**Example {number}:**\n- **Input:** {inst.input or 'N/A'}\n- **Output:** {inst.output}"
            )
            expected.append(inst)
    body = "\n\n".join(blocks)
    return body, expected


@settings(max_examples=150, deadline=None)
@given(
    instances=_instances,
    style=st.sampled_from(["prompt", "paper", "paper-bare", "bare", "markdown"]),
    field=st.sampled_from(_FIELDS),
    chat=st.booleans(),
)
def test_input_first_round_trip(instances: list[Instance], style: str, field: str, chat: bool) -> None:
    """Input-first renderings (any layout, with or without chat framing) parse back to their instances."""
    body, expected = _render(instances, style, field)
    if chat:
        body = f"Sure! Here are {len(instances)} examples:\n\n{body}\n\nLet me know if you need more."
    parsed = parse_instances(body, label_first=False)
    assert parsed.instances == expected
    assert not parsed.rejected


@settings(max_examples=100, deadline=None)
@given(
    pairs=st.lists(st.tuples(_text, _line), min_size=1, max_size=5),
    field=st.sampled_from(("Input", *_FIELDS)),
    bold=st.booleans(),
)
def test_label_first_round_trip(pairs: list[tuple[str, str]], field: str, bold: bool) -> None:
    """Rendering instances label first and parsing gives them back, the field label kept unless Input."""
    name = "**Class label:**" if bold else "Class label:"
    body = "\n\n".join(f"{name} {label}\n{field}: {inp}" for inp, label in pairs)
    expected = [Instance(inp if field == "Input" else f"{field}: {inp}", label) for inp, label in pairs]
    parsed = parse_instances(body, label_first=True)
    assert parsed.instances == expected
    assert not parsed.rejected


@settings(max_examples=100, deadline=None)
@given(instances=_instances)
def test_truncation_drops_exactly_the_last_block(instances: list[Instance]) -> None:
    """An answer cut by max_tokens loses its last block and nothing else, counted as truncated."""
    body, expected = _render(instances, "prompt", "Sentence")
    parsed = parse_instances(body, label_first=False, finish_reason="length")
    assert parsed.instances == expected[:-1]
    assert parsed.rejected == Counter(truncated=1)


# -- cut anywhere: a max_tokens cut never yields a wrong instance, only whole instances or fewer -----

# A last line cut after three letters of an opener this answer uses ("Exa", "Sen") is read as the
# next block's opener; generated text avoids lines starting like one, which would be ambiguous.
_OPENER_HEADS = ("exa", "inp", "out", "cla", "sen", "par", "que", "rev", "tex")
_cut_line = _line.filter(lambda line: line.lower()[:3] not in _OPENER_HEADS)
_cut_text = (
    st.lists(_cut_line, min_size=1, max_size=3)
    .map("\n".join)
    .filter(lambda t: t.lower() not in EMPTY_MARKERS and t.strip() == t)
)
_cut_instances = st.lists(
    st.builds(
        Instance,
        st.one_of(st.just(""), _cut_text),
        st.lists(_cut_text, min_size=1, max_size=2).map("\n\n".join),
    ),
    min_size=1,
    max_size=4,
)


def _check_every_cut(body: str, expected: list[Instance], block_ends: list[int], label_first: bool) -> None:
    """Each cut of ``body`` parses to a prefix of ``expected``, one block counted as truncated, and keeps
    every block whose successor's first line was written whole (``block_ends``: where blocks end)."""
    first_lines = [body.find("\n", end + 2) % (len(body) + 1) for end in block_ends[:-1]]
    for cut in range(1, len(body)):
        text = body[:cut]
        parsed = parse_instances(text, label_first=label_first, finish_reason="length")
        got = parsed.instances
        assert got == expected[: len(got)], text
        assert dict(+parsed.rejected) == {"truncated": 1}, text
        assert len(got) >= sum(cut >= line_end for line_end in first_lines), text


@settings(max_examples=60, deadline=None)
@given(
    instances=_cut_instances,
    style=st.sampled_from(["prompt", "paper", "paper-bare", "bare", "markdown"]),
    field=st.sampled_from(_FIELDS),
    chat=st.booleans(),
)
def test_cut_anywhere_input_first(instances: list[Instance], style: str, field: str, chat: bool) -> None:
    """Cutting an input-first rendering anywhere yields only whole instances, and loses no finished one."""
    preamble = "Sure! Here are some examples:\n\n" if chat else ""
    body, expected = _render(instances, style, field)
    ends = [
        len(preamble) + len(_render(instances[:k], style, field)[0]) for k in range(1, len(instances) + 1)
    ]
    if style == "paper-bare" and not instances[0].input:
        ends = ends[-1:]  # "Output: a" then "Sentence: b" cut before its output: b may join a, then both go
    _check_every_cut(preamble + body, expected, ends, label_first=False)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(_cut_text, _cut_line), min_size=1, max_size=4),
    field=st.sampled_from(("Input", *_FIELDS)),
    bold=st.booleans(),
)
def test_cut_anywhere_label_first(pairs: list[tuple[str, str]], field: str, bold: bool) -> None:
    """Cutting a label-first rendering anywhere yields only whole instances, and loses no finished one."""
    name = "**Class label:**" if bold else "Class label:"
    blocks = [f"{name} {label}\n{field}: {inp}" for inp, label in pairs]
    expected = [Instance(inp if field == "Input" else f"{field}: {inp}", label) for inp, label in pairs]
    ends = [len("\n\n".join(blocks[:k])) for k in range(1, len(blocks) + 1)]
    _check_every_cut("\n\n".join(blocks), expected, ends, label_first=True)


def test_cut_anywhere_fake_model_demo_shapes() -> None:
    """Every cut of the fake model's demo-shaped answers (all shapes, both forms) gives whole instances."""
    model = FakeModel(demo_shape_rate=1.0, truncate_rate=0.0, sloppy_rate=0.0)
    cuts = 0
    for i in range(36):
        label_first = i % 3 == 0
        task = f"Label the review {i} as positive or negative." if label_first else f"Summarize note {i}."
        body = {"prompt": prompts.instance_prompt([], task, is_classification=label_first)}
        text = model("completion", body)
        written = model.written_instances("completion", body)
        assert isinstance(text, str)
        assert written is not None
        assert parse_instances(text, label_first=label_first).instances == written[1]
        for cut in range(1, len(text), 3):
            got = parse_instances(text[:cut], label_first=label_first, finish_reason="length").instances
            assert got == written[1][: len(got)], text[:cut]
            cuts += 1
    assert cuts > 2000
