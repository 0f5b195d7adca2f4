"""The control loops beside the store: how they end."""

from __future__ import annotations

import asyncio
import contextlib

from sandbox.controllers import NamespaceController
from sandbox.store import Store, now_rfc3339


def terminating_namespace(store: Store, name: str) -> None:
    """A namespace being deleted that cannot empty yet: a pod on a node stays until that node removes it."""
    store.create("namespaces", {"metadata": {"name": name}})
    store.create("pods", {"metadata": {"name": "bound", "namespace": name}, "spec": {"nodeName": "node-1"}})
    store.mark_deleting("namespaces", store.get("namespaces", "", name), now_rfc3339(), 0)


async def test_namespace_controller_ends_when_cancelled_as_a_change_arrives() -> None:
    # A cancellation may land in any turn of the event loop after a change is queued; try each of the first few.
    for turns in range(6):
        store = Store()
        terminating_namespace(store, "leaving")
        task = asyncio.create_task(NamespaceController(store, "ca").run())
        try:
            await asyncio.sleep(0.05)
            store.create("namespaces", {"metadata": {"name": "arriving"}})
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1)
            assert done, f"the controller went on after being cancelled {turns} turns after a change"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
