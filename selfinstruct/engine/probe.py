"""A quick look at the endpoints before a job: is anything listening, and is the key accepted?

A job against a server that is not running would otherwise spend minutes in retries before every
request ends as a connection error; this turns that into one clear error up front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp

from ..errors import APIError, TransportError
from ..redact import Redactor

__all__ = ["probe_endpoints"]


async def probe_endpoints(
    base_urls: Sequence[str],
    *,
    api_key: str | None = None,
    timeout: float = 10.0,
    session: aiohttp.ClientSession | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[str]:
    """GET ``{base_url}/models`` on each endpoint; return the URLs that answered.

    Any HTTP answer counts as reachable (some servers have no ``/models``), except 401/403, which
    say the key is wrong for every request to come.

    Raises:
        TransportError: no endpoint could be reached (names each URL and its error).
        APIError: every reachable endpoint refused the key (status 401 or 403).
    """
    sent = {"User-Agent": "selfinstruct", **(headers or {})}
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    redact = Redactor.from_headers(sent)
    owned = session is None
    client = session or aiohttp.ClientSession()
    reachable: list[str] = []
    unreachable: list[str] = []
    refused: APIError | None = None
    try:
        for url in base_urls:
            try:
                async with client.get(
                    f"{url.rstrip('/')}/models",
                    headers=sent,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as response:
                    status = response.status
                    body = (await response.read())[:300].decode("utf-8", "replace")
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                unreachable.append(redact(f"{url} ({type(error).__name__}: {error or 'timed out'})"))
                continue
            if status in (401, 403):
                refused = APIError(
                    redact(f"{url} refused the API key (set OPENAI_API_KEY): {body.strip()}"), status=status
                )
                continue
            reachable.append(url)
    finally:
        if owned:
            await client.close()
    if not reachable and refused is not None:
        raise refused
    if not reachable:
        raise TransportError(
            "cannot reach the endpoint: " + "; ".join(unreachable) + ". Is the server running, and "
            "is --base-url (or OPENAI_BASE_URL) right, including the /v1 suffix?"
        )
    return reachable
