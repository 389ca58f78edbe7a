"""The README's promises hold: its test command is CI's, and its library example runs."""

from __future__ import annotations

import re
from pathlib import Path

from selfinstruct.testing.fake_model import FakeModel
from selfinstruct.testing.server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """.ci/run's command line is, character for character, the README's test command."""
    test_commands = [block.strip() for block in _blocks("bash") if "pytest" in block]
    assert len(test_commands) == 1
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_commands[0] in ci_lines


def test_library_example_runs_against_a_local_server(tmp_path: Path) -> None:
    """The README's Python example generates data when pointed at the loopback fake model."""
    (example,) = _blocks("python")
    with FakeOpenAIServer(responder=FakeModel()).in_thread() as server:
        source = (
            example.replace("https://api.openai.com/v1", server.base_url)
            .replace('out_dir="run"', f"out_dir={str(tmp_path / 'run')!r}")
            .replace("num_instructions=1000", "num_instructions=12")
        )
        assert source != example
        namespace: dict[str, object] = {"__name__": "readme_example"}
        exec(compile(source, "README.md", "exec"), namespace)
    tasks = (tmp_path / "run" / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    assert tasks, "the example produced no tasks"
