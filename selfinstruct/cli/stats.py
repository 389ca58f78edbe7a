"""selfinstruct stats: the dataset table of a run, instances by input kind, rejections by reason,
similarity histogram.

Inputs are counted as empty, one field (plain text or one "Sentence: ..." field) or several fields
("Question: ..." + "Options: ..."). With --plot FILE.png, also draws the ROUGE-L-to-nearest-seed
histogram, the length histograms, input kinds and rejections (integer count axes; needs matplotlib:
the ``plot`` extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import help_text

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``stats`` command."""
    parser = subparsers.add_parser(
        "stats",
        help="print dataset statistics of a run",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by 'selfinstruct run'")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="also draw histograms")


def run(args: argparse.Namespace) -> int:
    """Print the statistics (and draw them with --plot)."""
    from ..pipeline.stats import format_stats, load_stats, plot_stats

    stats = load_stats(args.run_dir)
    print(format_stats(stats))
    if args.plot is not None:
        plot_stats(stats, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0
