"""The embedded model's requests carry a sampling seed, so local runs with one request in flight repeat."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from local_procs import local_extra_installed

from selfinstruct.cli import build_parser
from selfinstruct.cli._engine import engine_config_from_args


def _config(*argv: str, local: bool) -> dict[str, object]:
    args = build_parser().parse_args(["run", "-o", "out", "--num-instructions", "5", *argv])
    config = engine_config_from_args(
        args, model="m", base_urls=["http://127.0.0.1:1/v1"], concurrency=4, local=local
    )
    return dict(config.default_params)


@pytest.mark.parametrize(
    ("argv", "local", "expected"),
    [
        pytest.param((), True, {"seed": 0}, id="local-default"),
        pytest.param(("--seed", "7"), True, {"seed": 7}, id="local-run-seed"),
        pytest.param(("--seed", "7", "--param", "seed=3"), True, {"seed": 3}, id="local-param-wins"),
        pytest.param(("--seed", "7"), False, {}, id="remote-untouched"),
    ],
)
def test_local_requests_carry_the_run_seed(
    argv: tuple[str, ...], local: bool, expected: dict[str, object]
) -> None:
    """Local: the run's --seed (or --param seed) is sent with every request; remote: nothing added."""
    assert _config(*argv, local=local) == expected


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not local_extra_installed(), reason='needs pip install "selfinstruct[local]"')
def test_sampled_answers_repeat_across_runs(tmp_path: Path) -> None:
    """Two ``complete`` runs of sampled prompts on the embedded model, one at a time: the same texts."""
    openers = ["List three", "Explain why", "Translate the", "Give me", "Classify the", "Rewrite the"]
    source = tmp_path / "prompts.jsonl"
    source.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "id": str(i),
                    "prompt": f"Come up with a series of tasks:\n1. Write a poem about the sea.\n2. {opener}",
                    "max_tokens": 32,
                    "temperature": 0.9,
                }
            )
            + b"\n"
            for i, opener in enumerate(openers)
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    texts = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        command = [sys.executable, "-m", "selfinstruct", "complete", str(source), "-o", str(out)]
        done = subprocess.run(
            [*command, "--no-progress", "--concurrency", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        answers = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert all(a.get("error") is None and a["text"] for a in answers), answers
        texts.append([a["text"] for a in answers])
    assert texts[0] == texts[1]
