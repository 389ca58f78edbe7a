"""``JoinPlan``, the join schedule, driven by a simulated cluster (no Ray needed)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from selfinstruct.distributed._schedule import Join, JoinPlan


def drive(
    pool_blocks: int, rows: list[int], cpus: int, kept: list[int], seed: int
) -> tuple[list[Join], list[int]]:
    """Run the plan to the end, finishing joins in a random order; return the joins and the resolve order."""
    rng = random.Random(seed)
    plan = JoinPlan(pool_blocks, rows, cpus)
    started: list[Join] = []
    running: list[Join] = []
    order: list[int] = []
    resolved: set[int] = set()

    def start(joins: list[Join]) -> None:
        for join in joins:
            # A kept-only join reads a resolved block; every other join may not wait for one.
            assert join.kept_only == (join.left in resolved)
            started.append(join)
            running.append(join)

    start(plan.start())
    while True:
        while (block := plan.next_resolvable()) is not None:
            # Every join a block's answer needs has started and finished.
            assert not any(j.right == block for j in running)
            joined = {j.left for j in started if j.right == block}
            needed = {a for a in range(block + 1) if rows[a] and (a < pool_blocks or a == block or kept[a])}
            assert needed <= joined or not rows[block]
            order.append(block)
            resolved.add(block)
            start(plan.resolved(block, kept[block]))
        start(plan.fill(len(running)))
        if not running:
            break
        plan.finished(running.pop(rng.randrange(len(running))))
    return started, order


@given(
    pool_blocks=st.integers(0, 2),
    inputs=st.lists(st.integers(0, 3), min_size=0, max_size=7),
    cpus=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_every_needed_join_runs_once_and_blocks_resolve_in_order(
    pool_blocks: int, inputs: list[int], cpus: int, seed: int, data: st.DataObject
) -> None:
    """Each needed pair of blocks is joined exactly once, and blocks resolve in input order."""
    rows = [1] * pool_blocks + inputs
    kept = [data.draw(st.integers(0, r)) for r in rows]
    started, order = drive(pool_blocks, rows, cpus, kept, seed)
    pairs = [(j.left, j.right) for j in started]
    assert len(pairs) == len(set(pairs))
    first = pool_blocks
    assert order == list(range(first, len(rows)))
    for b in range(first, len(rows)):
        for a in range(b + 1):
            needed = rows[a] and rows[b] and (a < first or a == b or kept[a])
            if needed:
                assert (a, b) in pairs
            elif (a, b) in pairs:  # joined early with all its rows, before ``a`` was found to keep nothing
                assert first <= a < b
    assert JoinPlan(pool_blocks, rows, cpus).total >= len(started)


def test_one_cpu_waits_for_kept_rows_and_many_cpus_join_at_once() -> None:
    """A busy cluster joins kept rows only; an idle one starts the chain's joins with all rows at once."""
    rows = [5] * 4
    started, _ = drive(0, rows, 1, kept=[3] * 4, seed=0)
    assert all(j.kept_only for j in started if j.left != j.right)
    plan = JoinPlan(0, rows, cpus=32)
    first = plan.start()
    eager = plan.fill(len(first))
    assert len(first) == 4
    # The earliest later block first, nearest earlier block first: what the resolve chain needs next.
    assert [(j.left, j.right) for j in eager] == [(0, 1), (1, 2), (0, 2), (2, 3), (1, 3), (0, 3)]
    assert not any(j.kept_only for j in eager)
    assert plan.resolved(0, kept=3) == []  # its joins already run with all rows
