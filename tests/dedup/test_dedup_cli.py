"""The ``selfinstruct dedup`` command, in process and once as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfinstruct.cli import main
from selfinstruct.dedup import NoveltyIndex


def write_jsonl(path: Path, records: list[Any]) -> Path:
    """Write records as JSON lines."""
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def read_jsonl(path: Path) -> list[Any]:
    """Read JSON lines."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


INSTRUCTIONS = [
    "Write a poem about the sea.",
    "Write a poem about the sea!",
    "Give three tips for staying healthy.",
    "give 3 tips for staying healthy",
    "Translate the sentence into French.",
    "Write a short poem about the sea.",
]


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    """A small input with near-duplicates and an extra field."""
    return write_jsonl(
        tmp_path / "in.jsonl", [{"instruction": t, "k": i} for i, t in enumerate(INSTRUCTIONS)]
    )


def test_keeps_first_of_each_group_and_writes_rejects(
    input_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kept records are the first of each group, in order; rejects name their nearest kept match."""
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    assert main(["dedup", str(input_file), "-o", str(out), "--rejects", str(rej)]) == 0
    kept = read_jsonl(out)
    assert [r["k"] for r in kept] == [0, 2, 4]
    rejects = read_jsonl(rej)
    assert [r["line"] for r in rejects] == [2, 4, 6]
    assert rejects[0]["nearest"] == INSTRUCTIONS[0]
    assert rejects[0]["nearest_line"] == 1
    assert rejects[0]["nearest_file"] == str(input_file)
    assert rejects[0]["record"] == {"instruction": INSTRUCTIONS[1], "k": 1}
    index = NoveltyIndex()
    index.add(INSTRUCTIONS[0])
    assert rejects[2]["score"] == index.check(INSTRUCTIONS[5]).score
    captured = capsys.readouterr()
    assert "read 6, kept 3, rejected 3" in captured.out
    assert "dedup:" not in captured.err  # no progress bar when stderr is not a terminal


def test_against_pool_rejects_pool_duplicates(input_file: Path, tmp_path: Path) -> None:
    """Records near an --against pool item are rejected, and the reject points into the pool."""
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"instruction": "Translate this sentence into French."}])
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    assert (
        main(["dedup", str(input_file), "-o", str(out), "--rejects", str(rej), "--against", str(pool)]) == 0
    )
    assert [r["k"] for r in read_jsonl(out)] == [0, 2]
    french = [r for r in read_jsonl(rej) if r["line"] == 5]
    assert french[0]["nearest_file"] == str(pool)
    assert french[0]["nearest_line"] == 1


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        pytest.param([], 2, id="default-0.7"),
        pytest.param(["--threshold", "0.4"], 1, id="threshold-0.4"),
        pytest.param(["--threshold", "0.5"], 1, id="paper-rule-at-equality"),
        pytest.param(["--threshold", "0.5", "--rule", "original"], 2, id="original-rule-at-equality"),
    ],
)
def test_field_threshold_and_rule(tmp_path: Path, extra: list[str], kept: int) -> None:
    """--field picks the text; --threshold and --rule decide a pair scoring exactly 0.5."""
    src = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "a b c d"}, {"prompt": "a b x y"}])
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(src), "-o", str(out), "--field", "prompt", *extra]) == 0
    assert len(read_jsonl(out)) == kept


def test_unicode_tokenizer_catches_cjk_duplicates(tmp_path: Path) -> None:
    """With --tokenizer unicode a CJK near-duplicate is rejected; with rouge it is not."""
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"instruction": "写一首关于大海的诗"},
            {"instruction": "写一首关于大海的歌"},
            {"instruction": "翻译这个句子"},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(src), "-o", str(out), "--tokenizer", "unicode"]) == 0
    assert len(read_jsonl(out)) == 2
    assert main(["dedup", str(src), "-o", str(out)]) == 0
    assert len(read_jsonl(out)) == 3


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        pytest.param([b'{"instruction": "ok"}', b"{not json"], "in.jsonl:2: invalid JSON", id="bad-json"),
        pytest.param(
            [b'{"instruction": "ok"}', b'{"text": "x"}'],
            "in.jsonl:2: field 'instruction' is missing",
            id="missing-field",
        ),
        pytest.param(
            [b'{"instruction": 3}'], "in.jsonl:1: field 'instruction' is not a string", id="not-a-string"
        ),
        pytest.param([b"[1, 2]"], "in.jsonl:1: expected a JSON object", id="not-an-object"),
    ],
)
def test_bad_input_names_file_and_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[bytes], message: str
) -> None:
    """Malformed input fails with file:line; an existing output file is left untouched."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"previous\n")
    assert main(["dedup", str(src), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert out.read_bytes() == b"previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_skip_invalid_counts_and_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--skip-invalid skips malformed lines and records without the field, and counts them."""
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"instruction": "a b c"}\n{oops\n\n{"other": 1}\n{"instruction": "d e f"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["dedup", str(src), "-o", str(out), "--skip-invalid"]) == 0
    assert [r["instruction"] for r in read_jsonl(out)] == ["a b c", "d e f"]
    captured = capsys.readouterr()
    assert "read 2, kept 2, rejected 0, skipped 2 invalid" in captured.out
    assert "in.jsonl:2" in captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--threshold", "1.5"], "threshold", id="threshold"),
        pytest.param(["--against", "missing.jsonl"], "no such file", id="missing-pool"),
    ],
)
def test_bad_settings_exit_2(
    input_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Bad settings or a missing file give exit status 2 and a message."""
    assert main(["dedup", str(input_file), "-o", str(tmp_path / "o.jsonl"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_subprocess_python_m(input_file: Path, tmp_path: Path) -> None:
    """``python -m selfinstruct dedup`` works end to end in a fresh process."""
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "selfinstruct", "dedup", str(input_file), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "read 6, kept 3, rejected 3" in done.stdout
    assert [r["k"] for r in read_jsonl(out)] == [0, 2, 4]


@pytest.mark.parametrize("workers", [pytest.param("1", id="1-worker"), pytest.param("2", id="2-workers")])
def test_large_input_uses_batches_and_matches_the_index(tmp_path: Path, workers: str) -> None:
    """A file over 64 KB (Numba kernels, 256-line batches) keeps exactly what add_if_novel keeps."""
    import random

    rng = random.Random(3)
    words = [f"word{i}" for i in range(40)] + ["write", "a", "poem", "about", "the", "sea"] * 4
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 18))) for _ in range(900)]
    texts += [t.replace("word1", "word2") for t in texts[:300]]
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": t} for t in texts])
    assert src.stat().st_size > 64 * 1024
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    assert main(["dedup", str(src), "-o", str(out), "--rejects", str(rej), "--workers", workers]) == 0
    index = NoveltyIndex()
    expected = [t for t in texts if index.add_if_novel(t).novel]
    assert [r["instruction"] for r in read_jsonl(out)] == expected
    assert len(read_jsonl(rej)) == len(texts) - len(expected)


@pytest.mark.parametrize(
    ("extra", "shown"),
    [pytest.param([], True, id="terminal"), pytest.param(["--no-progress"], False, id="no-progress")],
)
def test_progress_bar_only_on_a_terminal(
    input_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    shown: bool,
) -> None:
    """On a terminal a tqdm bar goes to stderr (unless --no-progress); stdout keeps the summary."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["dedup", str(input_file), "-o", str(tmp_path / "out.jsonl"), *extra]) == 0
    captured = capsys.readouterr()
    assert ("dedup: 100%" in captured.err) is shown
    assert "read 6, kept 3, rejected 3" in captured.out
