"""The dashboard's pages against the real sandbox: pods, a pod, preview, examples, permissions, a dead cluster."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient
from django.urls import reverse
from kubernetes import client

from dashboard.kube import clusters
from dashboard.kube.watches import WatchHub
from dashboard.origins import socket_token

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {{}}
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "while true; do date >> /data/log; sleep 1; done"]
    volumeMounts:
    - {{name: shared, mountPath: /data}}
  - name: reader
    image: busybox
    command: ["sh", "-c", "sleep 3600"]
    volumeMounts:
    - {{name: shared, mountPath: /in, readOnly: true}}
"""


async def signed_in(async_client: AsyncClient, user: User) -> AsyncClient:
    await async_client.aforce_login(user)
    return async_client


def text_of(html: bytes) -> str:
    """The page's text with tags removed, as a person reads it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


async def test_pod_list_shows_pods_like_kubectl_wide(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    watch_hub: WatchHub,
) -> None:
    make_pod("web-1")
    make_pod("db-1")
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-list", args=["sandbox", namespace]))
    assert response.status_code == 200
    page = text_of(response.content)
    assert re.search(r"Name Ready Status Restarts Age IP Node", page)
    assert re.search(r"db-1 1/1 Running 0 \d+s 10\.244\.\d+\.\d+ sandbox", page)
    assert page.index("db-1") < page.index("web-1")
    # The socket's address carries the token of this session (dashboard/origins.py).
    token = socket_token(async_client.cookies["sessionid"].value)
    assert f'ws-connect="/ws/c/sandbox/ns/{namespace}/pods/?token={token}"' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"q": "WEB"}, ["web-1"], ["db-1"]),
        ({"selector": "app=db-1"}, ["db-1"], ["web-1"]),
        ({"selector": "app in (web-1, db-1)"}, ["db-1", "web-1"], []),
        ({"selector": "app notin (web-1)", "q": "1"}, ["db-1"], ["web-1"]),
    ],
)
async def test_pod_list_filters_by_name_and_label(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    watch_hub: WatchHub,
    params: dict[str, str],
    shown: list[str],
    hidden: list[str],
) -> None:
    make_pod("web-1", ready=False)
    make_pod("db-1", ready=False)
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-list", args=["sandbox", namespace]), params)
    page = text_of(response.content)
    assert all(name in page for name in shown), page
    assert not any(name in page for name in hidden), page


async def test_bad_label_selector_is_explained(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, namespace: str, watch_hub: WatchHub
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-list", args=["sandbox", namespace]), {"selector": "app in (x"})
    assert response.status_code == 200
    assert b'id="selector-error"' in response.content


async def test_pod_page_draws_the_pod_and_lists_containers_events_and_yaml(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    core: client.CoreV1Api,
    watch_hub: WatchHub,
) -> None:
    import yaml

    from tests.pods import wait_for

    core.create_namespaced_pod(namespace, yaml.safe_load(MANIFEST.format(name="pair")))
    wait_for(core, namespace, "pair", lambda p: all(c.ready for c in p.status.container_statuses), timeout=30)
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-detail", args=["sandbox", namespace, "pair"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div id="pod-diagram"' in html
    assert 'data-container="writer"' in html
    assert 'data-container="reader"' in html
    assert 'data-from="reader" data-to="shared"' in html
    page = text_of(response.content)
    assert "/in (ro)" in page
    assert re.search(r"Pod IP 10\.244\.\d+\.\d+", page)
    assert 'id="container-writer"' in html
    assert "sh -c" in page
    assert "Scheduled" in page
    assert "Started" in page
    assert "kind: Pod" in page
    assert "managedFields" not in page
    token = socket_token(async_client.cookies["sessionid"].value)
    assert f'ws-connect="/ws/c/sandbox/ns/{namespace}/pods/pair/?token={token}"' in html
    assert "Delete pod" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sandbox", "NS", "pod"], "is not a valid namespace name"),
        (["sandbox", "default", "Bad_Name"], "is not a valid pod name"),
        (["nowhere", "default", "pod"], 'No cluster "nowhere" is configured'),
    ],
)
async def test_bad_addresses_get_a_clear_404(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, args: list[str], message: str
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-detail", args=args))
    assert response.status_code == 404
    assert message in response.content.decode().replace("&quot;", '"')


async def test_missing_pod_gets_a_clear_404(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, namespace: str, watch_hub: WatchHub
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-detail", args=["sandbox", namespace, "nobody"]))
    assert response.status_code == 404
    assert "There is no pod" in text_of(response.content).replace("&quot;", '"')


async def test_user_without_view_permission_is_refused(
    async_client: AsyncClient, carol: User, sandbox_cluster: clusters.Cluster, namespace: str
) -> None:
    await signed_in(async_client, carol)
    for url in (
        reverse("pod-list", args=["sandbox", namespace]),
        reverse("pod-detail", args=["sandbox", namespace, "x"]),
        reverse("preview", args=["sandbox"]),
        reverse("example-list", args=["sandbox"]),
    ):
        assert (await async_client.get(url)).status_code == 403, url


async def test_viewer_sees_no_write_buttons_and_cannot_delete(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    core: client.CoreV1Api,
    watch_hub: WatchHub,
) -> None:
    make_pod("keep", ready=False)
    await signed_in(async_client, bob)
    page = (await async_client.get(reverse("pod-detail", args=["sandbox", namespace, "keep"]))).content.decode()
    assert "Delete pod" not in page
    examples_page = (await async_client.get(reverse("example-list", args=["sandbox"]))).content.decode()
    assert "Run it" not in examples_page
    assert "Preview" in examples_page
    assert "Apply to" not in (await async_client.get(reverse("preview", args=["sandbox"]))).content.decode()
    response = await async_client.post(reverse("pod-delete", args=["sandbox", namespace, "keep"]))
    assert response.status_code == 403
    assert core.read_namespaced_pod("keep", namespace).metadata.deletion_timestamp is None
    response = await async_client.post(
        reverse("preview", args=["sandbox"]),
        {"manifest": MANIFEST.format(name="sneaky"), "action": "apply", "namespace": namespace},
    )
    assert response.status_code == 403
    assert not [p for p in core.list_namespaced_pod(namespace).items if p.metadata.name == "sneaky"]


async def test_operator_deletes_a_pod(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    core: client.CoreV1Api,
    watch_hub: WatchHub,
) -> None:
    make_pod("doomed", ready=False)
    await signed_in(async_client, alice)
    response = await async_client.post(reverse("pod-delete", args=["sandbox", namespace, "doomed"]))
    assert response.status_code == 302
    assert response.url == reverse("pod-list", args=["sandbox", namespace])
    pods = {p.metadata.name: p for p in core.list_namespaced_pod(namespace).items}
    assert "doomed" not in pods or pods["doomed"].metadata.deletion_timestamp is not None


async def test_preview_draws_a_pasted_manifest_without_applying_it(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, namespace: str, core: client.CoreV1Api
) -> None:
    await signed_in(async_client, bob)
    response = await async_client.post(
        reverse("preview", args=["sandbox"]), {"manifest": MANIFEST.format(name="drawn")}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-container="writer"' in html
    assert 'data-volume="shared"' in html
    assert core.list_namespaced_pod(namespace).items == []


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("kind: Pod\nmetadata: {name: x\n", "line"),
        ("- just\n- a list\n", "document 1"),
        ("apiVersion: v1\nkind: Pod\nspec: {}\n", "document 1"),
    ],
)
async def test_preview_explains_a_bad_manifest(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, manifest: str, message: str
) -> None:
    await signed_in(async_client, bob)
    response = await async_client.post(reverse("preview", args=["sandbox"]), {"manifest": manifest})
    assert response.status_code == 200
    error = re.search(r'id="manifest-error"><p>(.*?)</p>', response.content.decode(), re.S)
    assert error
    assert message in error.group(1)


async def test_preview_apply_creates_the_pod(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, namespace: str, core: client.CoreV1Api
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.post(
        reverse("preview", args=["sandbox"]),
        {"manifest": MANIFEST.format(name="applied"), "action": "apply", "namespace": namespace},
    )
    assert response.status_code == 200
    assert "Applied to Sandbox" in text_of(response.content)
    assert core.read_namespaced_pod("applied", namespace).spec.containers[0].name == "writer"


async def test_examples_run_in_one_click(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, namespace: str, core: client.CoreV1Api
) -> None:
    from dashboard import examples

    await signed_in(async_client, alice)
    page = (await async_client.get(reverse("example-list", args=["sandbox"]))).content.decode()
    for example in examples.EXAMPLES:
        assert example.summary in page.replace("&#x27;", "'").replace("&quot;", '"')
    example = examples.get("multicontainer-pod")
    response = await async_client.post(
        reverse("example-apply", args=["sandbox", example.slug]), {"namespace": namespace}
    )
    name = examples.pod(example)["metadata"]["name"]
    assert response.status_code == 302
    assert response.url == reverse("pod-detail", args=["sandbox", namespace, name])
    assert core.read_namespaced_pod(name, namespace).metadata.name == name


async def test_unreachable_cluster_shows_a_banner_not_an_error(
    async_client: AsyncClient, alice: User, dead_cluster: clusters.Cluster, watch_hub: WatchHub
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("pod-list", args=[dead_cluster.id, "default"]))
    assert response.status_code == 200
    page = text_of(response.content)
    assert "Cannot reach gone." in page
    assert "Retrying" in page
    # The picker still offers the healthy cluster next to the dead one.
    assert '<option value="sandbox"' in response.content.decode()


async def test_home_opens_the_first_cluster(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster
) -> None:
    await signed_in(async_client, alice)
    response = await async_client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url == reverse("pod-list", args=["sandbox", "default"])
    response = await async_client.get(reverse("home"), {"cluster": "sandbox"})
    assert response.url == reverse("pod-list", args=["sandbox", "default"])


async def test_preview_opens_an_example_by_name(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster
) -> None:
    await signed_in(async_client, bob)
    response = await async_client.get(reverse("preview", args=["sandbox"]), {"example": "sidecar"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "kind: Pod" in html
    assert 'data-pattern="sidecar"' in html
    response = await async_client.get(reverse("preview", args=["sandbox"]), {"example": "no-such-thing"})
    assert response.status_code == 404
    assert "There is no example" in response.content.decode().replace("&quot;", '"')
