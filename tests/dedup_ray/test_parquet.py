"""Parquet input for ``selfinstruct dedup``, locally and on Ray, against the answer for the same JSONL."""

from __future__ import annotations

import decimal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from ray_helpers import many_near_duplicates, run_local

from selfinstruct.errors import ConfigError, InputError
from selfinstruct.parquet_input import dedup_file_any, is_parquet, iter_parquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def records(texts: list[str]) -> list[dict[str, Any]]:
    """Records with columns of several JSON types beside the text."""
    return [
        {
            "instruction": t,
            "id": i,
            "weight": i / 7,
            "tags": [t[:3], "x"],
            "meta": {"k": i % 3, "ok": i % 2 == 0},
        }
        for i, t in enumerate(texts)
    ]


def write_both(folder: Path, name: str, rows: list[dict[str, Any]], group: int = 40) -> tuple[Path, Path]:
    """The same records as JSONL and as Parquet (row groups of ``group`` rows)."""
    jsonl, parquet = folder / f"{name}.jsonl", folder / f"{name}.parquet"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=group)
    return jsonl, parquet


def renamed(rejects: Path, names: dict[str, str]) -> bytes:
    """The rejects with ``nearest_file`` mapped through ``names`` (JSONL names -> Parquet names)."""
    out = []
    for line in rejects.read_bytes().splitlines():
        record = orjson.loads(line)
        record["nearest_file"] = names[record["nearest_file"]]
        out.append(orjson.dumps(record) + b"\n")
    return b"".join(out)


@pytest.fixture
def corpus(tmp_path: Path) -> dict[str, Path]:
    """An input of 300 near-duplicate-heavy records and a pool of 60, each as JSONL and Parquet."""
    texts = many_near_duplicates(360, seed=3)
    jsonl, parquet = write_both(tmp_path, "in", records(texts[60:]))
    pool_jsonl, pool_parquet = write_both(tmp_path, "pool", records(texts[:60]), group=25)
    return {"jsonl": jsonl, "parquet": parquet, "pool_jsonl": pool_jsonl, "pool_parquet": pool_parquet}


def local(tmp_path: Path, source: Path, pool: Path, tag: str, *extra: str) -> tuple[Path, Path]:
    """Run the local command; return (output, rejects)."""
    out, rej = tmp_path / f"{tag}.out.jsonl", tmp_path / f"{tag}.rej.jsonl"
    assert run_local(source, out, rej, *extra, against=(pool,)) == 0
    return out, rej


def test_local_parquet_gives_the_jsonl_answer(tmp_path: Path, corpus: dict[str, Path]) -> None:
    """The same kept lines and rejects (naming the Parquet files) as for the records as JSONL."""
    out, rej = local(tmp_path, corpus["jsonl"], corpus["pool_jsonl"], "j")
    p_out, p_rej = local(tmp_path, corpus["parquet"], corpus["pool_parquet"], "p")
    assert out.read_bytes() == p_out.read_bytes()
    names = {
        str(corpus["jsonl"]): str(corpus["parquet"]),
        str(corpus["pool_jsonl"]): str(corpus["pool_parquet"]),
    }
    assert renamed(rej, names) == p_rej.read_bytes()
    assert 0 < len(p_rej.read_bytes().splitlines()) < 300
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".parquet-")]  # copies removed


def test_parquet_rows_are_numbered_like_lines(tmp_path: Path) -> None:
    """A row without the field is named by file and 1-based row; skipped rows are counted the same way."""
    rows = [{"instruction": f"text number {k} about w{k}"} for k in range(10)]
    rows[6] = {"instruction": None}
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=4)
    with pytest.raises(InputError, match=r"bad\.parquet:7: field 'instruction' is null"):
        dedup_file_any(path, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
    summary = dedup_file_any(path, tmp_path / "out.jsonl", skip_invalid=True)
    assert (summary.read, summary.invalid) == (9, 1)
    assert summary.examples[0].startswith(f"{path}:7: ")


def test_values_json_cannot_hold_become_text(tmp_path: Path) -> None:
    """Decimals, binary and durations are written as text; rows of a range come from its row groups only."""
    import datetime as dt

    table = pa.table(
        {
            "instruction": ["a b c d", "e f g h", "i j k l"],
            "price": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("-2")], pa.decimal128(5, 2)),
            "blob": [b"\x00\xff", b"", None],
            "wait": pa.array([dt.timedelta(seconds=90), None, dt.timedelta(0)], pa.duration("s")),
        }
    )
    path = tmp_path / "types.parquet"
    pq.write_table(table, path, row_group_size=2)
    assert is_parquet(path)
    assert not is_parquet(tmp_path / "missing.parquet")
    assert [n for n, _ in iter_parquet(path, 1, 3)] == [2, 3]
    dedup_file_any(path, tmp_path / "out.jsonl")
    lines = [orjson.loads(x) for x in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert lines[0] == {"instruction": "a b c d", "price": "1.50", "blob": "AP8=", "wait": 90.0}
    assert [lines[1]["price"], lines[2]["blob"], lines[2]["wait"]] == [None, None, 0.0]


def test_broken_parquet_and_missing_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file with Parquet's magic but no valid footer is an input error; no pyarrow is a config error."""
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    with pytest.raises(InputError, match=r"broken\.parquet: not a readable Parquet file"):
        dedup_file_any(broken, tmp_path / "out.jsonl")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"instruction": ["one two three"]}), good)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"pip install 'selfinstruct\[parquet\]'"):
        dedup_file_any(good, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


class TestOnRay:
    """``dedup --ray`` reads Parquet row ranges in its tasks (two-node cluster of the session)."""

    @pytest.fixture(autouse=True)
    def connected(self, ray_cluster: Any) -> Iterator[None]:
        """The driver joins the session's cluster for these tests."""
        ray = pytest.importorskip("ray")
        ray.init(address=ray_cluster.address, log_to_driver=False)
        yield
        ray.shutdown()

    @pytest.mark.parametrize("blocks", [pytest.param(1, id="one-block"), pytest.param(4, id="four-blocks")])
    def test_same_as_local(self, tmp_path: Path, corpus: dict[str, Path], blocks: int) -> None:
        """Kept lines and rejects equal the local command's on the Parquet files (and its JSONL answer)."""
        from selfinstruct.distributed import dedup_file_ray

        out, rej = local(tmp_path, corpus["parquet"], corpus["pool_parquet"], "p")
        j_out, _ = local(tmp_path, corpus["jsonl"], corpus["pool_jsonl"], "j")
        r_out, r_rej = tmp_path / "r.out.jsonl", tmp_path / "r.rej.jsonl"
        result = dedup_file_ray(
            corpus["parquet"], r_out, rejects=r_rej, against=[corpus["pool_parquet"]], blocks=blocks
        )
        assert r_out.read_bytes() == out.read_bytes() == j_out.read_bytes()
        assert r_rej.read_bytes() == rej.read_bytes()
        assert (result.read, result.pooled) == (300, 60)
        assert result.blocks == blocks

    def test_row_error_names_the_parquet_row(self, tmp_path: Path) -> None:
        """The first bad row is the error, by file and row, as locally; skipped rows are counted."""
        from selfinstruct.distributed import dedup_file_ray

        texts: list[str | None] = [f"text {k} about w{k} and more" for k in range(30)]
        texts[21] = None
        path = tmp_path / "bad.parquet"
        pq.write_table(pa.table({"instruction": texts, "n": list(range(30))}), path, row_group_size=8)
        with pytest.raises(InputError, match=r"bad\.parquet:22: field 'instruction' is null"):
            dedup_file_ray(path, tmp_path / "out.jsonl", blocks=3)
        result = dedup_file_ray(path, tmp_path / "out.jsonl", blocks=3, skip_invalid=True)
        assert (result.read, result.invalid) == (29, 1)
        assert result.invalid_examples[0].startswith(f"{path}:22: ")
