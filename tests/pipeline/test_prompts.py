"""Prompt builders: the shapes each stage needs, in completion and chat forms."""

from __future__ import annotations

from pathlib import Path

from selfinstruct.pipeline import prompts
from selfinstruct.pipeline.parse import parse_instances, parse_instructions
from selfinstruct.pipeline.seeds import load_classification_examples, load_instance_examples

DEMOS = [f"Task number {i} about something different." for i in range(1, 9)]


def test_bootstrap_prompt_is_numbered_and_ends_with_next_number() -> None:
    """The completion prompt numbers the 8 demos 1..8 under one header and ends in '9.'."""
    text = prompts.bootstrap_prompt(DEMOS)
    lines = text.split("\n")
    assert lines[0] == prompts.BOOTSTRAP_HEADER
    assert lines[1:9] == [f"{i}. {d}" for i, d in enumerate(DEMOS, start=1)]
    assert lines[9] == "9."


def test_classification_only_header() -> None:
    """Classification-only bootstrap uses its own header that asks for labels."""
    assert prompts.bootstrap_prompt(DEMOS, classification_only=True).startswith(
        prompts.CLASSIFICATION_ONLY_HEADER
    )
    assert "labels" in prompts.bootstrap_messages(DEMOS, classification_only=True)[-1]["content"]


def test_bootstrap_params_follow_the_paper() -> None:
    """Sampling: temperature 0.7, top_p 0.5, presence penalty 2, 1024 tokens, stop at a blank line or 16."""
    params = prompts.bootstrap_params(chat=False)
    assert (params["temperature"], params["top_p"], params["presence_penalty"], params["max_tokens"]) == (
        0.7,
        0.5,
        2.0,
        1024,
    )
    assert "\n\n" in params["stop"]
    assert any("16" in s for s in params["stop"])
    assert "\n\n" not in prompts.bootstrap_params(chat=True)["stop"]


def test_chat_bootstrap_asks_for_continuation() -> None:
    """The chat form shows the numbered list and asks for items 9 to 16; compact is one short message."""
    messages = prompts.bootstrap_messages(DEMOS)
    assert messages[-1]["role"] == "user"
    assert "8. Task number 8" in messages[-1]["content"]
    assert "9 to 16" in messages[-1]["content"]
    compact = prompts.bootstrap_messages(DEMOS, compact=True)
    assert len(compact) == 1
    assert len(compact[0]["content"]) < len(messages[-1]["content"])


def test_classify_prompt_ends_with_question(data_dir: Path) -> None:
    """The identification prompt lists labelled examples and ends with the question for the new task."""
    examples = load_classification_examples(data_dir / "classification_examples.jsonl")
    text = prompts.classify_prompt(examples, "Tell if a word is a noun.")
    assert text.endswith("Task: Tell if a word is a noun.\nIs it classification?")
    assert text.count("Is it classification? Yes") == sum(e.is_classification for e in examples)
    assert text.count("Is it classification? No") == sum(not e.is_classification for e in examples)
    assert prompts.classify_params(chat=False)["max_tokens"] == 3


def test_instance_prompts_round_trip_through_the_parser(data_dir: Path) -> None:
    """Demos rendered input-first / label-first parse back to the same instances."""
    demos = load_instance_examples(data_dir / "instance_examples.jsonl")
    for demo in demos:
        text = prompts.instance_prompt([demo], "Next task.", is_classification=demo.is_classification)
        body = text.split("\n\n", 1)[1].split(f"Task: {demo.instruction}\n", 1)[1].split("\n\nTask:")[0]
        parsed = parse_instances(body, label_first=demo.is_classification)
        assert tuple(parsed.instances) == demo.instances, demo.instruction


def test_bootstrap_prompt_round_trip() -> None:
    """The demos of a bootstrap prompt parse back from its own text (as an echo would)."""
    text = prompts.bootstrap_prompt(DEMOS).split("\n", 1)[1].rsplit("\n", 1)[0]
    assert parse_instructions(text).items == DEMOS
