"""Instruction and instance filters: each rejection has a named reason."""

from __future__ import annotations

from collections import Counter

import pytest

from selfinstruct.errors import ConfigError
from selfinstruct.pipeline.filters import InstructionFilter, filter_instances
from selfinstruct.pipeline.seeds import Instance


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        pytest.param("Explain how a rainbow forms.", None, id="ok"),
        pytest.param("Tell a joke.", "too_short", id="three-words"),
        pytest.param("Define photosynthesis please now", None, id="four-words-ok"),
        pytest.param("word " * 151, "too_long", id="151-words"),
        pytest.param("Describe the image of a sunset over the sea.", "blacklist", id="image"),
        pytest.param("Create a graph of monthly sales figures.", "blacklist", id="graph"),
        pytest.param("Tell me how to go to the station from here.", "blacklist", id="phrase-go-to"),
        pytest.param("Tell me how to   go   to the station.", "blacklist", id="phrase-extra-spaces"),
        pytest.param("Summarize the FILES in the folder.", "blacklist", id="case-insensitive"),
        pytest.param("Explain the mapping between keys and values.", None, id="map-inside-word-ok"),
        pytest.param("Describe a typical plotline of a mystery novel.", None, id="plot-inside-word-ok"),
        pytest.param("Write a program that reverses a string.", "write_a_program", id="write-a-program"),
        pytest.param("write a program to sort numbers quickly", "write_a_program", id="lowercase-program"),
        pytest.param('"Explain gravity to a ten-year-old."', "punctuation_start", id="quote-start"),
        pytest.param("- Give three tips for sleeping better.", "punctuation_start", id="dash-start"),
        pytest.param("¿Cómo se dice hola en inglés?", "non_ascii_start", id="non-ascii-start"),
        pytest.param("   ", "empty", id="blank"),
    ],
)
def test_instruction_filter_reason(instruction: str, reason: str | None) -> None:
    """Each heuristic rejects exactly what the method says, with a named reason."""
    assert InstructionFilter().reason(instruction) == reason


def test_non_ascii_start_can_be_turned_off() -> None:
    """With ascii_start=False (unicode tokenizer) a non-English instruction passes."""
    assert InstructionFilter(ascii_start=False).reason("Écris un poème sur la mer du Nord.") is None


def test_split_counts_by_reason() -> None:
    """split keeps passing instructions in order and counts every rejection."""
    counts: Counter[str] = Counter()
    kept = InstructionFilter().split(
        [
            "Draw a cat sitting on a mat.",
            "Explain how a rainbow forms.",
            "Hi there.",
            "Plot the data on a chart.",
        ],
        counts,
    )
    assert kept == ["Explain how a rainbow forms."]
    assert counts == Counter({"blacklist": 2, "too_short": 1})


def test_bad_filter_settings_are_rejected() -> None:
    """min_words above max_words is a configuration error."""
    with pytest.raises(ValueError, match="min_words"):
        InstructionFilter(min_words=10, max_words=5)
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("instances", "kept", "dropped"),
    [
        pytest.param([Instance("a", "b")], [Instance("a", "b")], {}, id="ok"),
        pytest.param([Instance("a", "  ")], [], {"empty_output": 1}, id="empty-output"),
        pytest.param([Instance("same", "same")], [], {"input_equals_output": 1}, id="input-equals-output"),
        pytest.param([Instance("Name:", "Bob")], [], {"ends_with_colon": 1}, id="input-colon"),
        pytest.param([Instance("", "Answer:")], [], {"ends_with_colon": 1}, id="output-colon"),
        pytest.param(
            [Instance("x", "y"), Instance("x", "y")], [Instance("x", "y")], {"duplicate": 1}, id="duplicate"
        ),
        pytest.param(
            [Instance("2+2", "4"), Instance("3+3", "6"), Instance("2+2", "5")],
            [],
            {"conflict": 3},
            id="conflict-drops-all",
        ),
        pytest.param(
            [Instance("", "A poem."), Instance("", "Another poem.")],
            [Instance("", "A poem."), Instance("", "Another poem.")],
            {},
            id="empty-inputs-may-differ",
        ),
    ],
)
def test_filter_instances(instances: list[Instance], kept: list[Instance], dropped: dict[str, int]) -> None:
    """Instance filters drop bad, duplicate and conflicting instances with counted reasons."""
    result = filter_instances(instances)
    assert list(result.instances) == kept
    assert dict(result.dropped) == dropped
