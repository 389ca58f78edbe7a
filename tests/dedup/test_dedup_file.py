"""``dedup_file`` against an exhaustive keep-first rouge-score scan, any batch size and worker count."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from dedup_helpers import any_texts, oracle_f, small_vocab_texts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfinstruct.dedup import _file, dedup_file
from selfinstruct.errors import ConfigError, InputError

streams = st.lists(st.one_of(small_vocab_texts, small_vocab_texts, any_texts), max_size=40)


def keep_first(pool: list[str], texts: list[str], threshold: float, rule: str) -> list[tuple[bool, float]]:
    """(kept, best score over pool + earlier kept) per text, by scoring every pair with rouge-score."""
    kept = list(pool)
    out = []
    for text in texts:
        best = max((oracle_f(item, text) for item in kept), default=0.0)
        novel = best < threshold if rule == "paper" else best <= threshold
        out.append((novel, best))
        if novel:
            kept.append(text)
    return out


def write(path: Path, texts: list[str]) -> Path:
    """Write texts as {"instruction": text} lines."""
    path.write_bytes(b"".join(orjson.dumps({"instruction": t}) + b"\n" for t in texts))
    return path


@pytest.mark.parametrize("backend", [pytest.param("numba", id="numba"), pytest.param("python", id="python")])
@pytest.mark.parametrize("rule", ["paper", "original"])
@given(pool=st.lists(small_vocab_texts, max_size=6), texts=streams, batch=st.sampled_from([1, 3, 7, 8192]))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_decisions_match_exhaustive_scan(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    rule: str,
    pool: list[str],
    texts: list[str],
    batch: int,
) -> None:
    """Kept records, reject scores and nearest records equal an exhaustive keep-first scan."""
    monkeypatch.setattr(_file, "_BATCH", batch)
    src, against = write(tmp_path / "in.jsonl", texts), write(tmp_path / "pool.jsonl", pool)
    out, rej = tmp_path / "out.jsonl", tmp_path / "rej.jsonl"
    summary = dedup_file(src, out, against=[against], rejects=rej, rule=rule, backend=backend, workers=2)
    expected = keep_first(pool, texts, 0.7, rule)
    kept = [orjson.loads(line)["instruction"] for line in out.read_bytes().splitlines()]
    assert kept == [t for t, (novel, _) in zip(texts, expected, strict=True) if novel]
    rejects = [orjson.loads(line) for line in rej.read_bytes().splitlines()]
    assert [r["score"] for r in rejects] == [f for novel, f in expected if not novel]
    for r in rejects:
        assert oracle_f(r["nearest"], r["record"]["instruction"]) == r["score"]
    assert (summary.read, summary.kept, summary.pooled) == (len(texts), len(kept), len(pool))
    # Without rejects a row stops at its first duplicate: the kept records must not change.
    alone = tmp_path / "alone.jsonl"
    dedup_file(src, alone, against=[against], rule=rule, backend=backend, workers=2)
    assert alone.read_bytes() == out.read_bytes()


def test_output_is_the_same_for_any_worker_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1, 2 and 5 threads over many small batches (and epochs) write byte-identical files."""
    monkeypatch.setattr(_file, "_BATCH", 37)
    words = [f"w{k}" for k in range(30)]
    texts = [" ".join(words[(i * 11 + d * d) % 30] for d in range(8 + i % 9)) for i in range(1500)]
    src = write(tmp_path / "in.jsonl", texts)
    outputs = []
    for workers in (1, 2, 5):
        out, rej = tmp_path / f"out{workers}.jsonl", tmp_path / f"rej{workers}.jsonl"
        dedup_file(src, out, rejects=rej, workers=workers, backend="numba")
        outputs.append((out.read_bytes(), rej.read_bytes()))
    assert outputs[0][1], "the corpus has near-duplicates"
    assert outputs[0] == outputs[1] == outputs[2]


def test_progress_reports_every_stage(tmp_path: Path) -> None:
    """The callback sees read, dedup and write, each ending at its total."""
    src = write(tmp_path / "in.jsonl", ["a b c", "a b c", "d e f"])
    seen: dict[str, tuple[int, int]] = {}
    dedup_file(
        src, tmp_path / "out.jsonl", progress=lambda stage, done, total: seen.update({stage: (done, total)})
    )
    assert seen == {"read": (3, 3), "dedup": (3, 3), "write": (3, 3)}


def test_text_over_max_chars_names_file_and_line(tmp_path: Path) -> None:
    """A text over the limit is an InputError at its line, or skipped and counted."""
    src = write(tmp_path / "in.jsonl", ["a b", "x " * 600, "c d"])
    with pytest.raises(InputError, match=r"in\.jsonl:2: .*over the limit"):
        dedup_file(src, tmp_path / "out.jsonl", max_chars=1000)
    summary = dedup_file(src, tmp_path / "out.jsonl", max_chars=1000, skip_invalid=True)
    assert (summary.read, summary.invalid) == (2, 1)


def test_long_identical_texts_are_handled_and_long_near_duplicates_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the mask budget, an identical copy is still rejected; a non-identical one is a clear error."""
    monkeypatch.setattr(_file, "MASK_BUDGET", 1024)
    long = " ".join(f"t{k}" for k in range(400))
    src = write(tmp_path / "in.jsonl", ["short one", long, long])
    summary = dedup_file(src, tmp_path / "out.jsonl", backend="numba")
    assert (summary.kept, summary.rejected) == (2, 1)
    write(src, ["short one", long, long.replace("t7 ", "")])
    with pytest.raises(InputError, match=r"in\.jsonl:3: .*400 tokens|in\.jsonl:3: .*399 tokens"):
        dedup_file(src, tmp_path / "out.jsonl", backend="numba")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"threshold": 1.5}, id="threshold"),
        pytest.param({"workers": 0}, id="workers"),
        pytest.param({"max_chars": 0}, id="max_chars"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path: Path, kwargs: dict[str, object]) -> None:
    """Out-of-range settings raise ConfigError naming the setting."""
    src = write(tmp_path / "in.jsonl", ["a"])
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        dedup_file(src, tmp_path / "out.jsonl", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "cache_ready", "expected", "warmed"),
    [
        pytest.param(10_000, False, "python", False, id="small"),
        pytest.param(200_000, False, "python", True, id="cold-cache"),
        pytest.param(200_000, True, "auto", False, id="warm-cache"),
        pytest.param(5_000_000, False, "auto", False, id="large-cold"),
    ],
)
def test_backend_choice_avoids_a_cold_compile_on_small_inputs(
    monkeypatch: pytest.MonkeyPatch, size: int, cache_ready: bool, expected: str, warmed: bool
) -> None:
    """Small inputs, and mid-sized ones while Numba's cache is empty, run on the twin."""
    started: list[bool] = []
    monkeypatch.delenv("SELFINSTRUCT_PURE_PYTHON", raising=False)
    monkeypatch.setattr(_file, "compiled_cache_ready", lambda: cache_ready)
    monkeypatch.setattr(_file, "warm_up_in_background", lambda: started.append(True) or True)
    assert _file._pick_backend(size) == expected
    assert bool(started) is warmed


def test_warm_up_runs_every_kernel_and_removes_its_lock(tmp_path: Path) -> None:
    """``python -m selfinstruct.dedup._warm LOCK`` compiles (or loads) the kernels and drops LOCK."""
    from selfinstruct.dedup import _warm

    lock = tmp_path / "lock"
    lock.touch()
    assert _warm.main(["_warm", str(lock)]) == 0
    assert not lock.exists()
