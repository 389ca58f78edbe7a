"""The server launcher's life cycle, with a stand-in server script that starts in a fraction of a second."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import anyio
import pytest
from local_procs import FAKE_SERVER, process_gone, wait_until_gone

from selfinstruct.errors import LocalServerError
from selfinstruct.local import LOCAL_HINT, LocalModel, _server, default_slots, serve_local_model

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses Linux process tools")

ModelFactory = Callable[[str], Path]


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A loopback socket that holds a port (listening, never answering)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[_server._ServerProcess]:
    """Every server process the launcher starts during the test, in order."""
    seen: list[_server._ServerProcess] = []
    original = _server._ServerProcess.launch.__func__  # type: ignore[attr-defined]

    async def launch(cls: type[_server._ServerProcess], *args: object) -> _server._ServerProcess:
        process = await original(cls, *args)
        seen.append(process)
        return process

    monkeypatch.setattr(_server._ServerProcess, "launch", classmethod(launch))
    return seen


async def chat(local: LocalModel, text: str) -> str:
    """One chat request through plain aiohttp."""
    body = {"model": local.model, "messages": [{"role": "user", "content": text}]}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{local.base_url}/chat/completions", json=body) as response:
            response.raise_for_status()
            data = await response.json()
    return str(data["choices"][0]["message"]["content"])


def test_constants() -> None:
    """A one-line hint naming how to pass a real endpoint."""
    assert "\n" not in LOCAL_HINT
    assert "--base-url" in LOCAL_HINT
    assert "OPENAI_BASE_URL" in LOCAL_HINT


@pytest.mark.anyio
async def test_serves_then_stops(fake_model: ModelFactory) -> None:
    """The block gets a loopback base URL and the file's name as model; the process ends on exit."""
    model = fake_model("ok")
    async with serve_local_model(model) as local:
        assert local.base_url.startswith("http://127.0.0.1:")
        assert local.base_url.endswith("/v1")
        assert local.model == "fake-ok"
        assert local.model_path == model.resolve()
        assert local.startup_seconds is not None
        assert local.startup_seconds > 0
        assert local.pid is not None
        assert not process_gone(local.pid)
        assert await chat(local, "hello") == "echo: hello"
    assert process_gone(local.pid)


@pytest.mark.anyio
async def test_slots_reach_the_server(fake_model: ModelFactory) -> None:
    """The slot count asked for is the server's and is reported to the caller as its concurrency."""
    async with serve_local_model(fake_model("ok"), slots=3, n_threads=1) as local:
        assert local.slots == 3
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{local.base_url}/models") as response:
                models = await response.json()
    assert models["data"][0]["meta"]["slots"] == 3


@pytest.mark.anyio
async def test_default_slots_follow_threads(fake_model: ModelFactory) -> None:
    """With no slot count given, the server gets default_slots(threads) and the caller is told."""
    async with serve_local_model(fake_model("ok"), n_threads=1) as local:
        assert local.slots == default_slots(1)
    assert default_slots(1) == 1  # one request at a time: seeded local runs repeat byte for byte
    assert default_slots(4) == 4
    assert default_slots(1000) == 64


@pytest.mark.parametrize(
    ("tail", "cause"),
    [
        pytest.param(
            "0.00.006.489 E gguf_init_from_reader: failed to read header\n"
            "0.00.006.784 E srv    load_model: failed to load model, '/m.gguf'\n"
            "0.00.006.851 I srv    operator(): operator(): cleaning up before exit...\n"
            "0.00.007.670 E srv          init: exiting due to model loading error\n"
            "ERROR: llama-server did not start: Failed to init server, please check the input params.",
            "srv load_model: failed to load model, '/m.gguf'",
            id="llama-load-failure",
        ),
        pytest.param(
            "Traceback (most recent call last):\nModuleNotFoundError: No module named 'xllamacpp'",
            "ModuleNotFoundError: No module named 'xllamacpp'",
            id="python-exception",
        ),
        pytest.param("0.00.001.000 I srv init: loading model", None, id="no-error"),
    ],
)
def test_cause_is_read_from_the_log(tail: str, cause: str | None) -> None:
    """The error message names llama.cpp's own cause, not its closing "exiting due to" line."""
    assert _server._last_error_line(tail) == cause


@pytest.mark.anyio
async def test_fixed_port_is_used(fake_model: ModelFactory) -> None:
    """A free port given by the caller is the one served."""
    port = _server._free_port()
    async with serve_local_model(fake_model("ok"), port=port) as local:
        assert local.base_url == f"http://127.0.0.1:{port}/v1"


@pytest.mark.anyio
async def test_exception_in_block_stops_server(fake_model: ModelFactory) -> None:
    """An error inside the block propagates unchanged and the server is gone afterwards."""
    pids: list[int | None] = []

    async def fail_inside() -> None:
        async with serve_local_model(fake_model("ok")) as local:
            pids.append(local.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert pids[0] is not None
    assert process_gone(pids[0])


@pytest.mark.anyio
async def test_cancellation_in_block_stops_server(fake_model: ModelFactory) -> None:
    """Cancelling the task inside the block (as Ctrl-C does) still stops the server."""
    pid = None
    with anyio.CancelScope() as scope:
        async with serve_local_model(fake_model("ok")) as local:
            pid = local.pid
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert pid is not None
    assert process_gone(pid)


@pytest.mark.anyio
async def test_cancellation_during_startup_stops_server(
    fake_model: ModelFactory, launched: list[_server._ServerProcess]
) -> None:
    """Cancelled while waiting for a server that never answers: no process is left behind."""
    with anyio.move_on_after(0.5) as scope:
        async with serve_local_model(fake_model("hang")):
            pytest.fail("a hanging server must never be ready")
    assert scope.cancelled_caught
    assert len(launched) == 1
    assert process_gone(launched[0].process.pid)


@pytest.mark.anyio
async def test_server_ignoring_sigterm_is_killed(
    fake_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that ignores SIGTERM is killed after the grace period."""
    monkeypatch.setattr(_server, "_STOP_GRACE_SECONDS", 0.2)
    async with serve_local_model(fake_model("ignore_term")) as local:
        assert local.pid is not None
    assert process_gone(local.pid)


@pytest.mark.anyio
async def test_death_at_start_reports_stderr_tail(
    fake_model: ModelFactory, launched: list[_server._ServerProcess]
) -> None:
    """A server that exits while starting: the error has its exit code and its stderr tail."""
    with pytest.raises(LocalServerError, match="exited with code 3 while starting") as caught:
        async with serve_local_model(fake_model("exit")):
            pytest.fail("the block must not run")
    assert "made-up failure" in caught.value.stderr_tail
    assert "made-up failure" in str(caught.value)
    assert process_gone(launched[0].process.pid)


@pytest.mark.anyio
async def test_startup_timeout(fake_model: ModelFactory, launched: list[_server._ServerProcess]) -> None:
    """A server that never answers: a timeout error naming the limit, and the process is stopped."""
    # (Whether the stand-in wrote its first line within 0.3 s depends on machine load, so the tail
    # is not checked here; test_death_at_start_reports_stderr_tail covers it.)
    with pytest.raises(LocalServerError, match="did not answer within 0.3 s"):
        async with serve_local_model(fake_model("hang"), startup_timeout=0.3):
            pytest.fail("the block must not run")
    assert process_gone(launched[0].process.pid)


@pytest.mark.anyio
async def test_death_while_in_use_is_reported(
    fake_model: ModelFactory, launched: list[_server._ServerProcess]
) -> None:
    """A server that dies during the block: leaving the block raises with the exit code and tail."""

    async def kill_server_inside() -> None:
        async with serve_local_model(fake_model("ok")) as local:
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientError):
                    await session.post(f"{local.base_url}/die")
            with anyio.fail_after(10):
                await launched[0].process.wait()

    with pytest.raises(LocalServerError, match="exited with code 7 while in use") as caught:
        await kill_server_inside()
    assert "told to die" in caught.value.stderr_tail


@pytest.mark.anyio
async def test_given_port_in_use(fake_model: ModelFactory, listening_socket: socket.socket) -> None:
    """--port N that is taken: a clear error naming the port, before any process starts."""
    port = listening_socket.getsockname()[1]
    with pytest.raises(LocalServerError, match=f"port {port} is in use"):
        async with serve_local_model(fake_model("ok"), port=port):
            pytest.fail("the block must not run")


@pytest.mark.anyio
async def test_lost_port_race_retries_once(
    fake_model: ModelFactory,
    listening_socket: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    launched: list[_server._ServerProcess],
) -> None:
    """The free port is taken before the server binds it: one retry on a new port succeeds."""
    taken = listening_socket.getsockname()[1]
    ports = iter([taken, _server._free_port()])
    monkeypatch.setattr(_server, "_free_port", lambda: next(ports))
    async with serve_local_model(fake_model("ok")) as local:
        assert f":{taken}/" not in local.base_url
        assert await chat(local, "again") == "echo: again"
    assert len(launched) == 2
    assert all(process_gone(server.process.pid) for server in launched)


@pytest.mark.anyio
async def test_lost_port_race_twice_is_an_error(
    fake_model: ModelFactory, listening_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Losing the race twice: an error naming the port, with the server's bind failure in the tail."""
    taken = listening_socket.getsockname()[1]
    monkeypatch.setattr(_server, "_free_port", lambda: taken)
    with pytest.raises(LocalServerError, match=f"port {taken} is in use") as caught:
        async with serve_local_model(fake_model("ok")):
            pytest.fail("the block must not run")
    assert "address already in use" in caught.value.stderr_tail.lower()


def test_no_orphan_when_parent_is_killed(fake_model: ModelFactory, tmp_path: Path) -> None:
    """SIGKILL of the process that started the server takes the server down too (pdeathsig, watchdog)."""
    driver = tmp_path / "driver.py"
    driver.write_text(
        textwrap.dedent(
            f"""
            import anyio, sys
            from selfinstruct.local import _server
            _server._SERVER_TARGET = {str(FAKE_SERVER)!r}
            _server.check_server_installed = lambda: None

            async def main():
                async with _server.serve_local_model({str(fake_model("ok"))!r}) as local:
                    print(local.pid, flush=True)
                    await anyio.sleep_forever()

            anyio.run(main)
            """
        )
    )
    with subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, text=True) as parent:
        try:
            assert parent.stdout is not None
            server_pid = int(parent.stdout.readline())
            assert not process_gone(server_pid)
        finally:
            parent.kill()
    assert wait_until_gone(server_pid, timeout=10)


def test_child_stops_when_stdin_closes(fake_model: ModelFactory) -> None:
    """The portable watchdog: closing the server's stdin pipe stops it, with no signal sent."""
    command = [
        sys.executable,
        str(_server._CHILD_SCRIPT),
        str(os.getpid()),
        str(FAKE_SERVER),
        "--model",
        str(fake_model("ok")),
        "--port",
        str(_server._free_port()),
    ]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL) as child:
        try:
            assert child.stdin is not None
            child.stdin.close()
            assert child.wait(timeout=10) == -signal.SIGTERM
        finally:
            if child.poll() is None:
                child.kill()


@pytest.mark.anyio
async def test_unstartable_interpreter_is_a_local_server_error(
    fake_model: ModelFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """If the server process cannot be started at all, the OS error comes back as LocalServerError."""
    model = fake_model("ok")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(LocalServerError, match="cannot start the local model server"):
        async with serve_local_model(model):
            pytest.fail("the block must not run")
