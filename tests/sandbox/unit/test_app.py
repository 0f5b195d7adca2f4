"""The API server application as a whole: what it does when its server starts and stops."""

from __future__ import annotations

import json

import aiohttp
from aiohttp.test_utils import TestServer

from sandbox.api.app import ApiConfig, create_app
from sandbox.store import Store


async def test_watch_streams_end_cleanly_when_the_server_shuts_down() -> None:
    store = Store()
    server = TestServer(create_app(store, ApiConfig(token="secret")))
    # As the sandbox runs it (sandbox/server.py): a second for requests in flight to finish.
    await server.start_server(shutdown_timeout=1.0)
    try:
        async with (
            aiohttp.ClientSession(headers={"Authorization": "Bearer secret"}) as session,
            session.get(server.make_url("/api/v1/namespaces/default/configmaps?watch=1")) as response,
        ):
            assert response.status == 200
            store.create("configmaps", {"metadata": {"name": "seen", "namespace": "default"}})
            first = json.loads(await response.content.readline())
            assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "seen")
            # The server closes the stream itself (a complete chunked body) rather than waiting out the runner's
            # shutdown timeout and cutting the connection.
            await server.close()
            assert await response.content.read() == b""
    finally:
        await server.close()
