"""``selfinstruct dedup --ray``: the flags of the distributed dedup, and running it with a progress bar."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import Any

__all__ = ["add_ray_arguments", "run_on_ray", "wants_ray"]


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--ray``, ``--ray-address``, ``--ray-cpus`` and ``--ray-blocks`` to the dedup parser."""
    group = parser.add_argument_group(
        "on Ray (pip install 'selfinstruct[ray]')",
        "the same kept lines and rejects, found by a similarity join in Ray tasks",
    )
    group.add_argument(
        "--ray", action="store_true", help="run on Ray (a private local Ray unless an address)"
    )
    group.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="cluster to join (implies --ray): host:6379, ray://host:10001 or auto (default: $RAY_ADDRESS)",
    )
    group.add_argument(
        "--ray-cpus", type=int, default=None, help="CPUs of the private local Ray (default: all cores)"
    )
    group.add_argument(
        "--ray-blocks",
        type=int,
        default=None,
        help="input blocks (default: about sqrt(2 x cluster CPUs)); the output is the same for any number",
    )


def wants_ray(args: argparse.Namespace) -> bool:
    """Whether the command line asked for the distributed dedup."""
    return bool(args.ray or args.ray_address)


def run_on_ray(args: argparse.Namespace) -> int:
    """Deduplicate with ``dedup_file_ray``; print the local command's summary line plus Ray's figures."""
    from ..distributed import RayDedupProgress, dedup_file_ray

    show = sys.stderr.isatty() and not args.no_progress
    with ExitStack() as stack:
        bars: dict[str, Any] = {}

        def progress(update: RayDedupProgress) -> None:
            if update.stage not in bars:
                from tqdm import tqdm

                for bar in bars.values():
                    bar.close()
                unit = " blocks" if update.stage == "read" else " tasks"
                bars[update.stage] = stack.enter_context(
                    tqdm(total=update.total, unit=unit, desc=update.stage, file=sys.stderr)
                )
            bar = bars[update.stage]
            bar.set_postfix(rows=update.rows, pairs=update.pairs, refresh=False)
            bar.update(max(0, update.done - bar.n))

        result = dedup_file_ray(
            args.input,
            args.output,
            field=args.field,
            threshold=args.threshold,
            against=args.against,
            rejects=args.rejects,
            tokenizer=args.tokenizer,
            stemmer=args.stemmer,
            rule=args.rule,
            skip_invalid=args.skip_invalid,
            address=args.ray_address,
            num_cpus=args.ray_cpus,
            blocks=args.ray_blocks,
            progress=progress if show else None,
        )
    line = f"dedup: read {result.read}, kept {result.kept}, rejected {result.rejected}"
    if args.against:
        line += f" (against a pool of {result.pooled})"
    if result.invalid:
        line += f", skipped {result.invalid} invalid"
    line += (
        f" in {result.seconds:.2f} s on Ray ({result.cpus} CPUs, {result.blocks} blocks,"
        f" {len(result.joins)} join tasks, {result.pairs} pairs) -> {args.output}"
    )
    print(line)
    for example in result.invalid_examples:
        print(f"  skipped: {example}", file=sys.stderr)
    return 0
