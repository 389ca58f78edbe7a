"""Start-up shim for the embedded model server process; run by path, never imported by selfinstruct.

Usage: ``python _child.py PARENT_PID SERVER [server arguments...]`` where SERVER is ``xllamacpp``
(llama.cpp's own ``llama-server``, run in this process by the prebuilt ``xllamacpp`` wheel) or the
path of a ``.py`` script that takes the same flags (tests use one).

Running this file by path (not ``-m selfinstruct...``) keeps the child from importing the
selfinstruct package (and numba) just to start a server. Before it starts the server it ties its
life to the parent, so a killed parent never leaves an orphan server: on Linux with
``prctl(PR_SET_PDEATHSIG, SIGTERM)``; on every platform with a watchdog thread that stops the
server when stdin (a pipe whose write end only the parent holds) reaches end of file.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1
# After stdin closes, how long the server may take to shut down gracefully before a hard exit.
_WATCHDOG_GRACE_SECONDS = 5.0
_XLLAMACPP = "xllamacpp"
_CACHE_RAM_MIB = 256


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


def _serve_with_xllamacpp(argv: list[str]) -> None:
    """Serve a GGUF with llama.cpp's own server (``xllamacpp.Server``, in this process) until killed."""
    import argparse

    parser = argparse.ArgumentParser(prog="_child.py PARENT_PID xllamacpp")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx-per-slot", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch-threads", type=int, required=True)
    args = parser.parse_args(argv)

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_parallel = args.slots
    # n_ctx is shared out evenly: each slot gets n_ctx / n_parallel tokens.
    params.n_ctx = args.ctx_per_slot * args.slots
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.batch_threads
    # No busy-polling between graph runs: on a shared machine a spinning thread steals the core
    # the engine, the dedup or another thread of ours needs.
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    # The prompt cache kept in RAM beyond the slots' own (8 GiB by default): bounded, since a
    # run's prompts share little beyond what each slot keeps.
    params.cache_ram_mib = _CACHE_RAM_MIB
    try:
        server = xllamacpp.Server(params)
    except RuntimeError as error:
        # llama.cpp has already logged the cause (model load, bind...) on stderr; the parent reads it.
        print(f"ERROR: llama-server did not start: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"serving on {server.listening_address}", file=sys.stderr, flush=True)
    # The HTTP server and the slots run on llama.cpp's own threads; this one only waits for a
    # signal (SIGTERM's default action ends the process: there is nothing to save).
    threading.Event().wait()


def main() -> None:
    """Check the arguments, tie our life to the parent's and run the server."""
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

    sys.argv = [target, *sys.argv[3:]]
    if target.endswith(".py"):
        import runpy

        runpy.run_path(target, run_name="__main__")
    elif target == _XLLAMACPP:
        _serve_with_xllamacpp(sys.argv[1:])
    else:
        sys.exit(f"_child.py: unknown server {target!r} (expected {_XLLAMACPP!r} or a .py script)")


if __name__ == "__main__":
    main()
