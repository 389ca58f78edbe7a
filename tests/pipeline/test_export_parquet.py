"""Parquet export and the dataset folder: read back by pyarrow and Hugging Face datasets, identically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

# No network at test time: datasets and huggingface_hub read these when first imported.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import datasets  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402

from selfinstruct.cli import main  # noqa: E402
from selfinstruct.engine import EngineConfig  # noqa: E402
from selfinstruct.errors import ConfigError  # noqa: E402
from selfinstruct.pipeline.export import FORMATS, export_run  # noqa: E402
from selfinstruct.pipeline.run import generate  # noqa: E402
from selfinstruct.testing.fake_model import FakeModel  # noqa: E402
from selfinstruct.testing.server import FakeOpenAIServer  # noqa: E402


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (small) run against the fake model: realistic text, newlines, empty inputs."""
    from conftest import run_config

    out = tmp_path_factory.mktemp("run")

    async def make() -> None:
        async with FakeOpenAIServer(responder=FakeModel()) as server:
            engine = EngineConfig(
                model="fake-model", base_urls=[server.base_url], api_key=None, concurrency=8
            )
            await generate(run_config(out, num_instructions=40, chat=True), engine_config=engine)

    anyio.run(make)
    return out


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL export."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def load(tmp_path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    """Load with datasets (cache in tmp_path) and return the train split as a list of dicts."""
    dataset = datasets.load_dataset(cache_dir=str(tmp_path / "hf-cache"), split="train", **kwargs)
    return list(dataset.to_list())


@pytest.mark.parametrize("fmt", [pytest.param(f, id=f) for f in FORMATS])
def test_parquet_reads_back_identically_with_datasets(finished_run: Path, tmp_path: Path, fmt: str) -> None:
    """load_dataset('parquet') gives exactly the records of the JSONL export, in order."""
    export_run(finished_run, tmp_path / "out.jsonl", fmt=fmt, seed=3)
    summary = export_run(finished_run, tmp_path / "out.parquet", fmt=fmt, seed=3, to="parquet")
    expected = jsonl_records(tmp_path / "out.jsonl")
    assert summary.written == len(expected) > 50
    assert load(tmp_path, path="parquet", data_files=str(tmp_path / "out.parquet")) == expected
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == expected


def test_empty_export_keeps_its_columns(tmp_path: Path) -> None:
    """A run with no tasks exports an empty Parquet file with the format's columns."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "tasks.jsonl").write_bytes(b"")
    export_run(run, tmp_path / "empty.parquet", fmt="openai-chat", to="parquet")
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0
    assert table.schema.names == ["messages"]


def test_dataset_folder_has_a_card_and_loads_as_a_folder(finished_run: Path, tmp_path: Path) -> None:
    """--to hf: README YAML names the data files and features; load_dataset(FOLDER) reads the records."""
    folder = tmp_path / "dataset"
    assert (
        main(["export", str(finished_run), "-o", str(folder), "--format", "openai-chat", "--to", "hf"]) == 0
    )
    export_run(finished_run, tmp_path / "out.jsonl", fmt="openai-chat")
    expected = jsonl_records(tmp_path / "out.jsonl")
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["configs"][0]["data_files"][0]["path"] == ["data/train-00000-of-00001.parquet"]
    assert header["dataset_info"]["splits"][0]["num_examples"] == len(expected)
    assert header["dataset_info"]["features"][0]["name"] == "messages"
    run = orjson.loads((finished_run / "run.json").read_bytes())
    assert "| `fake-model` |" in card
    assert f"| instructions accepted | {run['summary']['accepted']:,} |" in card
    assert "| `seed` | `0` |" in card
    rejections = orjson.loads((finished_run / "rejections.json").read_bytes())
    similar = rejections["instructions"]["similar"]
    assert f"| instructions / similar | {similar:,} |" in card
    assert load(tmp_path, path=str(folder)) == expected


def test_folder_export_refuses_a_file_path(finished_run: Path, tmp_path: Path) -> None:
    """--to hf onto an existing file says it writes a folder."""
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(ConfigError, match="writes a folder"):
        export_run(finished_run, target, fmt="alpaca", to="hf")


def test_unknown_destination_is_refused(finished_run: Path, tmp_path: Path) -> None:
    """An unknown --to value names the choices."""
    with pytest.raises(ConfigError, match="jsonl, parquet, hf"):
        export_run(finished_run, tmp_path / "x", fmt="alpaca", to="csv")
