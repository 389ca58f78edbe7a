"""Who may write a run directory or an output file, and whether a re-run continues what is there.

``hold_lock`` takes an exclusive OS lock (``flock``) on a small lock file: a second process that
asks for the same lock is refused at once with :class:`~selfinstruct.errors.OutputBusyError`
naming the path and the holder's pid. The OS drops the lock when its holder exits or dies (kill -9
included), so there is never a stale lock to clean up; the lock file itself may stay. Within one
process the lock is re-entrant (the command takes it before starting a local model, the library
again around the run).

``check_run_settings`` compares a run's settings with the ones ``run.json`` recorded: a larger
``num_instructions`` is a resume; anything that changes the data is refused with
:class:`~selfinstruct.errors.SettingsChangedError` naming each difference.

``remove_stale_temporaries`` deletes the hidden ``.NAME.*.tmp`` files an atomic write leaves
behind when its process is killed before the rename.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from .errors import ConfigError, InputError, OutputBusyError, OutputWriteError, SettingsChangedError
from .jsonl import ensure_directory

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, nothing is refused
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "RUN_LOCK",
    "check_finished_run",
    "check_run_settings",
    "hold_lock",
    "lock_path_for_file",
    "open_output",
    "open_run_dir",
    "remove_stale_temporaries",
]

#: The lock file inside a run directory.
RUN_LOCK = ".selfinstruct.lock"

_held: dict[str, tuple[int, int]] = {}  # real path -> (fd, depth); OS locks belong to the process
_held_guard = threading.Lock()


def lock_path_for_file(output: str | Path) -> Path:
    """The lock file guarding a single output file: ``.NAME.lock`` beside it."""
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


@contextmanager
def hold_lock(path: str | Path, *, what: str | Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` for the block (created if missing).

    Args:
        path: the lock file (``RUN_DIR/.selfinstruct.lock``, or :func:`lock_path_for_file`).
        what: what the lock guards, for the message (default: the lock file's directory).

    Raises:
        OutputBusyError: another process holds the lock (the message names it and its pid).
    """
    path = Path(path)
    ensure_directory(path.parent)
    key = os.path.realpath(path)
    with _held_guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
        else:
            _held[key] = (_acquire(path, what if what is not None else path.parent), 1)
    try:
        yield
    finally:
        with _held_guard:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                os.close(fd)  # closing the descriptor releases the lock


def _acquire(path: Path, what: str | Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputWriteError(path, error, saved=f"nothing was written (the lock guards {what})") from None
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputBusyError(
            f"{what} is in use by {_holder(path)} (lock file {path}); wait for it to finish or stop "
            "it, then re-run to resume (two processes writing one output would pay every request twice)"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def remove_stale_temporaries(directory: str | Path, name: str = "*") -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files a killed atomic write of NAME left in ``directory``.

    Call it only while holding the lock on what is written there (another writer's temporary
    file is not stale). ``name="*"``: every such file. Returns the paths removed.
    """
    removed = []
    for leftover in Path(directory).glob(f".{name}.*.tmp"):
        try:
            leftover.unlink()
        except FileNotFoundError:
            continue
        removed.append(leftover)
    return removed


@contextmanager
def open_run_dir(
    run_dir: str | Path,
    settings: Mapping[str, Any],
    *,
    window: int | None,
    engine: Mapping[str, Any] | None,
    new_run: bool = False,
    data_files: tuple[str, ...] = (),
) -> Iterator[None]:
    """Create and lock a run directory for the block, and check that the run may continue there.

    Under the lock: the settings are compared with ``run.json`` (see :func:`check_run_settings`),
    or with ``new_run`` the earlier run's ``run.json`` and ``data_files`` are removed (its journal
    stays: answers to the very same requests replay); temporaries a killed write left are removed.

    Raises:
        ConfigError: ``run_dir`` is a file. OutputBusyError: another process holds the directory.
        SettingsChangedError: the settings would change the recorded run's data.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file; -o/--output names a run directory (new or from a run)")
    ensure_directory(run_dir)
    with hold_lock(run_dir / RUN_LOCK, what=run_dir):
        if new_run:
            for name in (*data_files, "run.json"):
                (run_dir / name).unlink(missing_ok=True)
        else:
            check_run_settings(run_dir, settings, window=window, engine=engine)
        remove_stale_temporaries(run_dir)
        yield


def check_finished_run(run_dir: str | Path, *names: str) -> Path:
    """``run_dir`` if it holds the files ``names``; else say why they are not there.

    Used by ``export`` and ``stats``. When a file is missing, a path that does not exist, a file,
    a directory no run wrote, a run that has not finished and a finished run missing a file each
    get their own message. A directory with the files is taken as it is (run.json is not needed).

    Raises:
        InputError: naming the directory (or the missing file) and what to do.
    """
    run_dir = Path(run_dir)
    missing = [name for name in names if not (run_dir / name).is_file()]
    if not missing:
        return run_dir
    give = "give the -o directory of a `selfinstruct run`"
    if not run_dir.exists():
        raise InputError(f"no such run directory ({give})", path=run_dir)
    if not run_dir.is_dir():
        raise InputError(f"is a file, not a run directory ({give})", path=run_dir)
    record = run_dir / "run.json"
    if not record.is_file():
        raise InputError(f"not a run directory: no {missing[0]} and no run.json ({give})", path=run_dir)
    try:
        finished = orjson.loads(record.read_bytes()).get("summary") is not None
    except (orjson.JSONDecodeError, AttributeError):
        finished = True  # unreadable: say what is missing
    if not finished:
        raise InputError(
            "the run has not finished yet (it is still running, or it was stopped: re-run the same "
            "`selfinstruct run` command to resume it)",
            path=run_dir,
        )
    raise InputError(
        "missing from this finished run (re-run the same `selfinstruct run` command to write it again)",
        path=run_dir / missing[0],
    )


@contextmanager
def open_output(output: str | Path) -> Iterator[None]:
    """Lock a single output file (``.NAME.lock`` beside it) for the block; remove stale temporaries.

    Raises:
        ConfigError: ``output`` is a directory. OutputBusyError: another process is writing it.
    """
    output = Path(output)
    if output.is_dir():
        raise ConfigError(f"{output} is a directory; -o/--output names the output file to write")
    with hold_lock(lock_path_for_file(output), what=output):
        remove_stale_temporaries(output.parent, output.name)
        yield


# Settings recorded in run.json that do not change the data: where the run lives, how hard it
# pushes the server, and when it gives up (a re-run may change these freely).
_NOT_DATA = frozenset(
    {"out_dir", "num_instructions", "concurrency", "max_idle_requests", "max_failures_in_row"}
)
_PATHS = frozenset({"seeds_path", "classification_examples_path", "instance_examples_path"})
# Request fields that do not change an answer.
_NOT_DATA_PARAMS = frozenset({"service_tier", "user"})
#: The command-line flag for each setting, to name in messages.
FLAGS: Mapping[str, str] = {
    "num_instructions": "--num-instructions",
    "chat": "--chat",
    "seeds_path": "--seeds",
    "classification_examples_path": "--classification-examples",
    "instance_examples_path": "--instance-examples",
    "seed": "--seed",
    "classification_only": "--classification-only",
    "instances_per_task": "--instances-per-task",
    "threshold": "--threshold",
    "tokenizer": "--tokenizer",
    "window": "--window",
    "concurrency": "--concurrency",
    "record_nearest": "--no-nearest",
    "compact_prompts": "prompt form (compact for the local model)",
    "model": "--model",
    "params": "--param",
}


def _same(key: str, before: Any, now: Any) -> bool:
    if key in _PATHS and before is not None and now is not None:
        return bool(os.path.realpath(before) == os.path.realpath(now))
    return bool(before == now)


def _shown(value: Any) -> str:
    return "default" if value is None else orjson.dumps(value).decode()


def check_run_settings(
    run_dir: str | Path,
    settings: Mapping[str, Any],
    *,
    window: int | None = None,
    engine: Mapping[str, Any] | None = None,
) -> None:
    """Refuse to continue a run directory whose ``run.json`` recorded settings that make other data.

    Args:
        run_dir: the run directory (nothing is checked when it has no ``run.json`` yet).
        settings: ``RunConfig.to_json()`` of the run about to start.
        window: the bootstrap window asked for explicitly (``None``: the recorded one is reused).
        engine: ``{"model": ..., "params": {...}}`` of the run about to start, when known.

    Raises:
        SettingsChangedError: a setting that changes the data differs (each one is named with its
            flag, old and new value), or ``num_instructions`` is smaller than recorded.
        ConfigError: ``run_dir`` is a file, not a directory.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file; -o/--output names a run directory (new or from a run)")
    recorded = _recorded(run_dir)
    if recorded is None:
        return
    before = recorded.get("config") or {}
    changed = []
    for key, now in settings.items():
        if key in _NOT_DATA or key == "window" or key not in before:
            continue
        if not _same(key, before[key], now):
            changed.append(f"{FLAGS.get(key, key)}: {_shown(before[key])} before, {_shown(now)} now")
    recorded_window = recorded.get("window")
    if window is not None and isinstance(recorded_window, int) and window != recorded_window:
        changed.append(f"--window: {recorded_window} before, {window} now")
    old_n, new_n = before.get("num_instructions"), settings.get("num_instructions")
    if isinstance(old_n, int) and isinstance(new_n, int) and new_n < old_n:
        changed.append(
            f"--num-instructions: {old_n} before, {new_n} now (a larger number resumes and adds to the run; "
            "a smaller one would drop instructions already made)"
        )
    old_engine = recorded.get("engine")
    if isinstance(old_engine, dict) and engine is not None:
        if engine.get("model") is not None and old_engine.get("model") != engine.get("model"):
            changed.append(
                f"--model: {_shown(old_engine.get('model'))} before, {_shown(engine['model'])} now"
            )
        old_params, new_params = _data_params(old_engine.get("params")), _data_params(engine.get("params"))
        if old_params != new_params:
            changed.append(f"--param: {_shown(old_params)} before, {_shown(new_params)} now")
    if changed:
        raise SettingsChangedError(
            f"{run_dir} holds a run made with other settings ({'; '.join(changed)}). Re-run with the "
            "recorded settings (see run.json) to resume it, pass --new-run to start a new run in "
            "this directory on purpose (its data files are replaced), or choose another -o",
            changed=tuple(changed),
        )


def _data_params(params: object) -> dict[str, Any]:
    if not isinstance(params, dict):
        return {}
    return {k: v for k, v in params.items() if k not in _NOT_DATA_PARAMS}


def _recorded(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "run.json"
    try:
        record = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as error:
        raise ConfigError(
            f"{path} cannot be read ({error}); pass --new-run to start a new run in {run_dir}"
        ) from None
    return record if isinstance(record, dict) else None
