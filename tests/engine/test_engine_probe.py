"""probe_endpoints: one clear error up front for a server that is down or refuses the key."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from selfinstruct.engine import probe_endpoints
from selfinstruct.errors import APIError, TransportError

pytestmark = pytest.mark.anyio


def _closed_port_url() -> str:
    """A loopback URL on a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_reachable_endpoints_are_returned(fake_server: Any) -> None:
    """A running server is reported reachable; a dead replica beside it is left out, not fatal."""
    dead = _closed_port_url()
    async with fake_server() as server:
        assert await probe_endpoints([server.base_url, dead]) == [server.base_url]


async def test_no_reachable_endpoint_names_the_url() -> None:
    """With every endpoint down, TransportError names the URL and says what to check."""
    dead = _closed_port_url()
    with pytest.raises(TransportError, match=r"cannot reach the endpoint: http://127\.0\.0\.1:\d+/v1"):
        await probe_endpoints([dead], timeout=5)


async def test_refused_key_is_an_api_error() -> None:
    """A 401 from /models becomes an APIError that points at OPENAI_API_KEY."""

    async def unauthorized(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Incorrect API key"}}, status=401)

    app = web.Application()
    app.router.add_get("/v1/models", unauthorized)
    async with TestServer(app, host="127.0.0.1") as server:
        with pytest.raises(APIError, match="refused the API key") as caught:
            await probe_endpoints([str(server.make_url("/v1"))], api_key="wrong")
    assert caught.value.status == 401


@pytest.mark.parametrize("command", [pytest.param("run", id="run"), pytest.param("complete", id="complete")])
def test_cli_fails_fast_when_the_server_is_down(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """run and complete against a dead --base-url exit 2 at once with the probe's message."""
    from selfinstruct.cli import main

    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"id": 1, "prompt": "hi"}\n')
    args = {
        "run": ["run", "-o", str(tmp_path / "run"), "--num-instructions", "3"],
        "complete": ["complete", str(source), "-o", str(tmp_path / "out.jsonl")],
    }[command]
    code = main([*args, "--base-url", _closed_port_url(), "--model", "m", "--no-progress"])
    assert code == 2
    assert "cannot reach the endpoint" in capsys.readouterr().err
