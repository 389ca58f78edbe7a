"""Prompt texts and sampling parameters for every stage, in completion and chat forms.

All wording here is ours. Each builder is a pure function of its arguments, so the same pool state
gives the same prompt (and therefore the same journal key) on a resumed run.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from .seeds import ClassificationExample, SeedTask

__all__ = [
    "BOOTSTRAP_HEADER",
    "BOOTSTRAP_PARAMS",
    "CLASSIFICATION_ONLY_HEADER",
    "CLASSIFY_PARAMS",
    "COMPACT_MAX_TOKENS",
    "EMPTY_INPUT",
    "INSTANCE_PARAMS",
    "bootstrap_messages",
    "bootstrap_params",
    "bootstrap_prompt",
    "classify_messages",
    "classify_params",
    "classify_prompt",
    "instance_messages",
    "instance_params",
    "instance_prompt",
]

Message = dict[str, str]

BOOTSTRAP_HEADER = "Here is a numbered list of varied tasks that people ask a helpful assistant to do:"
CLASSIFICATION_ONLY_HEADER = (
    "Here is a numbered list of varied classification tasks; each one says which labels its answer can take:"
)
#: The paper's released code: temperature 0.7, top_p 0.5, presence penalty 2, up to 1024 tokens,
#: stopping at a blank line or when the model reaches item 16.
BOOTSTRAP_PARAMS: Mapping[str, Any] = {
    "temperature": 0.7,
    "top_p": 0.5,
    "presence_penalty": 2.0,
    "max_tokens": 1024,
    "stop": ["\n\n", "\n16", "16.", "16 ."],
}
# Chat models put blank lines between items and after a preamble, so only item 16 stops them.
_BOOTSTRAP_CHAT_STOP = ["\n16.", "\n**16.", "\n16)"]
CLASSIFY_PARAMS: Mapping[str, Any] = {"temperature": 0.0, "top_p": 0.0, "max_tokens": 3}
_CLASSIFY_STOP = ["\n", "Task:"]
INSTANCE_PARAMS: Mapping[str, Any] = {
    "temperature": 0.0,
    "top_p": 0.0,
    "presence_penalty": 1.5,
    "max_tokens": 350,
}
#: How a demo with no input is shown; the instance parser maps it (and look-alikes) back to "".
EMPTY_INPUT = "(none)"

_CLASSIFY_HEADER = (
    "Decide whether each task is a classification task: one whose answer is a single label "
    "taken from a small, fixed set of options."
)
_INPUT_FIRST_HEADER = (
    "For each task, write a few examples. Each example has an input (or (none) when the task "
    "needs no input) followed by the correct output."
)
_OUTPUT_FIRST_HEADER = (
    "For each classification task, write a few examples for different labels. Each example "
    "names a class label first, then gives an input that belongs to that label."
)


def _numbered(instructions: Sequence[str]) -> str:
    return "\n".join(
        f"{number}. {' '.join(text.split())}" for number, text in enumerate(instructions, start=1)
    )


def bootstrap_prompt(instructions: Sequence[str], *, classification_only: bool = False) -> str:
    """The completion-model prompt: header, the numbered demos, and the next number to continue."""
    header = CLASSIFICATION_ONLY_HEADER if classification_only else BOOTSTRAP_HEADER
    return f"{header}\n{_numbered(instructions)}\n{len(instructions) + 1}."


def bootstrap_messages(
    instructions: Sequence[str], *, classification_only: bool = False, compact: bool = False
) -> list[Message]:
    """The chat form: asks for the continuation of the numbered list, one task per line.

    ``compact`` drops the system message and extra wording, for very small local models.
    """
    first, last = len(instructions) + 1, 2 * len(instructions)
    kind = "classification tasks (say the possible labels)" if classification_only else "tasks"
    if compact:
        return [
            {
                "role": "user",
                "content": f"Continue this list of {kind} with {first}. to {last}.:\n"
                + _numbered(instructions),
            }
        ]
    header = CLASSIFICATION_ONLY_HEADER if classification_only else BOOTSTRAP_HEADER
    return [
        {
            "role": "system",
            "content": "You invent new, diverse instructions for a dataset. Each one is a single task "
            "a person could give an assistant, written in one line.",
        },
        {
            "role": "user",
            "content": f"{header}\n{_numbered(instructions)}\n\n"
            f"Continue the list with items {first} to {last}: "
            f"new {kind} that differ from the ones above in topic and wording. "
            "Answer with the numbered items only.",
        },
    ]


#: Answer budget in compact mode: a tiny local model rambles, and each token costs real seconds on CPU.
COMPACT_MAX_TOKENS = 256


def bootstrap_params(*, chat: bool, compact: bool = False) -> dict[str, Any]:
    """Sampling parameters for a bootstrap request (``compact``: shorter answers, for tiny models)."""
    params = dict(BOOTSTRAP_PARAMS)
    if chat:
        params["stop"] = list(_BOOTSTRAP_CHAT_STOP)
    if compact:
        params["max_tokens"] = COMPACT_MAX_TOKENS
    return params


def _classify_shots(examples: Sequence[ClassificationExample]) -> str:
    return _classify_shots_cached(tuple(examples))


@functools.lru_cache(maxsize=8)
def _classify_shots_cached(examples: tuple[ClassificationExample, ...]) -> str:
    # The same few-shot block goes into every identification prompt: build it once.
    return "\n\n".join(
        f"Task: {' '.join(e.instruction.split())}\n"
        f"Is it classification? {'Yes' if e.is_classification else 'No'}"
        for e in examples
    )


def classify_prompt(examples: Sequence[ClassificationExample], instruction: str) -> str:
    """Few-shot classification identification for completion models, ending in the question."""
    body = _classify_shots(examples)
    return f"{_CLASSIFY_HEADER}\n\n{body}\n\nTask: {' '.join(instruction.split())}\nIs it classification?"


def classify_messages(examples: Sequence[ClassificationExample], instruction: str) -> list[Message]:
    """Chat form of classification identification: the examples, then the task; answer Yes or No."""
    return [
        {"role": "system", "content": f"{_CLASSIFY_HEADER}\n\n{_classify_shots(examples)}"},
        {
            "role": "user",
            "content": f"Task: {' '.join(instruction.split())}\nIs it classification? Answer Yes or No.",
        },
    ]


def classify_params(*, chat: bool) -> dict[str, Any]:
    """Sampling parameters for classification identification (greedy, three tokens)."""
    params = dict(CLASSIFY_PARAMS)
    if not chat:
        params["stop"] = list(_CLASSIFY_STOP)
    return params


def _input_text(text: str) -> str:
    return text if text.strip() else EMPTY_INPUT


@functools.lru_cache(maxsize=256)
def _demo_block(demo: SeedTask, *, label_first: bool) -> str:
    lines = [f"Task: {' '.join(demo.instruction.split())}"]
    for number, instance in enumerate(demo.instances, start=1):
        if label_first:
            lines.append(f"Class label: {instance.output}\nInput: {_input_text(instance.input)}")
        else:
            lines.append(f"Example {number}\nInput: {_input_text(instance.input)}\nOutput: {instance.output}")
    return "\n".join(lines)


def instance_prompt(demos: Sequence[SeedTask], instruction: str, *, is_classification: bool) -> str:
    """Instance generation for completion models: input-first, or output-first for classification."""
    header = _OUTPUT_FIRST_HEADER if is_classification else _INPUT_FIRST_HEADER
    blocks = "\n\n".join(_demo_block(d, label_first=is_classification) for d in demos)
    return f"{header}\n\n{blocks}\n\nTask: {' '.join(instruction.split())}\n"


def instance_messages(
    demos: Sequence[SeedTask], instruction: str, *, is_classification: bool, max_instances: int
) -> list[Message]:
    """Chat form of instance generation: demos in the system message, the new task from the user."""
    header = _OUTPUT_FIRST_HEADER if is_classification else _INPUT_FIRST_HEADER
    blocks = "\n\n".join(_demo_block(d, label_first=is_classification) for d in demos)
    shape = "Class label: ... / Input: ..." if is_classification else "Example N / Input: ... / Output: ..."
    return [
        {"role": "system", "content": f"{header}\n\n{blocks}"},
        {
            "role": "user",
            "content": f"Task: {' '.join(instruction.split())}\n"
            f"Write up to {max_instances} examples in the same format ({shape}), nothing else.",
        },
    ]


def instance_params(
    *, chat: bool, is_classification: bool, max_instances: int, compact: bool = False
) -> dict[str, Any]:
    """Sampling parameters for instance generation (greedy, presence penalty 1.5)."""
    params = dict(INSTANCE_PARAMS)
    if compact:
        params["max_tokens"] = COMPACT_MAX_TOKENS
    if not chat:
        params["stop"] = (
            ["\nTask:", "Task:"] if is_classification else [f"Example {max_instances + 1}", "Task:"]
        )
    return params
