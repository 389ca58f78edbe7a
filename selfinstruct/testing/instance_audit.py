"""Audit a run's instances against what the fake model wrote: none changed, no input lost.

:class:`InstanceAudit` wraps a :class:`~selfinstruct.testing.fake_model.FakeModel` as the fake
server's responder and remembers, per task, the instances each instance answer wrote whole (the
model's own ground truth, :meth:`FakeModel.written_instances`). :meth:`InstanceAudit.check` then
compares exported records (``instruction``/``input``/``output``, the alpaca format) with it::

    audit = InstanceAudit(FakeModel(demo_shape_rate=1.0))
    async with FakeOpenAIServer(responder=audit) as server:
        ...  # generate(...), export_run(..., fmt="alpaca")
    report = audit.check(records)
    assert report.lost_input == 0
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..pipeline.seeds import Instance
from .fake_model import FakeModel
from .server import FakeReply

__all__ = ["AuditReport", "InstanceAudit"]


@dataclass(frozen=True, kw_only=True)
class AuditReport:
    """How exported instances compare with the instances the model wrote.

    Attributes:
        tasks: distinct instructions among the records.
        instances: records checked.
        exact: records equal to an instance the model wrote for that instruction.
        lost_input: records with an empty input where the model wrote input text for that output.
        changed_input: records with another (non-empty) input than the model wrote for that output.
        unknown: records whose output the model never wrote for that instruction.
        examples: up to five records that are not exact, for the failure message.
    """

    tasks: int
    instances: int
    exact: int
    lost_input: int
    changed_input: int
    unknown: int
    examples: tuple[Mapping[str, str], ...] = field(default=())

    @property
    def wrong(self) -> int:
        """Records that are not exactly what the model wrote."""
        return self.instances - self.exact


class InstanceAudit:
    """A responder that answers with ``model`` and records the instances each instance answer holds."""

    def __init__(self, model: FakeModel) -> None:
        self.model = model
        self.written: dict[str, set[Instance]] = {}
        self._lock = threading.Lock()  # the server may answer from several threads

    def __call__(self, kind: str, body: dict[str, Any]) -> str | FakeReply:
        """Answer one request as the model does; note what an instance answer wrote."""
        truth = self.model.written_instances(kind, body)
        if truth is not None:
            instruction, instances = truth
            with self._lock:
                self.written.setdefault(_key(instruction), set()).update(instances)
        return self.model(kind, body)

    def check(self, records: Iterable[Mapping[str, str]]) -> AuditReport:
        """Compare records (``instruction``, ``input``, ``output``) with what the model wrote."""
        tasks: set[str] = set()
        counts = {"instances": 0, "exact": 0, "lost_input": 0, "changed_input": 0, "unknown": 0}
        examples: list[Mapping[str, str]] = []
        for record in records:
            instruction = _key(record["instruction"])
            tasks.add(instruction)
            counts["instances"] += 1
            got = Instance(record["input"].strip(), record["output"].strip())
            written = {Instance(w.input.strip(), w.output.strip()) for w in self.written.get(instruction, ())}
            if got in written:
                counts["exact"] += 1
                continue
            inputs = {w.input for w in written if w.output == got.output}
            if not inputs:
                counts["unknown"] += 1
            elif not got.input and any(inputs):
                counts["lost_input"] += 1
            else:
                counts["changed_input"] += 1
            if len(examples) < 5:
                examples.append(dict(record))
        return AuditReport(tasks=len(tasks), examples=tuple(examples), **counts)


def _key(instruction: str) -> str:
    return " ".join(instruction.split())
