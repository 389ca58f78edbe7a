"""The run's three kinds of request (bootstrap, classify, instances), in one prompt form.

The form (chat messages or a completion prompt) is chosen once, from ``RunConfig.chat``; the
demonstrations each request shows are picked here too, reproducibly from the run's seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..engine import Request
from . import prompts
from .seeds import ClassificationExample, SeedTask

if TYPE_CHECKING:
    from .run import RunConfig

__all__ = ["RequestBuilder"]


def _stable_int(*parts: object) -> int:
    """A seed for ``random.Random`` from ``parts`` (the same in every process)."""
    digest = hashlib.blake2b("\x00".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _CompletionForm:
    """Requests as one completion prompt (what the paper's base models read)."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def bootstrap(self, demos: list[str]) -> dict[str, Any]:
        return {
            "prompt": prompts.bootstrap_prompt(demos, classification_only=self.config.classification_only)
        }

    def classify(self, examples: Sequence[ClassificationExample], instruction: str) -> dict[str, Any]:
        return {"prompt": prompts.classify_prompt(examples, instruction)}

    def instances(self, demos: list[SeedTask], instruction: str, is_classification: bool) -> dict[str, Any]:
        return {"prompt": prompts.instance_prompt(demos, instruction, is_classification=is_classification)}


class _ChatForm(_CompletionForm):
    """Requests as chat messages."""

    def bootstrap(self, demos: list[str]) -> dict[str, Any]:
        config = self.config
        messages = prompts.bootstrap_messages(
            demos, classification_only=config.classification_only, compact=config.compact_prompts
        )
        return {"messages": messages}

    def classify(self, examples: Sequence[ClassificationExample], instruction: str) -> dict[str, Any]:
        return {"messages": prompts.classify_messages(examples, instruction)}

    def instances(self, demos: list[SeedTask], instruction: str, is_classification: bool) -> dict[str, Any]:
        messages = prompts.instance_messages(
            demos,
            instruction,
            is_classification=is_classification,
            max_instances=self.config.instances_per_task,
        )
        return {"messages": messages}


class RequestBuilder:
    """Builds a run's requests: which demonstrations each shows, in the run's prompt form.

    Args:
        config: the run's settings (prompt form, seed, demo counts, compact prompts).
        seed_texts: the seed instructions bootstrap prompts draw from.
        classification_examples: the labelled examples of the classify prompt.
        instance_demos: tasks with instances, shown in instance prompts (by kind).
    """

    def __init__(
        self,
        config: RunConfig,
        seed_texts: Sequence[str],
        classification_examples: Sequence[ClassificationExample],
        instance_demos: Sequence[SeedTask],
    ) -> None:
        self.config = config
        self.seed_texts = list(seed_texts)
        examples = list(classification_examples)
        if config.compact_prompts:
            yes = [e for e in examples if e.is_classification][:4]
            no = [e for e in examples if not e.is_classification][:4]
            examples = [e for pair in zip(yes, no, strict=False) for e in pair]
        self.classification_examples = examples
        self.demos_clf = [d for d in instance_demos if d.is_classification]
        self.demos_plain = [d for d in instance_demos if not d.is_classification]
        self.demos_per_prompt = 2 if config.compact_prompts else 3
        self.form = _ChatForm(config) if config.chat else _CompletionForm(config)

    def bootstrap(self, k: int, pool: Sequence[str]) -> Request:
        """Bootstrap request number ``k``: machine instructions from ``pool`` and seed ones."""
        config = self.config
        rng = random.Random(_stable_int(config.seed, "bootstrap", k))
        machine = rng.sample(pool, min(config.machine_instructions, len(pool)))
        rest = config.prompt_instructions - len(machine)
        demos = machine + rng.sample(self.seed_texts, min(rest, len(self.seed_texts)))
        rng.shuffle(demos)
        params = prompts.bootstrap_params(chat=config.chat, compact=config.compact_prompts)
        meta = {"stage": "bootstrap", "seq": k, "demos": demos}
        return Request(**self.form.bootstrap(demos), params=params, meta=meta)

    def classify(self, instruction: str) -> Request:
        """Is ``instruction`` a classification task?"""
        params = prompts.classify_params(chat=self.config.chat)
        meta = {"stage": "classify", "instruction": instruction}
        return Request(
            **self.form.classify(self.classification_examples, instruction), params=params, meta=meta
        )

    def instances(self, instruction: str, is_classification: bool) -> Request:
        """Instances of ``instruction`` (label first for classification tasks)."""
        config = self.config
        pool = self.demos_clf if is_classification else self.demos_plain
        if config.compact_prompts:
            # The same demos for every task of a kind: the prompts then share all but their last
            # line, and a local server's prompt cache evaluates that prefix once per slot.
            demos = pool[: self.demos_per_prompt]
        else:
            rng = random.Random(_stable_int(config.seed, "instances", instruction))
            demos = rng.sample(pool, min(self.demos_per_prompt, len(pool)))
        params = prompts.instance_params(
            chat=config.chat,
            is_classification=is_classification,
            max_instances=config.instances_per_task,
            compact=config.compact_prompts,
        )
        meta = {"stage": "instances", "instruction": instruction, "is_classification": is_classification}
        return Request(**self.form.instances(demos, instruction, is_classification), params=params, meta=meta)
