"""The fake server's Batch API: the life of a batch on a virtual clock, its files, faults, limits."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from batch_helpers import BatchServerFactory, StepClock

from selfinstruct.testing.server import FakeOpenAIServer

pytestmark = pytest.mark.anyio


def line(custom_id: str, prompt: str, *, model: str = "m", url: str = "/v1/completions") -> dict[str, Any]:
    """One batch input line for a completion prompt."""
    body = {"model": model, "prompt": prompt, "max_tokens": 16}
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


async def upload(
    session: aiohttp.ClientSession, server: FakeOpenAIServer, lines: list[dict[str, Any]]
) -> str:
    """Upload ``lines`` as a batch file; return the file id."""
    form = aiohttp.FormData()
    form.add_field("purpose", "batch")
    form.add_field("file", b"".join(orjson.dumps(x) + b"\n" for x in lines), filename="in.jsonl")
    async with session.post(f"{server.base_url}/files", data=form) as response:
        assert response.status == 200
        return str((await response.json())["id"])


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Status and JSON answer of one call."""
    async with session.request(method, url, **kwargs) as response:
        return response.status, orjson.loads(await response.read())


async def create(
    session: aiohttp.ClientSession, server: FakeOpenAIServer, file_id: str, endpoint: str = "/v1/completions"
) -> dict[str, Any]:
    """Create a batch over an uploaded file; return the batch object."""
    body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
    status, batch = await call(session, "POST", f"{server.base_url}/batches", json=body)
    assert status == 200, batch
    return dict(batch)


async def content(session: aiohttp.ClientSession, server: FakeOpenAIServer, file_id: str) -> list[Any]:
    """The JSON lines of a file."""
    async with session.get(f"{server.base_url}/files/{file_id}/content") as response:
        assert response.status == 200
        return [orjson.loads(x) for x in (await response.read()).splitlines()]


async def test_batch_moves_through_its_states_on_virtual_time(batch_server: BatchServerFactory) -> None:
    """validating -> in_progress (counts rising) -> finalizing -> completed, with output matching online."""
    clock = StepClock()
    config = {"validating_seconds": 10.0, "requests_per_second": 1.0, "finalizing_seconds": 5.0}
    async with (
        batch_server(clock=clock, time_scale=1.0, **config) as server,
        aiohttp.ClientSession() as session,
    ):
        lines = [line(f"c{i}", f"prompt {i}") for i in range(4)]
        batch = await create(session, server, await upload(session, server, lines))
        url = f"{server.base_url}/batches/{batch['id']}"
        seen = []
        for step in (0, 5, 6, 1, 1, 1, 1, 2, 5):
            clock.advance(step)
            _, batch = await call(session, "GET", url)
            seen.append((batch["status"], batch["request_counts"]["completed"]))
        assert seen == [
            ("validating", 0),
            ("validating", 0),
            ("in_progress", 1),
            ("in_progress", 2),
            ("in_progress", 3),
            ("finalizing", 4),
            ("finalizing", 4),
            ("finalizing", 4),
            ("completed", 4),
        ]
        assert batch["error_file_id"] is None
        output = await content(session, server, batch["output_file_id"])
        assert [x["custom_id"] for x in output] == ["c0", "c1", "c2", "c3"]
        status, online = await call(session, "POST", f"{server.base_url}/completions", json=lines[2]["body"])
        assert status == 200
        assert output[2]["response"]["status_code"] == 200
        assert output[2]["response"]["body"]["choices"] == online["choices"]
        assert output[2]["response"]["body"]["usage"] == online["usage"]


async def test_expired_batch_returns_what_it_finished(batch_server: BatchServerFactory) -> None:
    """A batch too slow for its window expires: done lines in the output, the rest batch_expired."""
    clock = StepClock()
    async with (
        batch_server(clock=clock, time_scale=1.0, expire_rate=1.0, completion_window=1000.0) as server,
        aiohttp.ClientSession() as session,
    ):
        batch = await create(
            session, server, await upload(session, server, [line(f"c{i}", "p") for i in range(50)])
        )
        clock.advance(999)
        _, batch = await call(session, "GET", f"{server.base_url}/batches/{batch['id']}")
        assert batch["status"] == "in_progress"
        clock.advance(2)
        _, batch = await call(session, "GET", f"{server.base_url}/batches/{batch['id']}")
        assert batch["status"] == "expired"
        done = await content(session, server, batch["output_file_id"])
        left = await content(session, server, batch["error_file_id"])
        assert 0 < len(done) < 50
        assert len(done) + len(left) == 50
        assert {x["error"]["code"] for x in left} == {"batch_expired"}
        assert batch["request_counts"] == {"total": 50, "completed": len(done), "failed": len(left)}


async def test_cancel_stops_the_batch_and_keeps_finished_lines(batch_server: BatchServerFactory) -> None:
    """cancel -> cancelling -> cancelled; lines done before the cancel are in the output."""
    clock = StepClock()
    config = {"validating_seconds": 0.0, "requests_per_second": 1.0, "cancelling_seconds": 10.0}
    async with (
        batch_server(clock=clock, time_scale=1.0, **config) as server,
        aiohttp.ClientSession() as session,
    ):
        batch = await create(
            session, server, await upload(session, server, [line(f"c{i}", "p") for i in range(10)])
        )
        clock.advance(3.5)
        status, batch = await call(session, "POST", f"{server.base_url}/batches/{batch['id']}/cancel")
        assert status == 200
        assert batch["status"] == "cancelling"
        clock.advance(10)
        _, batch = await call(session, "GET", f"{server.base_url}/batches/{batch['id']}")
        assert batch["status"] == "cancelled"
        assert len(await content(session, server, batch["output_file_id"])) == 3
        left = await content(session, server, batch["error_file_id"])
        assert {x["error"]["code"] for x in left} == {"batch_cancelled"}
        status, _ = await call(session, "POST", f"{server.base_url}/batches/{batch['id']}/cancel")
        assert status == 409


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        pytest.param([line("a", "p"), line("a", "q")], "duplicate_custom_id", id="duplicate-id"),
        pytest.param([line("a", "p"), line("b", "q", model="other")], "mixed_models", id="two-models"),
        pytest.param([line("a", "p", url="/v1/chat/completions")], "invalid_request", id="wrong-url"),
        pytest.param([line(f"c{i}", "p") for i in range(6)], "too_many_requests", id="too-many"),
    ],
)
async def test_invalid_file_fails_validation(
    batch_server: BatchServerFactory, lines: list[dict[str, Any]], code: str
) -> None:
    """A file OpenAI would refuse makes the batch fail with that error code after validating."""
    clock = StepClock()
    async with (
        batch_server(clock=clock, time_scale=1.0, max_requests=5) as server,
        aiohttp.ClientSession() as session,
    ):
        batch = await create(session, server, await upload(session, server, lines))
        assert batch["status"] == "validating"
        clock.advance(3600)
        _, batch = await call(session, "GET", f"{server.base_url}/batches/{batch['id']}")
        assert batch["status"] == "failed"
        assert code in [e["code"] for e in batch["errors"]["data"]]


async def test_failed_lines_are_drawn_again_and_paid_twice_is_counted(
    batch_server: BatchServerFactory,
) -> None:
    """Line errors land in the error file; answering an already answered custom_id is counted."""
    async with batch_server(line_error_rate=0.3) as server, aiohttp.ClientSession() as session:
        lines = [line(f"c{i}", f"p{i}") for i in range(200)]
        batch = await create(session, server, await upload(session, server, lines))
        while batch["status"] != "completed":
            _, batch = await call(session, "GET", f"{server.base_url}/batches/{batch['id']}")
        errors = await content(session, server, batch["error_file_id"])
        assert 30 < len(errors) < 90
        assert {x["response"]["status_code"] for x in errors} == {429, 500}
        assert server.counts["batch_paid_twice"] == 0
        again = await create(session, server, await upload(session, server, lines[:10]))
        while again["status"] != "completed":
            _, again = await call(session, "GET", f"{server.base_url}/batches/{again['id']}")
        answered = len(await content(session, server, again["output_file_id"]))
        errors_first = {x["custom_id"] for x in errors}
        twice = sum(
            1
            for x in await content(session, server, again["output_file_id"])
            if x["custom_id"] not in errors_first
        )
        assert answered > 0
        assert server.counts["batch_paid_twice"] == twice


async def test_enqueued_token_limit_refuses_a_batch_while_others_run(
    batch_server: BatchServerFactory,
) -> None:
    """Over the enqueued-token limit a new batch fails with token_limit_exceeded."""
    clock = StepClock()
    async with (
        batch_server(clock=clock, time_scale=1.0, enqueued_token_limit=30) as server,
        aiohttp.ClientSession() as session,
    ):
        first = await create(session, server, await upload(session, server, [line("a", "one two three")] * 1))
        lines = [line(f"c{i}", "word " * 5) for i in range(6)]
        second = await create(session, server, await upload(session, server, lines))
        clock.advance(100)
        _, first = await call(session, "GET", f"{server.base_url}/batches/{first['id']}")
        _, second = await call(session, "GET", f"{server.base_url}/batches/{second['id']}")
        assert first["status"] in ("in_progress", "finalizing")
        assert second["status"] == "failed"
        assert second["errors"]["data"][0]["code"] == "token_limit_exceeded"


async def test_list_pages_newest_first(batch_server: BatchServerFactory) -> None:
    """GET /batches lists newest first with after= paging."""
    async with batch_server() as server, aiohttp.ClientSession() as session:
        ids = []
        for i in range(3):
            ids.append(
                (await create(session, server, await upload(session, server, [line(f"c{i}", "p")])))["id"]
            )
        _, page = await call(session, "GET", f"{server.base_url}/batches", params={"limit": "2"})
        assert [b["id"] for b in page["data"]] == [ids[2], ids[1]]
        assert page["has_more"] is True
        _, rest = await call(session, "GET", f"{server.base_url}/batches", params={"after": ids[1]})
        assert [b["id"] for b in rest["data"]] == [ids[0]]
