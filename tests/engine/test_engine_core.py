"""The engine's core: lazy consumption, fan-out, journal and resume, endpoints, sessions, statistics."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from selfinstruct.engine import Engine, EngineConfig, Request, read_journal
from selfinstruct.engine.clock import FakeClock
from selfinstruct.engine.journal import Journal
from selfinstruct.errors import ConfigError, JournalError

pytestmark = pytest.mark.anyio


def config(*urls: str, **overrides: Any) -> EngineConfig:
    """An engine config for the given base URLs (no API key)."""
    values: dict[str, Any] = {"model": "m", "base_urls": list(urls), "api_key": None, "concurrency": 8}
    values.update(overrides)
    return EngineConfig(**values)


def prompt_counter() -> tuple[Counter[str], Any]:
    """A responder that counts server hits per prompt."""
    hits: Counter[str] = Counter()

    def responder(kind: str, body: dict[str, Any]) -> str:
        prompt = str(body.get("prompt") or body["messages"][-1]["content"])
        hits[prompt] += 1
        return f"answer to {prompt}"

    return hits, responder


def test_key_is_stable_and_ignores_id_meta_and_key_order() -> None:
    """The key hashes content and params only: id, meta and dict order do not change it."""
    a = Request(prompt="p", params={"temperature": 0.7, "max_tokens": 5}, id="1", meta={"x": 1})
    b = Request(prompt="p", params={"max_tokens": 5, "temperature": 0.7}, id="2")
    assert a.key == b.key
    assert a.key.endswith("-0")
    assert Request(prompt="p", params={"max_tokens": 6}).key != a.key
    assert Request(messages=[{"role": "user", "content": "p"}]).key != Request(prompt="p").key


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({}, id="neither"),
        pytest.param({"prompt": "p", "messages": [{"role": "user", "content": "p"}]}, id="both"),
        pytest.param({"prompt": "p", "sample": -1}, id="negative-sample"),
        pytest.param({"prompt": "p", "params": {"n": 0}}, id="n-zero"),
        pytest.param({"messages": "hello"}, id="messages-string"),
    ],
)
def test_bad_request_is_a_config_error(kwargs: dict[str, Any]) -> None:
    """An ill-formed Request fails at construction with a ConfigError."""
    with pytest.raises(ConfigError):
        Request(**kwargs)


async def test_run_yields_every_request_with_chat_and_completion(fake_server: Any) -> None:
    """Chat and completion requests all come back once, with text, usage and the caller's id."""
    async with fake_server() as server:
        requests = [Request(prompt=f"p {i}", id=f"c{i}") for i in range(30)]
        requests += [Request(messages=[{"role": "user", "content": f"m {i}"}], id=f"m{i}") for i in range(30)]
        async with Engine(config(server.base_url)) as engine:
            results = [r async for r in engine.run(requests)]
    assert sorted(r.request.id or "" for r in results) == sorted(r.id or "" for r in requests)
    assert all(r.ok and r.text and r.usage and r.usage.prompt_tokens == 2 for r in results)


@pytest.mark.parametrize(
    "honour_n", [pytest.param(True, id="server-honours-n"), pytest.param(False, id="ignores-n")]
)
async def test_n_is_fanned_out_into_samples(fake_server: Any, honour_n: bool) -> None:
    """n=3 becomes three single-sample calls with sample 0..2 and distinct keys, whatever the server does."""
    async with fake_server(honour_n=honour_n) as server:
        async with Engine(config(server.base_url)) as engine:
            results = [r async for r in engine.run([Request(prompt="p", params={"n": 3}, id="x")])]
        assert sorted(r.request.sample for r in results) == [0, 1, 2]
        assert len({r.key for r in results}) == 3
        assert server.counts["requests"] == 3


async def test_input_is_consumed_lazily(fake_server: Any) -> None:
    """A 100k-item generator is pulled at most the window (plus a little) ahead of the results."""
    pulled = 0

    def requests() -> Iterator[Request]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield Request(prompt=f"p {i}")

    async with fake_server() as server:
        async with Engine(config(server.base_url, concurrency=16)) as engine:
            seen = 0
            async with aclosing(engine.run(requests())) as results:
                async for _ in results:
                    seen += 1
                    assert pulled <= seen + 16 + 16 + 1  # in flight + buffered results + one
                    if seen == 300:
                        break
    assert pulled < 400


async def test_async_iterable_input(fake_server: Any) -> None:
    """An async generator of requests works and is not advanced concurrently."""

    async def requests() -> AsyncIterator[Request]:
        for i in range(50):
            await anyio.lowlevel.checkpoint()
            yield Request(prompt=f"p {i}")

    async with fake_server() as server:
        async with Engine(config(server.base_url)) as engine:
            results = [r async for r in engine.run(requests())]
    assert len({r.key for r in results}) == 50


async def test_identical_requests_share_one_call(fake_server: Any) -> None:
    """Two in-flight requests with the same content make one call and both get the answer."""
    hits, responder = prompt_counter()
    async with fake_server(responder=responder, latency=0.01) as server:
        async with Engine(config(server.base_url)) as engine:
            results = [
                r async for r in engine.run([Request(prompt="same", id="a"), Request(prompt="same", id="b")])
            ]
    assert sorted(r.request.id or "" for r in results) == ["a", "b"]
    assert hits["same"] == 1


async def test_journal_resume_skips_done_work(fake_server: Any, tmp_path: Path) -> None:
    """A second run with the same journal replays finished results and calls the server only for the rest."""
    journal = tmp_path / "j.jsonl"
    hits, responder = prompt_counter()
    async with fake_server(responder=responder) as server:
        async with Engine(config(server.base_url), journal=journal) as engine:
            first = [r async for r in engine.run(Request(prompt=f"p {i}") for i in range(40))]
        async with Engine(config(server.base_url), journal=journal) as engine:
            second = [r async for r in engine.run(Request(prompt=f"p {i}", id=str(i)) for i in range(60))]
            stats = engine.statistics()
    assert all(r.ok for r in first + second)
    assert sum(r.from_journal for r in second) == 40
    assert stats.from_journal == 40
    assert server.counts["requests"] == 60
    assert set(hits.values()) == {1}
    assert {r.request.id for r in second if r.from_journal} == {str(i) for i in range(40)}  # caller's ids
    assert [r.key for r in read_journal(journal)] == [r.key for r in first] + [
        r.key for r in second if not r.from_journal
    ]


async def test_transient_failures_are_not_journaled_but_bad_requests_are(
    fake_server: Any, tmp_path: Path
) -> None:
    """A request that ran out of retries is retried on resume; a 400 is remembered and not re-sent."""
    from selfinstruct.testing.server import FakeReply

    def responder(kind: str, body: dict[str, Any]) -> str | FakeReply:
        return FakeReply(status=400) if body["prompt"] == "bad" else FakeReply(status=500)

    journal = tmp_path / "j.jsonl"
    async with fake_server(responder=responder) as server:
        for _ in range(2):
            async with Engine(config(server.base_url, max_retries=0), journal=journal) as engine:
                results = [r async for r in engine.run([Request(prompt="bad"), Request(prompt="flaky")])]
        assert {r.error.kind for r in results if r.error} == {"bad_request", "server"}
        assert server.counts["requests"] == 3  # bad once, flaky twice
    assert [r.request.prompt for r in read_journal(journal)] == ["bad"]


def _write_journal(path: Path, count: int) -> list[str]:
    """Write a small journal by hand through the Journal class; return its keys."""
    from selfinstruct.engine.requests import Result, Usage

    keys = []
    with Journal(path, fsync_interval=None) as journal:
        for i in range(count):
            request = Request(prompt=f"p {i}")
            journal.append(Result(request, request.key, f"t {i}", "stop", Usage(1, 1), None))
            keys.append(request.key)
    return keys


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b'{"key": "abc", "text": "half', id="no-newline"),
        pytest.param(b'{"key": "abc", "te\n', id="invalid-json-last-line"),
    ],
)
def test_torn_last_line_is_ignored_and_repaired(tmp_path: Path, tail: bytes) -> None:
    """A torn last line is skipped by read_journal and cut off when the journal is reopened."""
    path = tmp_path / "j.jsonl"
    keys = _write_journal(path, 5)
    good_size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(tail)
    assert [r.key for r in read_journal(path)] == keys
    with Journal(path) as journal:
        assert len(journal) == 5
        assert journal.repaired_bytes == len(tail)
    assert path.stat().st_size == good_size


def test_corrupt_middle_line_is_a_journal_error(tmp_path: Path) -> None:
    """A bad line that is not the last one means the file is not a journal: JournalError with the line."""
    path = tmp_path / "j.jsonl"
    _write_journal(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"not json\n" + b"".join(lines[1:]))
    with pytest.raises(JournalError, match=r"j\.jsonl:2"):
        Journal(path).open()


async def test_failover_when_one_endpoint_is_down(fake_server: Any) -> None:
    """With one of two base URLs refusing connections, every request still succeeds on the other."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    clock = FakeClock()
    async with fake_server() as server:
        async with Engine(config(dead, server.base_url, max_retries=3), clock=clock) as engine:
            results = [r async for r in engine.run(Request(prompt=f"p {i}") for i in range(100))]
    assert all(r.ok for r in results)
    assert server.counts["ok"] == 100
    assert engine.statistics().retries.get("connection", 0) <= 20


async def test_load_spreads_over_replicas(fake_server: Any) -> None:
    """Least-outstanding choice sends a fair share of requests to each live replica."""
    async with fake_server(latency=0.002) as one, fake_server(latency=0.002) as two:
        async with Engine(config(one.base_url, two.base_url, concurrency=16)) as engine:
            results = [r async for r in engine.run(Request(prompt=f"p {i}") for i in range(200))]
    assert all(r.ok for r in results)
    assert min(one.counts["ok"], two.counts["ok"]) >= 60


async def test_caller_owned_session_is_not_closed(fake_server: Any) -> None:
    """An engine given a session uses it and leaves it open."""
    async with fake_server() as server, aiohttp.ClientSession() as session:
        async with Engine(config(server.base_url), session=session) as engine:
            assert (await engine.complete(Request(prompt="p"))).ok
        assert not session.closed
        async with session.get(server.base_url + "/models") as response:
            assert response.status == 200


async def test_early_break_cancels_in_flight_cleanly(fake_server: Any, tmp_path: Path) -> None:
    """Leaving the loop early cancels in-flight work; the journal stays valid and the engine closes."""
    journal = tmp_path / "j.jsonl"
    async with fake_server(latency=0.005) as server:
        async with Engine(config(server.base_url, concurrency=32), journal=journal) as engine:
            async with aclosing(engine.run(Request(prompt=f"p {i}") for i in range(1000))) as results:
                async for result in results:
                    if result.request.prompt == "p 5":
                        break
            assert engine.window.in_flight == 0
    done = list(read_journal(journal))
    assert len({r.key for r in done}) == len(done) < 1000


async def test_statistics_snapshot(fake_server: Any) -> None:
    """statistics() reports requests, tokens, latency percentiles and is frozen."""
    async with fake_server() as server:
        async with Engine(config(server.base_url)) as engine:
            _ = [r async for r in engine.run(Request(prompt=f"a b {i}") for i in range(20))]
            stats = engine.statistics()
    assert (stats.requests, stats.succeeded, stats.completed, stats.failed) == (20, 20, 20, 0)
    assert stats.prompt_tokens == 60
    assert stats.latency_p50 is not None
    assert stats.latency_p95 is not None
    assert stats.latency_p50 <= stats.latency_p95
    with pytest.raises(AttributeError):
        stats.requests = 0  # type: ignore[misc]


async def test_complete_rejects_n_above_one(fake_server: Any) -> None:
    """complete() returns one Result, so n > 1 is refused with a hint to use run()."""
    async with fake_server() as server:
        async with Engine(config(server.base_url)) as engine:
            with pytest.raises(ConfigError, match="run"):
                await engine.complete(Request(prompt="p", params={"n": 2}))


async def test_params_and_defaults_reach_the_server(fake_server: Any) -> None:
    """Sampling params and default_params are sent; n is not; the model is the config's."""
    bodies: list[dict[str, Any]] = []

    def responder(kind: str, body: dict[str, Any]) -> str:
        bodies.append(body)
        return "x"

    async with fake_server(responder=responder) as server:
        cfg = config(server.base_url, default_params={"temperature": 0.2, "top_p": 0.9})
        async with Engine(cfg) as engine:
            await engine.complete(Request(prompt="p", params={"temperature": 1.0, "stop": ["\n"]}))
    assert bodies == [{"model": "m", "temperature": 1.0, "top_p": 0.9, "stop": ["\n"], "prompt": "p"}]


def test_journal_lines_are_json(tmp_path: Path) -> None:
    """Each journal line is one standalone JSON object with the key and the text."""
    path = tmp_path / "j.jsonl"
    _write_journal(path, 2)
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["text"] for r in records] == ["t 0", "t 1"]
