"""Export formats (schema of every line, dedup, determinism) and run statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.errors import ConfigError, InputError
from selfinstruct.pipeline.export import FORMATS, PROMPT_TEMPLATES, export_run
from selfinstruct.pipeline.stats import draw_stats, format_stats, input_kind, load_stats, plot_stats

TASKS = [
    {
        "id": "machine_1",
        "name": "machine_1",
        "instruction": "Convert the temperature to Fahrenheit.",
        "instances": [{"input": "20 C", "output": "68 F"}, {"input": "0 C", "output": "32 F"}],
        "is_classification": False,
    },
    {
        "id": "machine_2",
        "name": "machine_2",
        "instruction": "Tell whether the word is a noun or a verb.",
        "instances": [{"input": "run", "output": "Verb"}, {"input": "run", "output": "Verb"}],
        "is_classification": True,
    },
    {
        "id": "machine_3",
        "name": "machine_3",
        "instruction": "Write a haiku about the first snow.",
        "instances": [
            {
                "input": "",
                "output": "White hush on the roofs\nfootprints fill before dawn\nthe town holds its breath",
            }
        ],
        "is_classification": False,
    },
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A finished run directory with three tasks (one duplicate instance)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "tasks.jsonl").write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in TASKS))
    (run / "instructions.jsonl").write_bytes(
        b"".join(
            orjson.dumps({"instruction": t["instruction"], "seed_score": s}) + b"\n"
            for t, s in zip(TASKS, (0.12, 0.35, 0.61), strict=True)
        )
    )
    (run / "rejections.json").write_bytes(orjson.dumps({"instructions": {"similar": 5, "blacklist": 2}}))
    return run


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _check_schema(fmt: str, record: dict[str, Any]) -> None:
    if fmt == "alpaca":
        assert set(record) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) for v in record.values())
    elif fmt == "openai-chat":
        assert set(record) == {"messages"}
        assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
        assert all(isinstance(m["content"], str) and m["content"] for m in record["messages"])
    elif fmt == "sharegpt":
        assert set(record) == {"conversations"}
        assert [m["from"] for m in record["conversations"]] == ["human", "gpt"]
    else:
        assert set(record) == {"prompt", "completion"}
        assert record["completion"].startswith(" ")
        assert record["completion"].endswith("<|endoftext|>")


@pytest.mark.parametrize("fmt", [pytest.param(f, id=f) for f in FORMATS])
def test_every_format_has_its_schema_and_drops_duplicates(run_dir: Path, tmp_path: Path, fmt: str) -> None:
    """Each line of each format has the expected keys and types; the repeated instance is written once."""
    out = tmp_path / f"{fmt}.jsonl"
    summary = export_run(run_dir, out, fmt=fmt)
    records = _lines(out)
    assert summary.written == len(records) == 4
    assert summary.duplicates == 1
    for record in records:
        _check_schema(fmt, record)


def test_openai_chat_puts_input_after_instruction(run_dir: Path, tmp_path: Path) -> None:
    """The user message is the instruction, then a blank line and the input (when there is one)."""
    export_run(run_dir, tmp_path / "c.jsonl", fmt="openai-chat")
    first, *_, last = _lines(tmp_path / "c.jsonl")
    assert first["messages"][0]["content"] == "Convert the temperature to Fahrenheit.\n\n20 C"
    assert last["messages"][0]["content"] == "Write a haiku about the first snow."


def test_prompt_completion_templates_vary_and_are_deterministic(run_dir: Path, tmp_path: Path) -> None:
    """Templates are drawn per instance; the same seed writes the same bytes, another seed differs."""
    many = tmp_path / "many"
    many.mkdir()
    tasks = [dict(TASKS[0], instruction=f"Convert temperature number {i}.") for i in range(40)]
    (many / "tasks.jsonl").write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in tasks))
    export_run(many, tmp_path / "a.jsonl", fmt="prompt-completion", seed=1)
    export_run(many, tmp_path / "b.jsonl", fmt="prompt-completion", seed=1)
    export_run(many, tmp_path / "c.jsonl", fmt="prompt-completion", seed=2)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "c.jsonl").read_bytes()
    shapes = set()
    for i, record in enumerate(_lines(tmp_path / "a.jsonl")):
        instruction, inp = f"Convert temperature number {i // 2}.", ("20 C", "0 C")[i % 2]
        shapes.add(record["prompt"].replace(instruction, "{instruction}").replace(inp, "{input}"))
    assert shapes <= {with_input for with_input, _ in PROMPT_TEMPLATES}
    assert len(shapes) >= 4


def test_include_seeds(run_dir: Path, tmp_path: Path, data_dir: Path) -> None:
    """--include-seeds puts the seed tasks' instances first."""
    summary = export_run(
        run_dir,
        tmp_path / "s.jsonl",
        fmt="alpaca",
        include_seeds=True,
        seeds_path=data_dir / "seed_tasks.jsonl",
    )
    records = _lines(tmp_path / "s.jsonl")
    assert summary.written == len(records) > 4
    assert records[0]["instruction"].startswith("Plan a simple weekly meal")


def test_export_errors(tmp_path: Path, run_dir: Path) -> None:
    """A missing directory, one no run wrote, an unfinished run and an unknown format are each
    named for what they are (issue 11 item 9: a missing directory is not 'not finished')."""
    with pytest.raises(InputError, match="no such run directory"):
        export_run(tmp_path / "missing", tmp_path / "x.jsonl", fmt="alpaca")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a run directory: no tasks.jsonl and no run.json"):
        export_run(tmp_path / "empty", tmp_path / "x.jsonl", fmt="alpaca")
    (tmp_path / "empty" / "run.json").write_bytes(b'{"config": {}, "summary": null}')
    with pytest.raises(InputError, match="has not finished yet"):
        export_run(tmp_path / "empty", tmp_path / "x.jsonl", fmt="alpaca")
    (tmp_path / "empty" / "run.json").write_bytes(b'{"config": {}, "summary": {"status": "complete"}}')
    with pytest.raises(InputError, match="tasks.jsonl: missing from this finished run"):
        export_run(tmp_path / "empty", tmp_path / "x.jsonl", fmt="alpaca")
    with pytest.raises(ConfigError, match="unknown export format"):
        export_run(run_dir, tmp_path / "x.jsonl", fmt="csv")


def test_stats_table(run_dir: Path) -> None:
    """The table counts tasks, instances, empty inputs and mean lengths; rejections and histogram follow."""
    stats = load_stats(run_dir)
    assert (stats.tasks, stats.classification, stats.instances, stats.empty_input) == (3, 1, 5, 1)
    text = format_stats(stats)
    assert "# of instances                       5" in text
    assert "instructions/similar" in text
    assert "[0.6, 0.7)" in text
    assert "avg. output length (words)" in text


def test_stats_plot(run_dir: Path, tmp_path: Path) -> None:
    """--plot writes a PNG."""
    plot_stats(load_stats(run_dir), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("  \n", "empty", id="blank"),
        pytest.param("20 C", "one field", id="plain-text"),
        pytest.param("Dear Sam,\nThank you for the offer.", "one field", id="plain-lines"),
        pytest.param("Sentence: The tea was great.", "one field", id="one-field"),
        pytest.param(
            "Dialogue:\n- Agent: Thank you for your email.\n- Customer: My order is late.",
            "one field",
            id="dialogue-bullets-belong-to-their-field",
        ),
        pytest.param("Meeting at 10:30 today", "one field", id="a-time-is-no-label"),
        pytest.param(
            "Question: Which planet is largest?\nOptions: (A) Mars (B) Jupiter", "several fields", id="two"
        ),
        pytest.param(
            "Document: Stocks fell.\nClaim: The market rose.\nNote: none", "several fields", id="three"
        ),
    ],
)
def test_input_kind(text: str, kind: str) -> None:
    """An input is empty, one field (plain text or one label) or several fields (two labels or more)."""
    assert input_kind(text) == kind


def _write_run(run: Path, tasks: list[dict[str, Any]], rejections: dict[str, dict[str, int]]) -> Path:
    run.mkdir()
    (run / "tasks.jsonl").write_bytes(b"".join(orjson.dumps(t) + b"\n" for t in tasks))
    (run / "instructions.jsonl").write_bytes(
        b"".join(orjson.dumps({"instruction": t["instruction"], "seed_score": 0.2}) + b"\n" for t in tasks)
    )
    (run / "rejections.json").write_bytes(orjson.dumps(rejections))
    return run


def test_stats_count_instances_by_input_kind_and_rejections_by_reason(tmp_path: Path) -> None:
    """The report shows instances by input kind and every rejection reason with its stage's total."""
    several = {"input": "Question: Which is largest?\nOptions: (A) Mars (B) Jupiter", "output": "(B)"}
    tasks = [
        dict(TASKS[0], instances=[*TASKS[0]["instances"], several]),
        TASKS[2],
    ]
    rejections = {
        "instructions": {"similar": 5, "blacklist": 2},
        "instances": {"truncated": 3, "malformed": 1, "no_examples": 0},
        "tasks": {"no_valid_instances": 2},
    }
    stats = load_stats(_write_run(tmp_path / "run", tasks, rejections))
    assert dict(stats.input_kinds) == {"one field": 2, "several fields": 1, "empty": 1}
    lines = format_stats(stats).splitlines()

    def row(name: str) -> str:
        return next(line for line in lines if line.strip().startswith(name)).split()[-1]

    assert row("- with empty input") == "1"
    assert row("- input of one field") == "2"
    assert row("- input of several fields") == "1"
    assert row("instances (all reasons)") == "4"
    assert row("instances/truncated") == "3"
    assert row("instances/malformed") == "1"
    assert row("tasks/no_valid_instances") == "2"
    assert not any("no_examples" in line for line in lines)


def test_stats_plot_count_axes_have_integer_ticks(run_dir: Path) -> None:
    """Every count axis of the plot (histograms, input kinds, rejections) is ticked at whole numbers."""
    figure = draw_stats(load_stats(run_dir))
    count_axes = [
        (axis, axis.xaxis if axis.get_xlabel() == "count" else axis.yaxis)
        for axis in figure.axes
        if "count" in (axis.get_xlabel(), axis.get_ylabel())
    ]
    assert len(count_axes) == 6
    titles = {axis.get_title() for axis, _ in count_axes}
    assert {"instances by input kind", "rejections by reason"} <= titles
    for axis, counts in count_axes:
        ticks = counts.get_majorticklocs()
        assert len(ticks) >= 2, axis.get_title()
        assert all(float(tick).is_integer() for tick in ticks), (axis.get_title(), ticks)
