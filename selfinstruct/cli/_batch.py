"""The Batch API flags of ``complete`` and ``run``, and the progress display of a batch job."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import configured_base_urls

if TYPE_CHECKING:
    from ..batch import BatchConfig, BatchStats

__all__ = [
    "BatchProgress",
    "add_batch_arguments",
    "batch_config_from_args",
    "batch_summary",
    "check_batch_arguments",
]

# The states a reader wants told apart, in the order a batch goes through them.
_STATES = ("submitting", "validating", "in_progress", "finalizing", "cancelling")


def add_batch_arguments(parser: argparse.ArgumentParser, *, cancel: bool) -> None:
    """Declare ``--batch`` (and ``--batch-cancel`` when ``cancel``) with their settings."""
    group = parser.add_argument_group("Batch API (half the price; answers within 24 hours)")
    group.add_argument(
        "--batch",
        action="store_true",
        help="send the requests through OpenAI's Batch API instead of one call each; each batch id is "
        "recorded before anything else, so re-running the same command after a kill polls the same "
        "batches and never submits paid work twice",
    )
    if cancel:
        group.add_argument(
            "--batch-cancel",
            action="store_true",
            help="cancel the batches an earlier --batch run of this output submitted, keep the answers "
            "they finished, and write the output (the rest marked cancelled)",
        )
    group.add_argument(
        "--batch-size",
        type=int,
        default=50_000,
        help="most requests per batch (default and OpenAI's limit 50,000; files also stay under 200 MB)",
    )
    group.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        help="seconds before the first status check; it grows by half while nothing changes, to 2 minutes "
        "at most (default 10)",
    )


def check_batch_arguments(args: argparse.Namespace) -> None:
    """Refuse what cannot work with the Batch API (before anything starts)."""
    if not (args.batch or getattr(args, "batch_cancel", False)):
        return
    if args.batch and getattr(args, "batch_cancel", False):
        raise ConfigError("--batch submits and --batch-cancel cancels: give one of them")
    if not configured_base_urls(args.base_urls):
        raise ConfigError(
            "--batch needs an endpoint with OpenAI's Batch API (/v1/files, /v1/batches): give --base-url "
            "or set OPENAI_BASE_URL; the embedded local model has none"
        )
    if args.service_tier == "flex":
        raise ConfigError("the Batch API is already billed at the flex rate: drop --service-tier flex")
    batch_config_from_args(args)


def batch_config_from_args(args: argparse.Namespace) -> BatchConfig:
    """The ``BatchConfig`` the flags describe."""
    from ..batch import BatchConfig

    if not 1 <= args.batch_size <= 50_000:
        raise ConfigError("--batch-size must be in 1..50,000 (OpenAI's limit per batch)")
    if not args.poll_interval > 0:
        raise ConfigError("--poll-interval must be > 0 seconds")
    return BatchConfig(
        max_requests_per_file=args.batch_size,
        poll_interval=args.poll_interval,
        poll_max=max(120.0, args.poll_interval),
        flush_idle=min(5.0, args.poll_interval),
    )


def _states(stats: BatchStats) -> str:
    parts = [f"{stats.open_batches[s]} {s.replace('_', ' ')}" for s in _STATES if stats.open_batches.get(s)]
    parts += [f"{n} {s}" for s, n in sorted(stats.finished_batches.items())]
    return ", ".join(parts) or "none open"


class BatchProgress:
    """Shows a batch job: a bar on a terminal (unless ``bar=False``), else a line whenever a batch
    changes state."""

    def __init__(self, enabled: bool, *, label: str, bar: bool = True) -> None:
        self.enabled = enabled
        self.tty = bar and sys.stderr.isatty()
        self.label = label
        self.last = ""
        self.bar: Any = None
        self.started = time.monotonic()

    def __call__(self, stats: BatchStats) -> None:
        if not self.enabled:
            return
        states = _states(stats)
        if self.tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(file=sys.stderr, unit="req", dynamic_ncols=True, desc=self.label)
            self.bar.total = stats.requests
            self.bar.n = stats.done
            self.bar.set_postfix_str(f"batches: {states}; server done {stats.server_done:,}", refresh=True)
            return
        if states != self.last:
            self.last = states
            elapsed = time.monotonic() - self.started
            done = f"{stats.done:,}/{stats.requests:,}" if stats.requests else f"{stats.done:,}"
            print(
                f"{self.label}: batches {states}; {done} requests in, "
                f"{stats.server_done:,} done in open batches ({elapsed:.0f}s)",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def batch_summary(stats: BatchStats, elapsed: float) -> str:
    """One line on what a batch job did."""
    parts = [
        f"{stats.succeeded:,} answered, {stats.replayed:,} from the journal, {stats.failed:,} failed",
        f"batches: {stats.batches_created:,} created, {stats.batches_resumed:,} resumed"
        + (f", {stats.batches_adopted:,} recovered" if stats.batches_adopted else ""),
        f"{stats.resubmitted:,} requests sent again after a retryable failure",
        f"tokens {stats.prompt_tokens:,} in / {stats.completion_tokens:,} out",
    ]
    if stats.errors:
        parts.append("errors " + ", ".join(f"{k} {v}" for k, v in sorted(stats.errors.items())))
    if stats.cost:
        parts.append(f"cost ${stats.cost:.4f} at the batch rate")
    parts.append(f"{elapsed:.1f}s")
    return "; ".join(parts)
