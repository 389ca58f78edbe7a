"""The launcher against the real llama.cpp server (needs the local extra and the model wheel)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from local_procs import local_extra_installed, process_gone

from selfinstruct.errors import LocalServerError
from selfinstruct.local import LocalModel, _server, serve_local_model

pytestmark = [
    pytest.mark.skipif(not local_extra_installed(), reason='needs pip install "selfinstruct[local]"'),
    pytest.mark.timeout(150),
]


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def post(local: LocalModel, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON to the local server with plain aiohttp and return the decoded answer."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{local.base_url}{path}", json={"model": local.model, **body}) as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
    return result


@pytest.mark.anyio
async def test_garbage_gguf_reports_cause_and_tail(tmp_path: Path) -> None:
    """A file that is not a model: the real server dies at start and we show why, with its stderr."""
    garbage = tmp_path / "not-a-model.gguf"
    garbage.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    with pytest.raises(LocalServerError, match="exited with code 1 while starting") as caught:
        async with serve_local_model(garbage):
            pytest.fail("the block must not run")
    assert "failed to load model" in str(caught.value).lower()
    assert "failed to load model" in caught.value.stderr_tail.lower()


@pytest.mark.anyio
async def test_hostile_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-server's and uvicorn's settings in our environment do not leak into the server's."""
    monkeypatch.setenv("LLAMA_ARG_PORT", "1")
    monkeypatch.setenv("LLAMA_ARG_HOST", "0.0.0.0")
    monkeypatch.setenv("LLAMA_API_KEY", "secret-the-server-must-not-require")
    monkeypatch.setenv("LLAMA_ARG_CTX_SIZE", "17")
    monkeypatch.setenv("LLAMA_ARG_N_PARALLEL", "1")
    monkeypatch.setenv("PORT", "1")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("API_KEY", "secret-the-server-must-not-require")
    monkeypatch.setenv("N_CTX", "17")
    async with serve_local_model(n_ctx=256, startup_timeout=30) as local:
        answer = await post(local, "/completions", {"prompt": "Hello", "max_tokens": 2})
        pid = local.pid
    assert answer["choices"][0]["text"] is not None
    assert pid is not None
    assert process_gone(pid)


@pytest.mark.anyio
async def test_lost_port_race_with_real_server(occupied_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """llama-server's bind failure is recognised: the retry on a fresh port serves the model."""
    ports = iter([occupied_port, _server._free_port()])
    monkeypatch.setattr(_server, "_free_port", lambda: next(ports))
    async with serve_local_model(n_ctx=256) as local:
        assert f":{occupied_port}/" not in local.base_url
        models = await _get(f"{local.base_url}/models")
    assert [item["id"] for item in models["data"]] == [local.model]


@pytest.mark.slow
@pytest.mark.anyio
async def test_embedded_model_chat_and_completion() -> None:
    """The embedded SmolLM2 answers one chat completion and one raw completion with real text."""
    async with serve_local_model() as local:
        assert local.model == "SmolLM2-135M-Instruct.Q4_1"
        chat = await post(
            local,
            "/chat/completions",
            {
                "messages": [{"role": "user", "content": "Name three colours."}],
                "max_tokens": 48,
                "temperature": 0.0,
            },
        )
        completion = await post(
            local, "/completions", {"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0.0}
        )
    chat_text = chat["choices"][0]["message"]["content"]
    assert isinstance(chat_text, str)
    assert len(chat_text.split()) >= 2
    assert chat["usage"]["completion_tokens"] > 0
    assert "<|im_start|>" not in chat_text
    text = completion["choices"][0]["text"]
    assert "Paris" in text
    assert completion["choices"][0]["finish_reason"] in ("stop", "length")


async def _get(url: str) -> dict[str, Any]:
    """GET a JSON document."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            result: dict[str, Any] = await response.json()
    return result


def test_module_entry_point_serves_until_ctrl_c() -> None:
    """``python -m selfinstruct.local`` prints a working base URL and stops cleanly on SIGINT."""
    command = [sys.executable, "-m", "selfinstruct.local", "--n-ctx", "256"]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline(), process.stdout.readline()]
            assert lines[1].startswith("export OPENAI_BASE_URL=http://127.0.0.1:"), lines
            base_url = lines[1].split("=", 1)[1].strip()
            models = anyio.run(_get, f"{base_url}/models")
            assert [item["id"] for item in models["data"]] == ["SmolLM2-135M-Instruct.Q4_1"]
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130
