"""Fixtures for pipeline tests: small seed files and run settings pointing at them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selfinstruct.pipeline.run import RunConfig

DATA = Path(__file__).parent / "data"


def run_config(out_dir: Path, **overrides: Any) -> RunConfig:
    """A RunConfig on the small test seed files."""
    settings: dict[str, Any] = {
        "out_dir": out_dir,
        "num_instructions": 60,
        "seeds_path": DATA / "seed_tasks.jsonl",
        "classification_examples_path": DATA / "classification_examples.jsonl",
        "instance_examples_path": DATA / "instance_examples.jsonl",
        "window": 3,
    }
    settings.update(overrides)
    return RunConfig(**settings)


@pytest.fixture(name="run_config")
def run_config_fixture() -> Any:
    """Factory: ``run_config(out_dir, **overrides)`` on the small test seed files."""
    return run_config


@pytest.fixture
def data_dir() -> Path:
    """The directory of the small seed/template files used by these tests."""
    return DATA
