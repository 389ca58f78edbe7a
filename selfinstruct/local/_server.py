"""Run llama.cpp's OpenAI-compatible server on a free loopback port for the length of a block.

The server is ``llama-server`` from the prebuilt ``xllamacpp`` wheel, with ``slots`` requests decoded
together (continuous batching), in a child process started from ``_child.py`` (which ties its life
to ours, see there).
Its stdout and stderr go to an anonymous temporary file, so a chatty server can never block on a
full pipe and the last lines are at hand for error messages. Stopping is SIGTERM to the child's
process group, a grace period, then SIGKILL; it runs shielded from cancellation, on normal exit,
on errors and on Ctrl-C alike.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import aiohttp
import anyio
import anyio.abc

from ..errors import ConfigError, LocalServerError
from ._model import check_server_installed, resolve_model_path

__all__ = ["LOCAL_HINT", "LocalModel", "default_slots", "default_threads", "serve_local_model"]

LOCAL_HINT: Final = (
    "selfinstruct: no endpoint configured, so a small local model (by default SmolLM2-135M-Instruct) is "
    "serving this run; a real endpoint gives far better data: pass --base-url URL (or set OPENAI_BASE_URL "
    "and OPENAI_API_KEY)."
)

HOST: Final = "127.0.0.1"
_CHILD_SCRIPT: Final = Path(__file__).with_name("_child.py")
# What the child runs: "xllamacpp", or a .py script taking the same flags (the tests swap in one).
_SERVER_TARGET = "xllamacpp"
# The server ends at once on SIGTERM; a stand-in that does not is killed after this long (a server
# holds no state worth saving).
_STOP_GRACE_SECONDS = 2.0
_TAIL_BYTES: Final = 8192
_TAIL_LINES: Final = 30
_POLL_FIRST_DELAY: Final = 0.05
_POLL_MAX_DELAY: Final = 0.5
_PROBE_TIMEOUT: Final = 2.0
_MAX_SLOTS: Final = 64


@dataclass(frozen=True)
class LocalModel:
    """A running local model server: point an engine at ``base_url`` and send ``model`` as the model."""

    base_url: str
    """OpenAI-style base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
    model: str
    """The model name the server answers to (the GGUF file's name without ``.gguf``)."""
    model_path: Path | None = field(default=None, kw_only=True)
    pid: int | None = field(default=None, kw_only=True)
    startup_seconds: float | None = field(default=None, kw_only=True)
    """Seconds from starting the process to the first answer of ``GET /v1/models``."""
    slots: int = field(default=1, kw_only=True)
    """Requests the server decodes together: the engine's concurrency for this server."""


class _PortTakenError(Exception):
    """The server could not bind its port (someone else took it after we checked)."""

    def __init__(self, tail: str) -> None:
        super().__init__("address already in use")
        self.tail = tail


@asynccontextmanager
async def serve_local_model(
    model_path: Path | str | None = None,
    *,
    port: int | None = None,
    n_ctx: int = 2048,
    startup_timeout: float = 180.0,
    n_threads: int | None = None,
    slots: int | None = None,
) -> AsyncIterator[LocalModel]:
    """Serve a GGUF model on loopback with llama.cpp's ``llama-server`` for the duration of the block.

    Args:
        model_path: the GGUF file to serve; None serves the embedded SmolLM2-135M-Instruct.
        port: loopback port to listen on; None picks a free one (and retries once if it gets taken).
        n_ctx: context window of each request (each slot), in tokens.
        startup_timeout: seconds to wait for the server's first answer.
        n_threads: CPU threads for generation and prompt processing; None: see ``default_threads``.
        slots: requests decoded together (continuous batching); None: see ``default_slots``.
            Send this many requests at a time (``LocalModel.slots``); more wait in the server's queue.

    Yields:
        LocalModel with the base URL, the model name and the slot count to use.

    Raises:
        ConfigError: an argument is out of range.
        LocalServerError: the extra is not installed, the model file is missing, the port is in use,
            the server died at start or did not answer in time (with the server's stderr tail), or the
            server died while the block ran.
    """
    _check_settings(port, n_ctx, startup_timeout, n_threads, slots)
    path = resolve_model_path(model_path)
    check_server_installed()
    threads = n_threads if n_threads is not None else default_threads()
    settings = _Settings(
        n_ctx=n_ctx, threads=threads, slots=slots if slots is not None else default_slots(threads)
    )
    server = await _start(path, port, settings, startup_timeout)
    try:
        yield server.info
    finally:
        died_on_its_own = server.returncode is not None
        returncode = server.returncode
        await server.stop()
    # Only reached when the block finished normally: a crash mid-run must not pass silently.
    if died_on_its_own:
        raise LocalServerError(
            f"the local model server for {path} exited with code {returncode} while in use",
            stderr_tail=server.tail,
        )


def _check_settings(
    port: int | None, n_ctx: int, startup_timeout: float, n_threads: int | None, slots: int | None
) -> None:
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"port must be between 1 and 65535, got {port}")
    if n_ctx < 16:
        raise ConfigError(f"n_ctx must be at least 16 tokens, got {n_ctx}")
    if not startup_timeout > 0:
        raise ConfigError(f"startup_timeout must be positive, got {startup_timeout}")
    if n_threads is not None and n_threads < 1:
        raise ConfigError(f"n_threads must be at least 1, got {n_threads}")
    if slots is not None and not 1 <= slots <= _MAX_SLOTS:
        raise ConfigError(f"slots must be between 1 and {_MAX_SLOTS}, got {slots}")


async def _start(path: Path, port: int | None, settings: _Settings, startup_timeout: float) -> _ServerProcess:
    """Launch the server and wait until it answers; with no port given, retry once on a taken one."""
    alias = path.name.removesuffix(".gguf")
    attempts = 1 if port is not None else 2
    for attempt in range(attempts):
        chosen = port if port is not None else _free_port()
        if port is not None:
            _check_port_free(port)
        candidate = await _ServerProcess.launch(path, alias, chosen, settings)
        try:
            await candidate.wait_ready(startup_timeout)
        except _PortTakenError as error:
            await candidate.stop()
            if attempt + 1 < attempts:
                continue
            raise LocalServerError(
                f"port {chosen} is in use on {HOST}; choose another port or leave it unset "
                "to pick a free one",
                stderr_tail=error.tail,
            ) from None
        except BaseException:
            await candidate.stop()
            raise
        return candidate
    raise AssertionError("unreachable: the last attempt returns or raises")


_ERROR_LINE = re.compile(r"^(?:[\w.]*(?:Error|Exception)|ERROR):\s*\S")
# llama.cpp's log lines: "0.00.006.575 E llama_model_load: error loading model: ..." (E for error).
_LLAMA_ERROR_LINE = re.compile(r"^[\d.]+ E (?P<message>.*\S)")
# Its last error lines only say that it gave up ("exiting due to model loading error"); the cause
# is the line before.
_LLAMA_GIVING_UP = ("exiting due to", "cleaning up")
_PORT_TAKEN_SIGNS = ("address already in use", "couldn't bind http server socket")


def _last_error_line(tail: str) -> str | None:
    """The cause the server logged last: llama.cpp's last error line that names one, else a
    Python exception or a logged ERROR line."""
    llama_errors = [
        " ".join(match["message"].split())
        for line in tail.splitlines()
        if (match := _LLAMA_ERROR_LINE.match(line))
    ]
    causes = [line for line in llama_errors if not any(sign in line for sign in _LLAMA_GIVING_UP)]
    if causes:
        return causes[-1]
    for line in reversed(tail.splitlines()):
        if _ERROR_LINE.match(line):
            return " ".join(line.split())
    return None


@dataclass(frozen=True)
class _Settings:
    """How the server is to run: context per slot, CPU threads, slots."""

    n_ctx: int
    threads: int
    slots: int


def default_slots(threads: int) -> int:
    """Slots for a server with ``threads`` threads: one per thread, at most ``_MAX_SLOTS``.

    Chosen by measurement on 2 cores (one thread): 4 slots gave 32.0 tok/s against 30.0 for one,
    the same within noise (decoding a 135M model is CPU-bound), but batched decoding changes the
    numerics, so seeded runs differed from run to run (4 runs of 20 instructions, 4 different
    outputs); with one slot two runs were byte-identical and no slower (27.1 and 27.4 s).
    """
    return max(1, min(_MAX_SLOTS, threads))


def default_threads() -> int:
    """Threads for the server: half the usable cores, 1 to 4 (a 135M model gains little from more).

    The other half stays free for the engine, the dedup and whatever else runs on the machine;
    generation slows down badly when llama.cpp's threads have to share cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2))


def _free_port() -> int:
    """Return a loopback port that was free a moment ago (the caller handles losing the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _check_port_free(port: int) -> None:
    """Raise LocalServerError if ``port`` cannot be bound on loopback, the way the server binds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name == "posix":  # llama-server sets SO_REUSEADDR too: a port in TIME_WAIT is usable
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LocalServerError(
                    f"port {port} is in use on {HOST}; choose another port or leave it unset "
                    "to pick a free one"
                ) from None
            raise LocalServerError(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from None


class _ServerProcess:
    """One child server process, its log file, and how to wait for it and stop it."""

    def __init__(
        self,
        process: anyio.abc.Process,
        log: IO[bytes],
        path: Path,
        alias: str,
        port: int,
        settings: _Settings,
        started: float,
    ) -> None:
        self.process = process
        self.log = log
        self.path = path
        self.alias = alias
        self.port = port
        self.settings = settings
        self.started = started
        self.startup_seconds: float | None = None
        self.tail = ""
        self._stopped = False

    @classmethod
    async def launch(cls, path: Path, alias: str, port: int, settings: _Settings) -> _ServerProcess:
        """Start the server process (it is not ready yet: call ``wait_ready``)."""
        command = [
            sys.executable,
            str(_CHILD_SCRIPT),
            str(os.getpid()),
            _SERVER_TARGET,
            "--model",
            str(path),
            "--alias",
            alias,
            "--host",
            HOST,
            "--port",
            str(port),
            "--ctx-per-slot",
            str(settings.n_ctx),
            "--slots",
            str(settings.slots),
            "--threads",
            str(settings.threads),
            "--batch-threads",
            str(settings.threads),
        ]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"  # so the log tail is current when the server dies
        # llama.cpp's OpenMP workers spin while waiting; on a busy machine a spinning thread steals
        # the core its partner needs (measured with llama-cpp-python on 2 shared cores: 2 threads
        # 3.9 tok/s by default, 24 tok/s passive; 1 thread 33-43 tok/s).
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        log = tempfile.TemporaryFile(prefix="selfinstruct-local-server-", suffix=".log")
        try:
            process = await anyio.open_process(
                command,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env=env,
                # Own process group: a Ctrl-C in the terminal reaches us, and we stop the server
                # in order instead of both racing to shut down.
                start_new_session=os.name == "posix",
            )
        except OSError as error:
            log.close()
            raise LocalServerError(f"cannot start the local model server ({command[0]}): {error}") from error
        except BaseException:
            log.close()
            raise
        return cls(process, log, path, alias, port, settings, anyio.current_time())

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL of this server."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def info(self) -> LocalModel:
        """What the caller needs to use the server."""
        return LocalModel(
            self.base_url,
            self.alias,
            model_path=self.path,
            pid=self.process.pid,
            startup_seconds=self.startup_seconds,
            slots=self.settings.slots,
        )

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return self.process.returncode

    async def wait_ready(self, startup_timeout: float) -> None:
        """Poll ``GET /v1/models`` until it lists our model; fail fast if the process exits.

        Raises:
            _PortTakenError: the server could not bind its port.
            LocalServerError: the server exited, or did not answer within ``startup_timeout`` seconds.
        """
        outcome = "timeout"
        async with anyio.create_task_group() as group:

            async def watch_exit() -> None:
                nonlocal outcome
                await self.process.wait()
                outcome = "died"
                group.cancel_scope.cancel()

            group.start_soon(watch_exit)
            with anyio.move_on_after(self.started + startup_timeout - anyio.current_time()):
                await self._poll_until_ready()
                outcome = "ready"
            group.cancel_scope.cancel()
        # An answer only counts if our process is still alive (not someone else on that port).
        if outcome == "died" or self.returncode is not None:
            self._raise_died()
        if outcome == "timeout":
            raise LocalServerError(
                f"the local model server for {self.path} did not answer within {startup_timeout:g} s",
                stderr_tail=self.read_tail(),
            )
        self.startup_seconds = anyio.current_time() - self.started

    async def _poll_until_ready(self) -> None:
        """Poll ``GET /v1/models`` with a short backoff until it lists our model."""
        delay = _POLL_FIRST_DELAY
        url = f"{self.base_url}/models"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_PROBE_TIMEOUT)) as session:
            while not await self._answers(session, url):
                await anyio.sleep(delay)
                delay = min(delay * 1.5, _POLL_MAX_DELAY)

    async def _answers(self, session: aiohttp.ClientSession, url: str) -> bool:
        """True if ``url`` answers 200 with a model list that names our model."""
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    return False
                body: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            return False
        data = body.get("data") if isinstance(body, dict) else None
        return isinstance(data, list) and any(
            isinstance(item, dict) and item.get("id") == self.alias for item in data
        )

    def _raise_died(self) -> None:
        """Raise the right error for a server that exited during start-up."""
        tail = self.read_tail()
        if any(sign in tail.lower() for sign in _PORT_TAKEN_SIGNS):
            raise _PortTakenError(tail)
        cause = _last_error_line(tail)
        raise LocalServerError(
            f"the local model server for {self.path} exited with code {self.returncode} while starting"
            + (f": {cause}" if cause else ""),
            stderr_tail=tail,
        )

    def read_tail(self) -> str:
        """The last lines the server wrote to stdout/stderr (also kept in ``self.tail``)."""
        if self.log.closed:
            return self.tail
        self.log.flush()
        size = self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, size - _TAIL_BYTES))
        data = self.log.read()
        lines = data.decode("utf-8", errors="replace").splitlines()
        if size > _TAIL_BYTES and lines:
            lines = lines[1:]  # the first line is probably cut
        self.tail = "\n".join(lines[-_TAIL_LINES:])
        return self.tail

    async def stop(self) -> None:
        """Stop the process (SIGTERM, grace period, SIGKILL), shielded from cancellation; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with anyio.CancelScope(shield=True):
            try:
                if self.process.returncode is None:
                    self._signal(signal.SIGTERM)
                    with anyio.move_on_after(_STOP_GRACE_SECONDS):
                        await self.process.wait()
                if self.process.returncode is None:
                    self._signal(_SIGKILL)
                    await self.process.wait()
            finally:
                try:
                    await self.process.aclose()
                finally:
                    self.read_tail()
                    self.log.close()

    def _signal(self, signum: int) -> None:
        """Send ``signum`` to the server's process group (POSIX) or the process itself."""
        if os.name == "posix":
            try:
                os.killpg(self.process.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass
        elif self.process.returncode is None:
            if signum == _SIGKILL:
                self.process.kill()
            else:
                self.process.terminate()


_SIGKILL: Final = int(getattr(signal, "SIGKILL", signal.SIGTERM))
