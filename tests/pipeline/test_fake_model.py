"""The fake model answers each stage like a real model: parseable, varied, with realistic slips."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from selfinstruct.dedup import NoveltyIndex
from selfinstruct.pipeline import prompts
from selfinstruct.pipeline.filters import InstructionFilter
from selfinstruct.pipeline.parse import parse_instances, parse_instructions, parse_yes_no
from selfinstruct.pipeline.seeds import load_classification_examples, load_seed_tasks
from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeReply


def _text(answer: str | FakeReply) -> tuple[str, str]:
    return (answer, "stop") if isinstance(answer, str) else (answer.text, answer.finish_reason)


def _bootstrap_items(model: FakeModel, seeds: list[str], prompts_n: int, chat: bool) -> list[str]:
    rng = random.Random(0)
    items: list[str] = []
    for _ in range(prompts_n):
        demos = rng.sample(seeds, 8)
        if chat:
            text, reason = _text(model("chat", {"messages": prompts.bootstrap_messages(demos)}))
            items += parse_instructions(text, finish_reason=reason, demos=demos).items
        else:
            text, reason = _text(model("completion", {"prompt": prompts.bootstrap_prompt(demos)}))
            items += parse_instructions(text, first_number=9, finish_reason=reason, demos=demos).items
    return items


def test_same_request_same_answer_and_seed_changes_it() -> None:
    """Answers are a pure function of the body and the seed."""
    body = {"prompt": prompts.bootstrap_prompt([f"Task {i} is here." for i in range(8)])}
    assert FakeModel()("completion", body) == FakeModel()("completion", body)
    assert FakeModel(seed=1)("completion", body) != FakeModel()("completion", body)


def test_bootstrap_answers_have_realistic_shares(data_dir: Path) -> None:
    """List answers parse, and contain filter hits and near-duplicates in realistic (not trivial) shares."""
    seeds = [t.instruction for t in load_seed_tasks(data_dir / "seed_tasks.jsonl")]
    items = _bootstrap_items(FakeModel(), seeds, 150, chat=False)
    assert len(items) > 600
    reasons = Counter(InstructionFilter().reason(i) for i in items)
    filtered = sum(c for r, c in reasons.items() if r is not None) / len(items)
    assert 0.04 < filtered < 0.2
    assert {"blacklist", "too_short", "write_a_program"} <= reasons.keys()
    index = NoveltyIndex(threshold=0.7)
    for seed in seeds:
        index.add(seed)
    passed = [i for i in items if reasons and InstructionFilter().reason(i) is None]
    similar = sum(not m.novel for m in index.check_batch(passed)) / len(passed)
    assert 0.08 < similar < 0.5  # near-duplicates exist, but most wording is new
    assert len(set(items)) > 0.8 * len(items)


def test_chat_answers_parse_despite_chatter(data_dir: Path) -> None:
    """Chat list answers (preambles, bold, bullets, echoes) still yield many instructions."""
    seeds = [t.instruction for t in load_seed_tasks(data_dir / "seed_tasks.jsonl")]
    items = _bootstrap_items(FakeModel(sloppy_rate=0.5), seeds, 60, chat=True)
    assert len(items) > 200
    assert not any(i.startswith(("**", "Sure", "Instruction:")) for i in items)


def test_classification_answers(data_dir: Path) -> None:
    """Identification answers are mostly clean Yes/No that match the task's kind."""
    examples = load_classification_examples(data_dir / "classification_examples.jsonl")
    model = FakeModel()
    answers = [
        parse_yes_no(_text(model("completion", {"prompt": prompts.classify_prompt(examples, task)}))[0])
        for task in [f"Classify the review number {i} as positive or negative." for i in range(40)]
    ]
    assert answers.count(True) > 30
    assert None in answers or answers.count(True) < 40  # some slips, as a real model makes


def test_instance_answers_parse(data_dir: Path) -> None:
    """Instance answers parse in both layouts, with occasional sloppy blocks."""
    model = FakeModel()
    got = Counter[str]()
    for i in range(60):
        clf = i % 3 == 0
        task = (
            f"Label the sentiment of review {i} as positive or negative." if clf else f"Summarize note {i}."
        )
        text, reason = _text(
            model("completion", {"prompt": prompts.instance_prompt([], task, is_classification=clf)})
        )
        parsed = parse_instances(text, label_first=clf, finish_reason=reason)
        got["parsed"] += bool(parsed.instances)
        if clf:
            got["labels_ok"] += all(x.output in ("Positive", "Negative") for x in parsed.instances)
    assert got["parsed"] >= 55
    assert got["labels_ok"] >= 18


def test_demo_shaped_instance_answers_parse_to_what_was_written() -> None:
    """Answers in the paper's demo shapes parse to exactly the instances the model wrote, in all shapes."""
    model = FakeModel(demo_shape_rate=1.0, truncate_rate=0.2)
    got = Counter[str]()
    for i in range(240):
        clf = i % 3 == 0
        task = f"Label the review {i} as positive or negative." if clf else f"Summarize note {i} about tea."
        if i % 2:
            kind = "chat"
            body: dict = {
                "messages": prompts.instance_messages([], task, is_classification=clf, max_instances=5)
            }
        else:
            kind, body = "completion", {"prompt": prompts.instance_prompt([], task, is_classification=clf)}
        text, reason = _text(model(kind, body))
        written = model.written_instances(kind, body)
        assert written is not None
        assert written[0] == task
        parsed = parse_instances(text, label_first=clf, finish_reason=reason)
        assert all(instance in written[1] for instance in parsed.instances), text
        got["kept"] += len(parsed.instances)
        got["written"] += len(written[1])
        got["field inputs"] += sum(
            x.input.startswith(("Sentence:", "Question:", "Document:")) for x in parsed.instances
        )
        got["cut"] += reason == "length"
    assert got["kept"] >= 0.95 * got["written"]
    assert got["field inputs"] > 50
    assert got["cut"] > 20
    assert (
        model.written_instances("completion", {"prompt": prompts.bootstrap_prompt(["A task."] * 8)}) is None
    )
