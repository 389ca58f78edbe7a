"""Shared pieces for the distributed dedup tests: corpora full of near-duplicates, the local command."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
from hypothesis import strategies as st

from selfinstruct.cli import main

# Few words, so that many texts are near-duplicates of an earlier one (long chains included).
WORDS = ["write", "a", "poem", "about", "the", "sea", "Sea!", "short", "story", "cat", "don't", "3"]
near_duplicate_texts = st.lists(st.sampled_from(WORDS), max_size=9).map(" ".join)
corpora = st.lists(st.one_of(near_duplicate_texts, near_duplicate_texts, st.text(max_size=20)), max_size=40)


def write_records(path: Path, texts: list[str], *, field: str = "instruction") -> Path:
    """Write one record per text, with an id, as JSON lines."""
    path.write_bytes(b"".join(orjson.dumps({field: t, "id": i}) + b"\n" for i, t in enumerate(texts)))
    return path


def run_local(input_path: Path, out: Path, rejects: Path, *extra: str, against: tuple[Path, ...] = ()) -> int:
    """Run the local ``selfinstruct dedup`` command in process; return its exit code."""
    argv = ["dedup", str(input_path), "-o", str(out), "--rejects", str(rejects), "--no-progress", *extra]
    for pool in against:
        argv += ["--against", str(pool)]
    return main(argv)


def ray_options(extra: tuple[str, ...]) -> dict[str, Any]:
    """The ``dedup_file_ray`` keywords for local command-line flags (the few the tests use)."""
    options: dict[str, Any] = {}
    args = list(extra)
    while args:
        flag = args.pop(0)
        if flag == "--threshold":
            options["threshold"] = float(args.pop(0))
        elif flag == "--rule":
            options["rule"] = args.pop(0)
        elif flag == "--skip-invalid":
            options["skip_invalid"] = True
        elif flag == "--tokenizer":
            options["tokenizer"] = args.pop(0)
        else:  # pragma: no cover - a test asking for a flag not mapped here
            raise ValueError(flag)
    return options


def many_near_duplicates(count: int, *, seed: int = 0) -> list[str]:
    """``count`` instruction-like texts over a small vocabulary: most are near an earlier one."""
    rng = random.Random(seed)
    verbs = ["Write", "Describe", "List", "Explain", "Summarize", "Give", "Suggest", "Compare"]
    words = [f"w{k}" for k in range(40)] + ["the", "a", "of", "about", "for", "and", "short", "poem"]
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.5:
            tokens = rng.choice(texts).split()
            tokens[rng.randrange(len(tokens))] = rng.choice(words)  # one word changed
            texts.append(" ".join(tokens))
        else:
            texts.append(" ".join([rng.choice(verbs), *rng.choices(words, k=rng.randint(4, 11))]))
    return texts
