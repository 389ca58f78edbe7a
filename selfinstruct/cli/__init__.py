"""The ``selfinstruct`` command: one sub-command per module in this package.

Each command module exposes ``add_parser(subparsers) -> None`` and ``run(args) -> int`` and keeps
its heavy imports inside ``run`` so that ``selfinstruct --help`` starts fast.

Exit status: 0 done, 1 finished with failed requests, 2 a ``SelfInstructError`` (bad arguments,
input or settings), 74 (``WRITE_FAILED_EXIT``) a file could not be written (a full disk), 130
interrupted, 143 SIGTERM. A failure under a task group is reported as its one primary error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ..errors import WRITE_FAILED_EXIT, OutputWriteError, SelfInstructError, primary_error

__all__ = ["main"]

COMMANDS = ("run", "complete", "dedup", "export", "stats")


def help_text(doc: str | None) -> str:
    """A module docstring as ``--help`` text: reStructuredText literals (double backticks) unwrapped."""
    return (doc or "").replace("``", "")


def configured_base_urls(flags: Sequence[str] | None) -> list[str]:
    """The endpoints to use: ``--base-url`` flags, else ``$OPENAI_BASE_URL``, else none (local model)."""
    if flags:
        return list(flags)
    from_env = os.environ.get("OPENAI_BASE_URL")
    return [from_env] if from_env else []


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="selfinstruct",
        description=(
            "Bootstrap instruction-tuning data with SELF-INSTRUCT against any OpenAI-compatible endpoint."
        ),
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"selfinstruct {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"{__name__}.{args.command}")
    try:
        try:
            return int(module.run(args))
        except BaseException as error:  # a failure under many tasks: report the one that matters
            picked = primary_error(error)
            if picked is error:
                raise
            raise picked from None
    except OutputWriteError as error:
        print(f"selfinstruct {args.command}: error: {error}", file=sys.stderr)
        return WRITE_FAILED_EXIT
    except SelfInstructError as error:
        print(f"selfinstruct {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"selfinstruct {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
