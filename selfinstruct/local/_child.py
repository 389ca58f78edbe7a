"""Start-up shim for the embedded model server process; run by path, never imported by selfinstruct.

Usage: ``python _child.py PARENT_PID SERVER [server arguments...]`` where SERVER is a module name
(``llama_cpp.server``) or the path of a ``.py`` script that takes the same flags (tests use one).

Running this file by path (not ``-m selfinstruct...``) keeps the child from importing the
selfinstruct package (and numba) just to start a server. Before it hands over to
``llama_cpp.server`` it:

1. ties its life to the parent so a killed parent never leaves an orphan server: on Linux with
   ``prctl(PR_SET_PDEATHSIG, SIGTERM)``; on every platform with a watchdog thread that stops the
   server when stdin (a pipe whose write end only the parent holds) reaches end of file;
2. drops environment variables that ``llama_cpp.server`` would read as settings (``HOST``,
   ``PORT``, ``API_KEY``, ``MODEL``, ``N_CTX``...), so only the flags the parent chose apply.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1
# After stdin closes, how long the server may take to shut down gracefully before a hard exit.
_WATCHDOG_GRACE_SECONDS = 5.0


def _die_with_parent(parent_pid: int) -> None:
    """Arrange for this process to stop when the parent process goes away."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no usable libc; the watchdog still works
            pass
    # The parent may have died before prctl took effect: then we were re-parented already.
    if os.getppid() != parent_pid:
        sys.exit(1)
    threading.Thread(target=_watch_stdin, name="parent-watchdog", daemon=True).start()


def _watch_stdin() -> None:
    """Stop the server once the parent's end of the stdin pipe is closed (parent exited or stopping us)."""
    # os.read on the raw descriptor: a thread blocked in sys.stdin.buffer.read would hold the
    # buffer's lock and abort interpreter shutdown.
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    threading.Event().wait(_WATCHDOG_GRACE_SECONDS)
    os._exit(1)


def _drop_settings_from_environment() -> None:
    """Remove environment variables that pydantic-settings or the server's __main__ would read."""
    from llama_cpp.server.settings import ConfigFileSettings, Settings

    names = {name.lower() for name in Settings.model_fields}
    names |= {name.lower() for name in ConfigFileSettings.model_fields}
    names |= {"host", "port", "config_file"}
    for key in list(os.environ):
        if key.lower() in names:
            del os.environ[key]


def main() -> None:
    """Check the arguments, detach from the caller's environment and run llama_cpp.server."""
    # Running a file by path puts its directory first on sys.path; nothing there is meant to shadow
    # the server's imports.
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == here:
        del sys.path[0]
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit("usage: _child.py PARENT_PID SERVER [server arguments...]")
    parent_pid = int(sys.argv[1])
    target = sys.argv[2]
    _die_with_parent(parent_pid)

    import runpy

    sys.argv = [target, *sys.argv[3:]]
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        if target == "llama_cpp.server":
            _drop_settings_from_environment()
        runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
