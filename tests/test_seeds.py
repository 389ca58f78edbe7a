"""Checks on the shipped seed data in ``seeds/``: schema, counts, filter rules and diversity."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer

from selfinstruct.dedup import NoveltyIndex, rouge_l, similar_pairs
from selfinstruct.jsonl import iter_jsonl
from selfinstruct.pipeline.filters import InstructionFilter, filter_instances
from selfinstruct.pipeline.seeds import Instance, load_seed_tasks

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
SEED_TASKS = SEEDS_DIR / "seed_tasks.jsonl"
CLASSIFICATION_EXAMPLES = SEEDS_DIR / "classification_examples.jsonl"
INSTANCE_EXAMPLES = SEEDS_DIR / "instance_examples.jsonl"
ALL_FILES = [SEED_TASKS, CLASSIFICATION_EXAMPLES, INSTANCE_EXAMPLES]
FILE_PARAMS = [pytest.param(path, id=path.stem) for path in ALL_FILES]

# The pipeline's own checks (issue 3, stage 3) with their defaults; the seeds must pass them too.
INSTRUCTION_FILTER = InstructionFilter()
THRESHOLD = 0.7


def _load(path: Path) -> list[dict[str, Any]]:
    return [record for _, record in iter_jsonl(path)]


@pytest.fixture(scope="module")
def seeds() -> list[dict[str, Any]]:
    return _load(SEED_TASKS)


@pytest.fixture(scope="module")
def cls_examples() -> list[dict[str, Any]]:
    return _load(CLASSIFICATION_EXAMPLES)


@pytest.fixture(scope="module")
def demos() -> list[dict[str, Any]]:
    return _load(INSTANCE_EXAMPLES)


def _instructions(path: Path) -> list[str]:
    return [record["instruction"] for record in _load(path)]


def _all_strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for key, value in obj.items() for s in [key, *_all_strings(value)]]
    if isinstance(obj, list):
        return [s for item in obj for s in _all_strings(item)]
    return []


def _check_instances(instances: Any, where: str) -> list[str]:
    """Schema problems, then whatever the pipeline's instance filter would drop (it must drop nothing)."""
    problems = []
    if not isinstance(instances, list) or not instances:
        return [f"{where}: instances must be a non-empty list"]
    for k, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != {"input", "output"}:
            problems.append(f"{where}: instance {k} must have exactly 'input' and 'output'")
        elif not isinstance(instance["input"], str) or not isinstance(instance["output"], str):
            problems.append(f"{where}: instance {k} input/output must be strings")
    if problems:
        return problems
    kept = filter_instances(Instance(i["input"], i["output"]) for i in instances)
    if kept.dropped:
        problems.append(f"{where}: the pipeline's instance filter drops {dict(kept.dropped)}")
    return problems


# --- ROUGE-L: the dedup package's exact all-pairs join -----------------------------------------------


def _worst_pairs(left: list[str], right: list[str] | None = None) -> list[tuple[float, str, str]]:
    """Every pair at or above the threshold (within ``left``, or between ``left`` and ``right``)."""
    other = left if right is None else right
    hits = similar_pairs(left, right, threshold=THRESHOLD)
    return sorted(((score, left[i], other[j]) for i, j, score in hits), reverse=True)


# --- seed tasks --------------------------------------------------------------------------------------


def test_seed_task_schema(seeds: list[dict[str, Any]]) -> None:
    """Every seed line has exactly the original schema's keys with the right types and content."""
    problems = []
    keys = {"id", "name", "instruction", "instances", "is_classification"}
    for n, task in enumerate(seeds):
        where = f"line {n + 1}"
        if set(task) != keys:
            problems.append(f"{where}: keys {sorted(task)} != {sorted(keys)}")
            continue
        if not isinstance(task["name"], str) or not re.fullmatch(r"[a-z0-9]+(?:_[a-z0-9]+)*", task["name"]):
            problems.append(f"{where}: name {task['name']!r} is not snake_case")
        if not isinstance(task["instruction"], str) or not task["instruction"].strip():
            problems.append(f"{where}: empty instruction")
        elif task["instruction"] != task["instruction"].strip():
            problems.append(f"{where}: instruction has surrounding whitespace")
        if not isinstance(task["is_classification"], bool):
            problems.append(f"{where}: is_classification must be a bool")
        problems += _check_instances(task["instances"], where)
    assert not problems, "\n".join(problems)


def test_seed_ids_consecutive_and_names_unique(seeds: list[dict[str, Any]]) -> None:
    """Ids run seed_task_0, seed_task_1, ... in file order, and no two tasks share a name."""
    assert [task["id"] for task in seeds] == [f"seed_task_{n}" for n in range(len(seeds))]
    names = [task["name"] for task in seeds]
    assert len(set(names)) == len(names), [name for name in names if names.count(name) > 1]


def test_seed_counts(seeds: list[dict[str, Any]]) -> None:
    """There are at least 175 seed tasks, at least 25 of them classification tasks."""
    assert len(seeds) >= 175
    assert sum(task["is_classification"] for task in seeds) >= 25


def test_seed_empty_input_share(seeds: list[dict[str, Any]]) -> None:
    """Roughly 40% of the seed tasks need no input (between 30% and 50%)."""
    empty = sum(all(not instance["input"].strip() for instance in task["instances"]) for task in seeds)
    assert 0.30 <= empty / len(seeds) <= 0.50, empty / len(seeds)


def test_seed_classification_outputs_are_labels(seeds: list[dict[str, Any]]) -> None:
    """Classification seeds have a real input and a short class label as every output."""
    problems = []
    for task in seeds:
        if not task["is_classification"]:
            continue
        for instance in task["instances"]:
            if not instance["input"].strip():
                problems.append(f"{task['id']}: classification instance without input")
            if len(instance["output"].split()) > 5:
                problems.append(f"{task['id']}: label {instance['output']!r} is not a short label")
    assert not problems, "\n".join(problems)


# --- few-shot templates --------------------------------------------------------------------------


def test_classification_examples_schema_and_counts(cls_examples: list[dict[str, Any]]) -> None:
    """Classification examples are {instruction, is_classification} with >= 12 yes and >= 19 no."""
    for record in cls_examples:
        assert set(record) == {"instruction", "is_classification"}, record
        assert isinstance(record["instruction"], str), record
        assert record["instruction"].strip(), record
        assert isinstance(record["is_classification"], bool), record
    yes = sum(record["is_classification"] for record in cls_examples)
    assert yes >= 12
    assert len(cls_examples) - yes >= 19


def test_instance_examples_schema_and_counts(demos: list[dict[str, Any]]) -> None:
    """Instance demos have the schema, 2-4 instances each, and enough of every kind."""
    problems = []
    for n, demo in enumerate(demos):
        where = f"demo {n}"
        if set(demo) != {"instruction", "is_classification", "instances"}:
            problems.append(f"{where}: keys {sorted(demo)}")
            continue
        if not isinstance(demo["instruction"], str) or not demo["instruction"].strip():
            problems.append(f"{where}: empty instruction")
        if not isinstance(demo["is_classification"], bool):
            problems.append(f"{where}: is_classification must be a bool")
        problems += _check_instances(demo["instances"], where)
        if not 2 <= len(demo["instances"]) <= 4:
            problems.append(f"{where}: {len(demo['instances'])} instances, want 2-4")
    assert not problems, "\n".join(problems)
    plain = [demo for demo in demos if not demo["is_classification"]]
    labelled = [demo for demo in demos if demo["is_classification"]]
    no_input = [demo for demo in plain if all(not inst["input"] for inst in demo["instances"])]
    assert len(plain) >= 6
    assert len(no_input) >= 2
    assert len(labelled) >= 5


def test_classification_demos_cover_several_labels(demos: list[dict[str, Any]]) -> None:
    """Each classification demo shows at least two different labels, each with a real input."""
    for demo in demos:
        if demo["is_classification"]:
            labels = {instance["output"] for instance in demo["instances"]}
            assert len(labels) >= 2, demo["instruction"]
            assert all(instance["input"].strip() for instance in demo["instances"]), demo["instruction"]
            assert all(len(label.split()) <= 5 for label in labels), labels


def test_instance_demos_are_short(demos: list[dict[str, Any]]) -> None:
    """Each demo stays small enough for a 135M model's prompt (under 900 characters of text)."""
    for demo in demos:
        size = len(demo["instruction"]) + sum(len(i["input"]) + len(i["output"]) for i in demo["instances"])
        assert size < 900, (size, demo["instruction"])


# --- rules shared by every file ----------------------------------------------------------------------


@pytest.mark.parametrize("path", FILE_PARAMS)
def test_ascii_only(path: Path) -> None:
    """The file is plain ASCII, both as bytes and after decoding JSON escapes."""
    data = path.read_bytes()
    bad = [n + 1 for n, line in enumerate(data.splitlines()) if not line.isascii()]
    assert not bad, f"non-ASCII bytes on lines {bad}"
    for n, record in enumerate(_load(path), start=1):
        for text in _all_strings(record):
            assert text.isascii(), f"line {n}: {text!r}"


@pytest.mark.parametrize("path", FILE_PARAMS)
def test_instructions_pass_pipeline_filters(path: Path) -> None:
    """Instructions pass the pipeline's InstructionFilter (4-150 words, no blacklisted word, ...)."""
    problems = []
    for text in _instructions(path):
        if (why := INSTRUCTION_FILTER.reason(text)) is not None:
            problems.append(f"{why}: {text!r}")
    assert not problems, "\n".join(problems)


def test_blacklist_matches_whole_words_only() -> None:
    """The filter's blacklist flags whole words and phrases, not substrings."""
    any_length = InstructionFilter(min_words=0)
    assert any_length.reason("Plot the data") == "blacklist"
    assert any_length.reason("Where should I go to eat?") == "blacklist"
    assert any_length.reason("Where should I go\n to eat?") == "blacklist"
    assert any_length.reason("Explain the mapping of profiles and a drawer") is None
    assert any_length.reason("Good tomatoes") is None


def test_instructions_distinct_across_files() -> None:
    """No instruction appears twice, within a file or across the three files (ignoring case/spaces)."""
    seen: dict[str, str] = {}
    duplicates = []
    for path in ALL_FILES:
        for text in _instructions(path):
            key = " ".join(text.lower().split())
            if key in seen:
                duplicates.append(f"{text!r} in {path.name} and {seen[key]}")
            seen[key] = path.name
    assert not duplicates, "\n".join(duplicates)


# --- ROUGE-L diversity -------------------------------------------------------------------------------


def test_rouge_l_matches_rouge_score() -> None:
    """The dedup package's ROUGE-L equals rouge-score's rougeL fmeasure exactly on the seeds' own pairs."""
    texts = [*_instructions(SEED_TASKS), *_instructions(CLASSIFICATION_EXAMPLES), "", "!!", "a b a b"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    pairs = [tuple(rng.sample(texts, 2)) for _ in range(400)] + [(texts[0], texts[0]), ("", texts[1])]
    for target, prediction in pairs:
        expected = scorer.score(target, prediction)["rougeL"].fmeasure
        assert rouge_l(target, prediction) == expected, (target, prediction)


def test_rouge_check_flags_near_duplicates() -> None:
    """The pairwise check reports a near-duplicate pair and passes clearly different ones."""
    near = ["Summarize the paragraph in one sentence.", "Summarize this paragraph in one sentence."]
    assert _worst_pairs(near)
    assert _worst_pairs(["Name three birds."], near[:1]) == []
    assert _worst_pairs(["Summarize the paragraph in one short sentence."], near[:1])


def test_seed_instructions_pairwise_rouge_below_threshold() -> None:
    """Every pair of seed instructions has ROUGE-L below 0.7, so the pipeline's pool starts diverse."""
    hits = _worst_pairs(_instructions(SEED_TASKS))
    assert not hits, "\n".join(f"{score:.3f}: {a!r} ~ {b!r}" for score, a, b in hits)


def test_seed_instructions_all_enter_the_novelty_index() -> None:
    """The novelty index that judges generated instructions finds every seed novel, in file order."""
    index = NoveltyIndex(threshold=THRESHOLD)
    rejected = []
    for text in _instructions(SEED_TASKS):
        match = index.add_if_novel(text)
        if not match.novel:
            rejected.append(f"{match.score:.3f}: {text!r} ~ {match.nearest_text!r}")
    assert not rejected, "\n".join(rejected)


def test_seeds_load_as_the_pipeline_reads_them(seeds: list[dict[str, Any]]) -> None:
    """load_seed_tasks reads every line, with the instances each line lists."""
    tasks = load_seed_tasks(SEED_TASKS)
    assert [task.instruction for task in tasks] == [task["instruction"] for task in seeds]
    assert [len(task.instances) for task in tasks] == [len(task["instances"]) for task in seeds]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(CLASSIFICATION_EXAMPLES, None, id="classification-examples-within"),
        pytest.param(INSTANCE_EXAMPLES, None, id="instance-demos-within"),
        pytest.param(CLASSIFICATION_EXAMPLES, SEED_TASKS, id="classification-examples-vs-seeds"),
        pytest.param(INSTANCE_EXAMPLES, SEED_TASKS, id="instance-demos-vs-seeds"),
        pytest.param(INSTANCE_EXAMPLES, CLASSIFICATION_EXAMPLES, id="instance-demos-vs-classification"),
    ],
)
def test_template_instructions_rouge_below_threshold(left: Path, right: Path | None) -> None:
    """Few-shot template instructions are ROUGE-L distinct from each other and from the seeds."""
    hits = _worst_pairs(_instructions(left), None if right is None else _instructions(right))
    assert not hits, "\n".join(f"{score:.3f}: {a!r} ~ {b!r}" for score, a, b in hits)


def test_readme_describes_the_files() -> None:
    """seeds/README.md names each of the three data files."""
    text = (SEEDS_DIR / "README.md").read_text(encoding="utf-8")
    for path in ALL_FILES:
        assert path.name in text
