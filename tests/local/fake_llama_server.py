"""A stand-in for the xllamacpp server run by ``_child.py``, with the same flags, for fast launcher tests.

Its "model file" is a JSON object that says how to behave:
``{"mode": "ok" | "exit" | "hang" | "ignore_term"}``. ``ok`` serves ``/v1/models`` (with the slot
count it was given), an echoing ``/v1/chat/completions`` and ``POST /v1/die`` (exits with code 7);
``exit`` writes a message to stderr and exits with code 3 before listening; ``hang`` never
listens; ``ignore_term`` serves like ``ok`` but ignores SIGTERM. Failing to bind prints the OS error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from aiohttp import web


def main() -> None:
    """Parse the server flags _child.py takes and behave as the model file says."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias")
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8000)
    args, _ = parser.parse_known_args()
    with open(args.model, encoding="utf-8") as handle:
        mode = json.load(handle)["mode"]
    print(f"fake server: mode {mode}", file=sys.stderr)
    if mode == "exit":
        print("fake server: cannot load this model (made-up failure)", file=sys.stderr)
        sys.exit(3)
    if mode == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(serve(args.host, args.port, args.alias or args.model, args.slots, hang=mode == "hang"))


async def serve(host: str, port: int, alias: str, slots: int, *, hang: bool) -> None:
    """Serve the fake API until the process is stopped."""
    if hang:
        await asyncio.Event().wait()

    async def models(request: web.Request) -> web.Response:
        data = [{"id": alias, "object": "model", "meta": {"slots": slots}}]
        return web.json_response({"object": "list", "data": data})

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        text = "echo: " + body["messages"][-1]["content"]
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": text}}]})

    async def die(request: web.Request) -> web.Response:
        print("fake server: told to die", file=sys.stderr, flush=True)
        os._exit(7)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/die", die)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(1)
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
