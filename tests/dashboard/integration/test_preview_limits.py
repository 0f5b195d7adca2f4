"""The preview page against costly manifests: alias bombs, deep nesting, a full megabyte, overruns, empty applies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import Awaitable

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import AsyncClient
from django.urls import reverse

from dashboard import manifests, workers
from dashboard.kube import clusters

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}
TINY = "apiVersion: v1\nkind: Pod\nmetadata: {name: tiny}\nspec:\n  containers: [{name: main, image: busybox}]\n"
# The security review's bomb: 300 bytes of lists of aliases of lists, nine to the ninth values once expanded.
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def url() -> str:
    return reverse("preview", args=["sandbox"])


async def signed_in(async_client: AsyncClient, user: User) -> AsyncClient:
    await async_client.aforce_login(user)
    return async_client


def error_of(html: bytes) -> str:
    found = re.search(r'id="manifest-error"><p>(.*?)</p>', html.decode(), re.S)
    assert found, "no error shown"
    return found.group(1).replace("&#x27;", "'")


def many_pods(count: int = 1000, numbers: int = 460) -> str:
    """Just under 1 MiB: `count` pod documents, each with a long list of arguments to read."""
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\n"
    pod += "spec:\n  containers:\n  - name: main\n    image: busybox\n"
    args = "    args: [" + ",".join(["0"] * numbers) + "]\n"
    return "---\n".join(pod.format(i=i) + args for i in range(count))


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["fragment", "page"])
async def test_an_alias_bomb_is_refused_at_once(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, headers: dict[str, str]
) -> None:
    await signed_in(async_client, bob)
    assert len(BOMB.encode()) < 512
    started = time.perf_counter()
    response = await async_client.post(url(), {"manifest": BOMB}, headers=headers)
    assert time.perf_counter() - started < 1
    assert response.status_code == 400
    assert len(response.content) < 30_000
    assert error_of(response.content).startswith("document 1: line 5: its YAML aliases expand to more than 10,000")
    assert ("<html" in response.content.decode()) is not headers


@pytest.mark.parametrize(
    "manifest",
    [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * 5000 + "]" * 5000,
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "data": '
        + '{"a": ' * 5000
        + "1"
        + "}" * 5001,
        "[" * 100 + "{}" + "]" * 100,
    ],
    ids=["YAML", "JSON", "JSON, 101 levels"],
)
async def test_deep_nesting_is_refused(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, manifest: str
) -> None:
    await signed_in(async_client, bob)
    response = await async_client.post(url(), {"manifest": manifest}, headers=HTMX)
    assert response.status_code == 400
    assert "nested more than 100 levels deep; Podscope reads manifests up to 100 levels" in error_of(response.content)


@pytest.mark.parametrize("manifest", ["", "  \n\n"], ids=["empty", "blank"])
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["fragment", "page"])
async def test_apply_without_a_manifest_says_so(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    manifest: str,
    headers: dict[str, str],
) -> None:
    await signed_in(async_client, alice)
    data = {"manifest": manifest, "action": "apply", "namespace": namespace}
    response = await async_client.post(url(), data, headers=headers)
    assert response.status_code == 400
    assert error_of(response.content) == "There is nothing to apply: paste or upload a manifest first."


async def test_apply_of_a_name_that_is_not_text_is_explained(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, namespace: str
) -> None:
    # Found by the HTTP fuzz: a list as metadata.name went through to the API client, which raised (500).
    await signed_in(async_client, alice)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": ["a"]}, "spec": {"containers": []}}
    data = {"manifest": json.dumps(pod), "action": "apply", "namespace": namespace}
    response = await async_client.post(url(), data)
    assert response.status_code == 200
    assert error_of(response.content) == "document 1: metadata.name must be text"


async def test_a_big_manifest_does_not_stall_anyone_else(
    async_client: AsyncClient, bob: User, alice: User, sandbox_cluster: clusters.Cluster
) -> None:
    """While one person's megabyte is read, the event loop keeps serving: the login page, a tiny preview."""
    await signed_in(async_client, bob)
    other = await signed_in(AsyncClient(), alice)
    big = many_pods()
    assert 0.95 < len(big.encode()) / manifests.MAX_BYTES <= 1
    lag = 0.0

    async def watch_the_loop() -> None:
        nonlocal lag
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = max(lag, time.perf_counter() - before - 0.01)

    async def timed(request: Awaitable[HttpResponse]) -> tuple[float, int]:
        started = time.perf_counter()
        response = await request
        return time.perf_counter() - started, response.status_code

    # Both workers running before the clock starts: the tiny preview must not wait for one to boot.
    await asyncio.gather(*(other.post(url(), {"manifest": TINY}, headers=HTMX) for _ in range(2)))
    watcher = asyncio.create_task(watch_the_loop())
    reading = asyncio.create_task(timed(async_client.post(url(), {"manifest": big}, headers=HTMX)))
    await asyncio.sleep(0.1)
    page = await timed(AsyncClient().get(reverse("login")))
    tiny = await timed(other.post(url(), {"manifest": TINY}, headers=HTMX))
    still_reading = not reading.done()
    big_took, big_status = await reading
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    assert (page[1], tiny[1], big_status) == (200, 200, 200)
    assert lag < 0.5, f"the event loop stalled for {lag:.2f} s"
    assert still_reading, f"the other requests were served only after the big preview ({big_took:.2f} s)"
    assert page[0] < 0.5
    assert tiny[0] < 0.5


async def test_a_big_manifest_draws_twenty_pods(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster
) -> None:
    await signed_in(async_client, bob)
    response = await async_client.post(url(), {"manifest": many_pods()}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="preview-item"') == 20
    assert "980 more pods not drawn: a preview draws the first 20." in html
    assert len(response.content) < 2_000_000


async def test_a_manifest_past_the_time_limit_is_stopped(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(async_client, bob)
    assert (await async_client.post(url(), {"manifest": TINY}, headers=HTMX)).status_code == 200
    running = workers.pool.pids()
    monkeypatch.setattr(workers, "TIME_LIMIT", 0.2)
    # Half a million numbers: a couple of seconds to read, ten times the limit.
    slow = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: slow}\ndata: {k: [" + ",".join(["0"] * 500_000) + "]}\n"
    started = time.perf_counter()
    response = await async_client.post(url(), {"manifest": slow}, headers=HTMX)
    assert time.perf_counter() - started < 1.5
    assert response.status_code == 400
    assert error_of(response.content).startswith("reading the manifest took longer than 0.2 s; Podscope stopped it.")
    stopped = set(running) - set(workers.pool.pids())
    assert len(stopped) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(stopped.pop(), 0)
    # The next manifest gets a fresh worker.
    response = await async_client.post(url(), {"manifest": TINY}, headers=HTMX)
    assert response.status_code == 200
    assert 'data-container="main"' in response.content.decode()


async def test_workers_import_no_django() -> None:
    expression = (
        "sorted(m for m in __import__('sys').modules if m.split('.')[0] in {'django', 'channels', 'kubernetes'})"
    )
    assert await workers.pool.run(eval, expression) == []
