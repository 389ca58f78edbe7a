"""Checks on the shipped seed data in ``seeds/``: schema, counts, filter rules and diversity."""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rouge_score import rouge_scorer

from selfinstruct.jsonl import iter_jsonl

SEEDS_DIR = Path(__file__).resolve().parents[1] / "seeds"
SEED_TASKS = SEEDS_DIR / "seed_tasks.jsonl"
CLASSIFICATION_EXAMPLES = SEEDS_DIR / "classification_examples.jsonl"
INSTANCE_EXAMPLES = SEEDS_DIR / "instance_examples.jsonl"
ALL_FILES = [SEED_TASKS, CLASSIFICATION_EXAMPLES, INSTANCE_EXAMPLES]
FILE_PARAMS = [pytest.param(path, id=path.stem) for path in ALL_FILES]

# The pipeline's instruction filters (issue 3, stage 3); seeds must pass them too.
BLACKLIST = [
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
]  # fmt: skip
BLACKLIST_RE = re.compile(
    r"\b(?:" + "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in BLACKLIST) + r")\b", re.IGNORECASE
)
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
    problems = []
    if not isinstance(instances, list) or not instances:
        return [f"{where}: instances must be a non-empty list"]
    for k, instance in enumerate(instances):
        if not isinstance(instance, dict) or set(instance) != {"input", "output"}:
            problems.append(f"{where}: instance {k} must have exactly 'input' and 'output'")
            continue
        if not isinstance(instance["input"], str) or not isinstance(instance["output"], str):
            problems.append(f"{where}: instance {k} input/output must be strings")
        elif not instance["output"].strip():
            problems.append(f"{where}: instance {k} has an empty output")
        elif instance["input"].strip() == instance["output"].strip():
            problems.append(f"{where}: instance {k} output equals its input")
        elif instance["input"].rstrip().endswith(":") or instance["output"].rstrip().endswith(":"):
            problems.append(f"{where}: instance {k} input or output ends with ':' (the pipeline drops it)")
    pairs = [
        (i["input"], i["output"])
        for i in instances
        if isinstance(i, dict) and isinstance(i.get("input"), str) and isinstance(i.get("output"), str)
    ]
    if len(set(pairs)) != len(pairs):
        problems.append(f"{where}: duplicate instances")
    outputs_by_input: dict[str, set[str]] = {}
    for given, expected in pairs:
        if given.strip():
            outputs_by_input.setdefault(given, set()).add(expected)
    if any(len(outputs) > 1 for outputs in outputs_by_input.values()):
        problems.append(f"{where}: one input with different outputs (the pipeline drops the task)")
    return problems


# --- ROUGE-L: tokenise once, LCS by hand, cross-checked against rouge-score ------------------------


def _tokens(text: str) -> list[str]:
    """rouge-score's default tokenisation without stemming: lowercase alphanumeric runs."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _rouge_l(a: Sequence[str], b: Sequence[str]) -> float:
    """F-measure in the same arithmetic as rouge-score (target a, prediction b)."""
    if not a or not b:
        return 0.0
    lcs = _lcs(a, b)
    precision, recall = lcs / len(a), lcs / len(b)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _worst_pairs(left: list[str], right: list[str] | None = None) -> list[tuple[float, str, str]]:
    """Every pair at or above the threshold (within ``left``, or between ``left`` and ``right``)."""
    left_tokens = [_tokens(text) for text in left]
    if right is None:
        pairs = itertools.combinations(range(len(left)), 2)
        right, right_tokens = left, left_tokens
    else:
        right_tokens = [_tokens(text) for text in right]
        pairs = itertools.product(range(len(left)), range(len(right)))
    hits = []
    for i, j in pairs:
        score = _rouge_l(left_tokens[i], right_tokens[j])
        if score >= THRESHOLD:
            hits.append((score, left[i], right[j]))
    return sorted(hits, reverse=True)


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
    """Instructions have 4-150 words, no blacklisted word, no 'Write a program' or punctuation start."""
    problems = []
    for text in _instructions(path):
        words = len(text.split())
        if not 4 <= words <= 150:
            problems.append(f"{words} words: {text!r}")
        if hit := BLACKLIST_RE.search(text):
            problems.append(f"blacklisted {hit.group(0)!r}: {text!r}")
        if text.lower().startswith("write a program"):
            problems.append(f"starts with 'Write a program': {text!r}")
        if text[0] in string.punctuation or not text[0].isascii():
            problems.append(f"starts with punctuation or non-ASCII: {text!r}")
    assert not problems, "\n".join(problems)


def test_blacklist_regex_matches_whole_words_only() -> None:
    """The blacklist check used above flags whole words and phrases, not substrings."""
    assert BLACKLIST_RE.search("Plot the data")
    assert BLACKLIST_RE.search("Where should I go to eat?")
    assert BLACKLIST_RE.search("Where should I go\n to eat?")
    assert not BLACKLIST_RE.search("Explain the mapping of profiles and a drawer")
    assert not BLACKLIST_RE.search("Good tomatoes")


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


def test_lcs_rouge_matches_rouge_score() -> None:
    """The hand-written ROUGE-L used below equals rouge-score's rougeL fmeasure exactly on real pairs."""
    texts = [*_instructions(SEED_TASKS), *_instructions(CLASSIFICATION_EXAMPLES), "", "!!", "a b a b"]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    rng = random.Random(0)
    pairs = [tuple(rng.sample(texts, 2)) for _ in range(400)] + [(texts[0], texts[0]), ("", texts[1])]
    for target, prediction in pairs:
        expected = scorer.score(target, prediction)["rougeL"].fmeasure
        assert _rouge_l(_tokens(target), _tokens(prediction)) == expected, (target, prediction)


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
