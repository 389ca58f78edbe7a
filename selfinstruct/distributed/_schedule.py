"""Which join task to start when: the schedule of the distributed dedup, with no Ray in it.

Blocks are numbered as the driver numbers them: the ``--against`` pool blocks first, then the
input blocks in file order. The pairs ending in input block ``b`` come from a join of ``b`` with
itself, with every pool block, and with every earlier input block ``a``. Once ``a`` is resolved,
only its kept rows need joining (a rejected row never rejects a later one). Waiting for that
makes a chain: ``b`` resolves only after ``b - 1`` is resolved and joined to ``b``.

``JoinPlan`` breaks the chain when there are workers to spare. While fewer joins are in flight
than the cluster has CPUs, it starts a waiting join at once with *all* the earlier block's rows
(more pairs, no wait), taking the one that unblocks the earliest unresolved block first. Both
kinds of join find every pair with a kept left row, so the answer is the same for any schedule.
On a busy cluster the queue is never short and the kept-only joins do the work. On a large one
the idle CPUs take the chain's joins early. ``bench/bench_dedup_ray.py`` simulates this class
to project a cluster's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Join", "JoinPlan"]


@dataclass(frozen=True)
class Join:
    """One join task: every duplicate pair between block ``left`` and block ``right`` (or inside it).

    ``kept_only``: only the kept rows of ``left`` (it is resolved); otherwise all its rows.
    """

    left: int
    right: int
    kept_only: bool = False


class JoinPlan:
    """The join tasks of one dedup, released as blocks resolve and as CPUs fall idle.

    The caller starts the joins ``start()`` returns, reports each finished one (``finished``),
    resolves input blocks in order as ``next_resolvable()`` names them (then ``resolved``), and
    asks ``fill(in_flight)`` for more work after every event.
    """

    def __init__(self, pool_blocks: int, rows: Sequence[int], cpus: int) -> None:
        """Args: ``pool_blocks`` leading pool blocks; ``rows`` of every block (pool first); ``cpus``."""
        self.first_input = pool_blocks
        self.blocks = len(rows)
        self.cpus = max(1, cpus)
        self._rows = list(rows)
        self._started: set[tuple[int, int]] = set()
        # Joins still to finish per input block (the pairs ending in it), planned or running.
        self._remaining = {
            b: (sum(1 for k in range(b + 1) if rows[k]) if rows[b] else 0)
            for b in range(pool_blocks, self.blocks)
        }
        self.total = sum(self._remaining.values())
        self.frontier = pool_blocks  # the first input block not yet resolved
        self._eager_right = pool_blocks + 1  # the first input block that may still have a waiting join

    def start(self) -> list[Join]:
        """The joins that need no decision: every input block with itself and with each pool block."""
        return [
            self._take(Join(k, b))
            for b in range(self.first_input, self.blocks)
            if self._rows[b]
            for k in [*range(self.first_input), b]
            if self._rows[k]
        ]

    def finished(self, join: Join) -> None:
        """A started join is done."""
        self._remaining[join.right] -= 1

    def next_resolvable(self) -> int | None:
        """The next input block in order whose joins are all done, if there is one."""
        if self.frontier < self.blocks and self._remaining[self.frontier] == 0:
            return self.frontier
        return None

    def resolved(self, block: int, kept: int) -> list[Join]:
        """``block`` (``next_resolvable()``) is decided with ``kept`` kept rows: its joins with later blocks.

        Joins already started with all its rows are not repeated; with nothing kept, no pair can end in
        a later block, so its joins are dropped.
        """
        assert block == self.frontier, "blocks resolve in input order"
        self.frontier += 1
        if not self._rows[block]:  # an empty block was never counted as a join partner
            return []
        joins = []
        for later in range(block + 1, self.blocks):
            if not self._rows[later] or (block, later) in self._started:
                continue
            if kept:
                joins.append(self._take(Join(block, later, kept_only=True)))
            else:
                self._remaining[later] -= 1
                self.total -= 1
        return joins

    def fill(self, in_flight: int) -> list[Join]:
        """Joins to start now with all their left rows, so that ``in_flight`` reaches the CPU count."""
        joins: list[Join] = []
        while in_flight + len(joins) < self.cpus:
            join = self._next_eager()
            if join is None:
                break
            joins.append(self._take(join))
        return joins

    def _next_eager(self) -> Join | None:
        # The earliest later block first, and for it the nearest unresolved earlier block: the join
        # its resolution would wait for longest.
        right = max(self._eager_right, self.frontier + 1)
        while right < self.blocks:
            if self._rows[right]:
                for left in range(right - 1, self.frontier - 1, -1):
                    if self._rows[left] and (left, right) not in self._started:
                        return Join(left, right)
            right += 1
            self._eager_right = right
        return None

    def _take(self, join: Join) -> Join:
        self._started.add((join.left, join.right))
        return join
