"""Seed loading: the original schema as published, our shipped files, and located errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from selfinstruct.errors import InputError
from selfinstruct.pipeline.seeds import (
    Instance,
    default_seeds_dir,
    load_classification_examples,
    load_instance_examples,
    load_seed_tasks,
)

# One line exactly as the authors' seed_tasks.jsonl lays it out (content is ours).
ORIGINAL_LINE = (
    '{"id": "seed_task_0", "name": "packing_list", "instruction": "Make a packing list for a weekend '
    'camping trip.", "instances": [{"input": "", "output": "Tent, sleeping bag, stove, water."}], '
    '"is_classification": false}\n'
)


def test_loads_original_schema_as_is(tmp_path: Path) -> None:
    """A file in the published seed format loads unchanged, instances and flags included."""
    path = tmp_path / "seed_tasks.jsonl"
    path.write_text(
        ORIGINAL_LINE
        + ORIGINAL_LINE.replace("seed_task_0", "seed_task_1")
        .replace("weekend camping trip", "business trip")
        .replace("false", "true")
    )
    tasks = load_seed_tasks(path)
    assert [t.id for t in tasks] == ["seed_task_0", "seed_task_1"]
    assert tasks[0].instances == (Instance("", "Tent, sleeping bag, stove, water."),)
    assert [t.is_classification for t in tasks] == [False, True]
    assert orjson.loads(ORIGINAL_LINE) == tasks[0].to_dict()


def test_shipped_seeds_are_found() -> None:
    """With no path, the seeds shipped beside the package are loaded."""
    assert (default_seeds_dir() / "seed_tasks.jsonl").is_file()
    tasks = load_seed_tasks()
    assert len(tasks) >= 20
    assert all(t.instruction and t.instances for t in tasks)


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        pytest.param(ORIGINAL_LINE + "{not json\n", "invalid JSON", 2, id="bad-json"),
        pytest.param('{"instruction": 3}\n', "'instruction' must be a string", 1, id="wrong-type"),
        pytest.param('{"instruction": "  "}\n', "empty instruction", 1, id="empty"),
        pytest.param(ORIGINAL_LINE * 2, "duplicate instruction", 2, id="duplicate"),
        pytest.param(
            '{"instruction": "Do it well.", "instances": {}}\n',
            "'instances' must be a list",
            1,
            id="instances",
        ),
        pytest.param(
            '{"instruction": "Do it.", "is_classification": "maybe"}\n', "true or false", 1, id="flag"
        ),
    ],
)
def test_bad_seed_lines_name_file_and_line(tmp_path: Path, content: str, message: str, line: int) -> None:
    """A bad line raises InputError with the file and 1-based line number."""
    path = tmp_path / "seeds.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as caught:
        load_seed_tasks(path)
    assert caught.value.line == line
    assert caught.value.path == str(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A missing seed file is an InputError naming the path."""
    with pytest.raises(InputError, match="no such file"):
        load_seed_tasks(tmp_path / "nope.jsonl")


def test_few_shot_files_load(data_dir: Path) -> None:
    """The classification and instance few-shot files load with both labels present."""
    examples = load_classification_examples(data_dir / "classification_examples.jsonl")
    assert {e.is_classification for e in examples} == {True, False}
    demos = load_instance_examples(data_dir / "instance_examples.jsonl")
    assert {d.is_classification for d in demos} == {True, False}
    assert all(d.instances for d in demos)


def test_one_sided_classification_examples_are_rejected(tmp_path: Path) -> None:
    """Few-shot identification needs both Yes and No examples."""
    path = tmp_path / "clf.jsonl"
    path.write_text('{"instruction": "Sort these.", "is_classification": true}\n')
    with pytest.raises(InputError, match="at least one"):
        load_classification_examples(path)
