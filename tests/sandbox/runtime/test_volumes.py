"""Pod volumes and container environments as the kubelet makes them: layout, values and error texts."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from sandbox.runtime import env, volumes
from sandbox.runtime.env import EnvError, NodeInfo
from sandbox.runtime.volumes import VolumeError

NODE = NodeInfo(
    name="sandbox",
    uid="node-uid",
    ip="10.244.0.1",
    allocatable={"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"},
)
TS_DIR = re.compile(r"\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}")
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="tmpfs mounts need root")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


def make_pod(volumes_: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "pod-uid-1",
            "labels": {"app": "web", "tier": 'front "end"'},
            "annotations": {"note": "line1\nline2"},
        },
        "spec": {
            "nodeName": "sandbox",
            "serviceAccountName": "default",
            "containers": [
                {
                    "name": "app",
                    "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "100m"}},
                }
            ],
            "volumes": volumes_ or [],
            **spec,
        },
        "status": {"podIP": "10.244.0.7", "podIPs": [{"ip": "10.244.0.7"}], "hostIP": "10.244.0.1"},
    }


class Objects(dict[tuple[str, str, str], dict[str, Any]]):
    """The API objects the kubelet can read, keyed (resource, namespace, name)."""

    def lookup(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get((resource, namespace, name))


@pytest.fixture
def objects() -> Objects:
    """A config map, a secret, the root CA map and the default service account in namespace default."""
    found = Objects()
    found["configmaps", "default", "settings"] = {"data": {"mode": "fast", "level": "3"}}
    found["configmaps", "default", "kube-root-ca.crt"] = {"data": {"ca.crt": "-----CA-----\n"}}
    found["secrets", "default", "creds"] = {"data": {"user": b64("admin"), "password": b64(b"s3cr\x00t")}}
    found["serviceaccounts", "default", "default"] = {"metadata": {"name": "default", "uid": "sa-uid-1"}}
    return found


@pytest.fixture
def node_dir(tmp_path: Path) -> Iterator[Path]:
    """The node's state directory; every pod under it is unmounted and removed afterwards."""
    directory = tmp_path / "node"
    yield directory
    for pod_dir in (directory / "pods").glob("*"):
        volumes.cleanup(pod_dir)


@pytest.fixture
def pod_dir(node_dir: Path) -> Path:
    """Where the kubelet keeps the test pod's files."""
    return node_dir / "pods" / "pod-uid-1"


def materialize(pod: dict[str, Any], pod_dir: Path, objects: Objects, node: NodeInfo = NODE) -> dict[str, Path]:
    return volumes.materialize(pod, pod_dir, objects.lookup, node)


def mount_options(path: Path) -> str | None:
    """The superblock options of the mount at `path`, or None when nothing is mounted there."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == os.path.realpath(path):
            return fields[fields.index("-") + 3]
    return None


def data_files(volume: Path) -> dict[str, bytes]:
    """What a container reads through the volume's visible names."""
    return {p.name: p.read_bytes() for p in sorted(volume.iterdir()) if not p.name.startswith("..") and p.is_file()}


# -- emptyDir --------------------------------------------------------------------------------------


def test_empty_dir_is_a_world_writable_directory_in_the_kubelet_layout(pod_dir: Path, objects: Objects) -> None:
    paths = materialize(make_pod([{"name": "scratch", "emptyDir": {}}]), pod_dir, objects)
    assert paths == {"scratch": pod_dir / "volumes" / "kubernetes.io~empty-dir" / "scratch"}
    assert stat.S_IMODE(paths["scratch"].stat().st_mode) == 0o777


def test_empty_dir_keeps_its_content_when_set_up_again(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {}}])
    (materialize(pod, pod_dir, objects)["scratch"] / "kept").write_text("x")
    assert (materialize(pod, pod_dir, objects)["scratch"] / "kept").read_text() == "x"


def test_volume_without_source_is_an_empty_dir(pod_dir: Path, objects: Objects) -> None:
    paths = materialize(make_pod([{"name": "plain"}]), pod_dir, objects)
    assert paths["plain"].parent.name == "kubernetes.io~empty-dir"


@needs_root
def test_memory_empty_dir_is_tmpfs_sized_by_size_limit(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}])
    path = materialize(pod, pod_dir, objects)["ram"]
    options = mount_options(path)
    assert options is not None
    assert "size=1024k" in options
    # A tmpfs root keeps its sticky bit, as `ls -la` shows on a real node.
    assert stat.S_IMODE(path.stat().st_mode) == 0o1777
    volumes.materialize(pod, pod_dir, objects.lookup, NODE)
    assert sum(1 for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line) == 1


@needs_root
def test_memory_empty_dir_without_size_limit_gets_the_pod_memory_limit(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "ram", "emptyDir": {"medium": "Memory"}}])
    options = mount_options(materialize(pod, pod_dir, objects)["ram"])
    assert options is not None
    assert "size=65536k" in options


@needs_root
def test_cleanup_unmounts_and_removes_everything(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod(
        [
            {"name": "ram", "emptyDir": {"medium": "Memory"}},
            {"name": "creds", "secret": {"secretName": "creds"}},
            {"name": "disk", "emptyDir": {}},
        ]
    )
    paths = materialize(pod, pod_dir, objects)
    (paths["disk"] / "file").write_text("x")
    volumes.cleanup(pod_dir)
    assert not pod_dir.exists()
    assert all(mount_options(path) is None for path in paths.values())
    volumes.cleanup(pod_dir)


# -- configMap and secret: the atomic writer -------------------------------------------------------


def test_config_map_volume_uses_the_atomic_writer_layout(pod_dir: Path, objects: Objects) -> None:
    path = materialize(make_pod([{"name": "config", "configMap": {"name": "settings"}}]), pod_dir, objects)["config"]
    assert path == pod_dir / "volumes" / "kubernetes.io~configmap" / "config"
    assert stat.S_IMODE(path.stat().st_mode) == 0o777
    entries = sorted(p.name for p in path.iterdir())
    assert entries[2:] == ["level", "mode"]
    assert entries[1] == "..data"
    assert TS_DIR.fullmatch(entries[0])
    assert os.readlink(path / "..data") == entries[0]
    assert os.readlink(path / "mode") == "..data/mode"
    assert stat.S_IMODE((path / entries[0]).stat().st_mode) == 0o755
    assert stat.S_IMODE((path / "..data" / "mode").stat().st_mode) == 0o644
    assert data_files(path) == {"level": b"3", "mode": b"fast"}


def test_items_pick_keys_with_their_own_paths_and_modes(pod_dir: Path, objects: Objects) -> None:
    source = {
        "name": "settings",
        "defaultMode": 0o600,
        "items": [{"key": "mode", "path": "conf/app/mode.txt", "mode": 0o400}, {"key": "level", "path": "level"}],
    }
    path = materialize(make_pod([{"name": "config", "configMap": source}]), pod_dir, objects)["config"]
    assert os.readlink(path / "conf") == "..data/conf"
    assert (path / "conf" / "app" / "mode.txt").read_text() == "fast"
    assert stat.S_IMODE((path / "conf" / "app" / "mode.txt").stat().st_mode) == 0o400
    assert stat.S_IMODE((path / "level").stat().st_mode) == 0o600


def test_config_map_binary_data_is_written_as_bytes(pod_dir: Path, objects: Objects) -> None:
    objects["configmaps", "default", "blob"] = {"data": {"text": "t"}, "binaryData": {"bin": b64(b"\x00\xff")}}
    path = materialize(make_pod([{"name": "b", "configMap": {"name": "blob"}}]), pod_dir, objects)["b"]
    assert data_files(path) == {"bin": b"\x00\xff", "text": b"t"}


def test_secret_volume_holds_decoded_data(pod_dir: Path, objects: Objects) -> None:
    path = materialize(make_pod([{"name": "creds", "secret": {"secretName": "creds"}}]), pod_dir, objects)["creds"]
    assert path.parent.name == "kubernetes.io~secret"
    assert data_files(path) == {"password": b"s3cr\x00t", "user": b"admin"}
    if ROOT:
        assert mount_options(path) is not None


def test_secret_volume_is_a_plain_directory_when_not_memory_backed(pod_dir: Path, objects: Objects) -> None:
    node = NodeInfo(name="sandbox", allocatable=NODE.allocatable, memory_backed_secrets=False)
    path = materialize(make_pod([{"name": "creds", "secret": {"secretName": "creds"}}]), pod_dir, objects, node)
    assert mount_options(path["creds"]) is None
    assert (path["creds"] / "user").read_bytes() == b"admin"


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        (
            {"name": "config", "configMap": {"name": "absent"}},
            'MountVolume.SetUp failed for volume "config" : configmap "absent" not found',
        ),
        (
            {"name": "creds", "secret": {"secretName": "absent"}},
            'MountVolume.SetUp failed for volume "creds" : secret "absent" not found',
        ),
        (
            {"name": "config", "configMap": {"name": "settings", "items": [{"key": "nope", "path": "x"}]}},
            'MountVolume.SetUp failed for volume "config" : configmap references non-existent config key: nope',
        ),
        (
            {"name": "creds", "secret": {"secretName": "creds", "items": [{"key": "nope", "path": "x"}]}},
            'MountVolume.SetUp failed for volume "creds" : references non-existent secret key: nope',
        ),
        (
            {"name": "config", "configMap": {"name": "settings", "items": [{"key": "mode", "path": "../escape"}]}},
            "MountVolume.SetUp failed for volume \"config\" : invalid path: must not contain '..': ../escape",
        ),
    ],
)
def test_missing_sources_fail_the_mount_with_the_kubelet_message(
    pod_dir: Path, objects: Objects, volume: dict[str, Any], message: str
) -> None:
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([volume]), pod_dir, objects)
    assert caught.value.reason == "FailedMount"
    assert caught.value.message == message


@pytest.mark.parametrize(
    "volume",
    [
        {"name": "v", "configMap": {"name": "absent", "optional": True}},
        {"name": "v", "secret": {"secretName": "absent", "optional": True}},
        {"name": "v", "configMap": {"name": "settings", "optional": True, "items": [{"key": "nope", "path": "x"}]}},
    ],
)
def test_optional_sources_that_are_missing_give_an_empty_volume(
    pod_dir: Path, objects: Objects, volume: dict[str, Any]
) -> None:
    path = materialize(make_pod([volume]), pod_dir, objects)["v"]
    assert (path / "..data").is_symlink()
    assert data_files(path) == {}


def test_refresh_swaps_the_data_directory_atomically(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "config", "configMap": {"name": "settings"}}])
    path = materialize(pod, pod_dir, objects)["config"]
    old = os.readlink(path / "..data")
    objects["configmaps", "default", "settings"] = {"data": {"mode": "slow", "extra": "new"}}
    volumes.refresh(pod, pod_dir, objects.lookup, NODE)
    new = os.readlink(path / "..data")
    assert new != old
    assert TS_DIR.fullmatch(new)
    assert not (path / old).exists()
    assert not (path / "level").is_symlink()
    assert data_files(path) == {"extra": b"new", "mode": b"slow"}
    assert sorted(p.name for p in path.iterdir() if p.name.startswith("..")) == sorted(["..data", new])


def test_refresh_without_changes_leaves_the_volume_alone(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "config", "configMap": {"name": "settings"}}])
    path = materialize(pod, pod_dir, objects)["config"]
    before = os.readlink(path / "..data")
    volumes.refresh(pod, pod_dir, objects.lookup, NODE)
    assert os.readlink(path / "..data") == before


def test_refresh_keeps_the_old_files_when_the_source_is_gone(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod(
        [{"name": "config", "configMap": {"name": "settings"}}, {"name": "creds", "secret": {"secretName": "creds"}}]
    )
    paths = materialize(pod, pod_dir, objects)
    del objects["configmaps", "default", "settings"]
    objects["secrets", "default", "creds"] = {"data": {"user": b64("root")}}
    with pytest.raises(VolumeError, match='configmap "settings" not found'):
        volumes.refresh(pod, pod_dir, objects.lookup, NODE)
    assert data_files(paths["config"]) == {"level": b"3", "mode": b"fast"}
    assert data_files(paths["creds"]) == {"user": b"root"}


def test_fs_group_owns_the_files_and_makes_them_group_readable(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod(
        [{"name": "config", "configMap": {"name": "settings", "defaultMode": 0o600}}, {"name": "s", "emptyDir": {}}],
        securityContext={"fsGroup": 2000},
    )
    paths = materialize(pod, pod_dir, objects)
    data = (paths["config"] / "mode").resolve()
    assert stat.S_IMODE(data.stat().st_mode) == 0o640
    if ROOT:
        assert data.stat().st_gid == 2000
        assert paths["s"].stat().st_gid == 2000
    assert paths["s"].stat().st_mode & stat.S_ISGID


# -- downward API --------------------------------------------------------------------------------


def test_downward_api_files_hold_the_pod_fields(pod_dir: Path, objects: Objects) -> None:
    items = [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}},
        {"path": "cpu_cores", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "req_mem", "resourceFieldRef": {"containerName": "app", "resource": "requests.memory"}},
        {"path": "disk", "resourceFieldRef": {"containerName": "app", "resource": "limits.ephemeral-storage"}},
    ]
    path = materialize(make_pod([{"name": "info", "downwardAPI": {"items": items}}]), pod_dir, objects)["info"]
    assert path.parent.name == "kubernetes.io~downward-api"
    assert data_files(path) == {
        "annotations": b'note="line1\\nline2"',
        "app": b"web",
        "cpu": b"250",
        "cpu_cores": b"1",
        "disk": str(100 * 2**30).encode(),
        "labels": b'app="web"\ntier="front \\"end\\""',
        "mem": b"64",
        "name": b"web",
        "namespace": b"default",
        "req_mem": b"0",
        "uid": b"pod-uid-1",
    }


def test_downward_api_limits_default_to_node_allocatable(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "info", "downwardAPI": {"items": []}}])
    pod["spec"]["containers"] = [{"name": "app"}]
    pod["spec"]["volumes"][0]["downwardAPI"]["items"] = [
        {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "0"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Gi"}},
    ]
    assert data_files(materialize(pod, pod_dir, objects)["info"]) == {"cpu": b"4", "mem": b"8"}


def test_downward_api_errors_are_reported_together(pod_dir: Path, objects: Objects) -> None:
    items = [
        {"path": "phase", "fieldRef": {"fieldPath": "status.phase"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "ghost", "resource": "limits.cpu"}},
    ]
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([{"name": "info", "downwardAPI": {"items": items}}]), pod_dir, objects)
    assert caught.value.message == (
        'MountVolume.SetUp failed for volume "info" : [unsupported fieldPath: status.phase, container ghost not found]'
    )


# -- projected and service account tokens ----------------------------------------------------------


def kube_api_access() -> dict[str, Any]:
    return {
        "name": "kube-api-access-x1",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }


def decode_jwt(token: bytes, public_pem: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify an RS256 token with the public key and return its header and claims."""
    head, body, signature = token.split(b".")

    def unpack(part: bytes) -> bytes:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))

    key = serialization.load_pem_public_key(public_pem)
    key.verify(unpack(signature), head + b"." + body, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return json.loads(unpack(head)), json.loads(unpack(body))


def test_kube_api_access_volume_has_token_ca_and_namespace(pod_dir: Path, node_dir: Path, objects: Objects) -> None:
    path = materialize(make_pod([kube_api_access()]), pod_dir, objects)["kube-api-access-x1"]
    assert path.parent.name == "kubernetes.io~projected"
    files = data_files(path)
    assert sorted(files) == ["ca.crt", "namespace", "token"]
    assert files["ca.crt"] == b"-----CA-----\n"
    assert files["namespace"] == b"default"
    assert stat.S_IMODE((path / "token").stat().st_mode) == 0o644
    header, claims = decode_jwt(files["token"], volumes.service_account_public_key(node_dir))
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["exp"] - claims["iat"] == 3607
    assert claims["kubernetes.io"] == {
        "namespace": "default",
        "node": {"name": "sandbox", "uid": "node-uid"},
        "pod": {"name": "web", "uid": "pod-uid-1"},
        "serviceaccount": {"name": "default", "uid": "sa-uid-1"},
    }
    assert stat.S_IMODE((node_dir / "sa.key").stat().st_mode) == 0o600


def test_token_audience_and_the_node_key_is_made_once(pod_dir: Path, node_dir: Path, objects: Objects) -> None:
    volume = {
        "name": "vault",
        "projected": {
            "sources": [{"serviceAccountToken": {"audience": "vault", "path": "t", "expirationSeconds": 600}}]
        },
    }
    token = (materialize(make_pod([volume]), pod_dir, objects)["vault"] / "t").read_bytes()
    key = (node_dir / "sa.key").read_bytes()
    _, claims = decode_jwt(token, volumes.service_account_public_key(node_dir))
    assert claims["aud"] == ["vault"]
    assert claims["exp"] - claims["iat"] == 600
    assert (node_dir / "sa.key").read_bytes() == key


def test_token_is_reused_until_it_is_due_for_renewal(
    pod_dir: Path, objects: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = make_pod([kube_api_access()])
    path = materialize(pod, pod_dir, objects)["kube-api-access-x1"]
    first = (path / "token").read_bytes()
    volumes.refresh(pod, pod_dir, objects.lookup, NODE)
    assert (path / "token").read_bytes() == first
    issued = json.loads(base64.urlsafe_b64decode(first.split(b".")[1] + b"==="))["iat"]
    monkeypatch.setattr(volumes.time, "time", lambda: issued + 3607 * 0.8 + 1)
    volumes.refresh(pod, pod_dir, objects.lookup, NODE)
    assert (path / "token").read_bytes() != first


def test_projected_sources_merge_in_order(pod_dir: Path, objects: Objects) -> None:
    volume = {
        "name": "all",
        "projected": {
            "defaultMode": 0o440,
            "sources": [
                {"configMap": {"name": "settings"}},
                {"secret": {"name": "creds", "items": [{"key": "user", "path": "mode"}]}},
                {"configMap": {"name": "absent", "optional": True}},
            ],
        },
    }
    path = materialize(make_pod([volume]), pod_dir, objects)["all"]
    assert data_files(path) == {"level": b"3", "mode": b"admin"}
    assert stat.S_IMODE((path / "level").stat().st_mode) == 0o440


def test_projected_failures_are_aggregated(pod_dir: Path, objects: Objects) -> None:
    del objects["serviceaccounts", "default", "default"]
    volume = {
        "name": "p",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"secret": {"name": "absent"}},
                {"clusterTrustBundle": {"name": "bundle", "path": "ca.pem"}},
            ]
        },
    }
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([volume]), pod_dir, objects)
    assert caught.value.message == (
        'MountVolume.SetUp failed for volume "p" : [failed to fetch token: serviceaccounts "default" not found, '
        'secret "absent" not found, the sandbox node cannot provide clusterTrustBundle projections]'
    )


def test_missing_service_account_fails_the_token(pod_dir: Path, objects: Objects) -> None:
    del objects["serviceaccounts", "default", "default"]
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([kube_api_access()]), pod_dir, objects)
    assert caught.value.message == (
        'MountVolume.SetUp failed for volume "kube-api-access-x1" : '
        'failed to fetch token: serviceaccounts "default" not found'
    )


# -- hostPath --------------------------------------------------------------------------------------


def make_socket(path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()


HOST_PATH_CASES = [
    # (type, what exists at /data, error or None)
    ("", None, None),
    ("", "file", None),
    ("Directory", "dir", None),
    ("Directory", None, "hostPath /data doesn't exist"),
    ("Directory", "file", "hostPath type check failed: /data is not a directory, it's a File"),
    ("DirectoryOrCreate", None, None),
    ("DirectoryOrCreate", "dir", None),
    ("DirectoryOrCreate", "file", "hostPath type check failed: /data is not a directory, it's a File"),
    ("File", "file", None),
    ("File", None, "hostPath /data doesn't exist"),
    ("File", "dir", "hostPath type check failed: /data is not a file, it's a Directory"),
    ("FileOrCreate", None, None),
    ("FileOrCreate", "dir", "hostPath type check failed: /data is not a file, it's a Directory"),
    ("Socket", "socket", None),
    ("Socket", "file", "hostPath type check failed: /data is not a socket file, it's a File"),
    ("CharDevice", "dir", "hostPath type check failed: /data is not a character device, it's a Directory"),
    ("BlockDevice", "socket", "hostPath type check failed: /data is not a block device, it's a Socket"),
    ("Weird", "dir", "Weird is an invalid volume type"),
]


@pytest.mark.parametrize(("kind", "existing", "error"), HOST_PATH_CASES)
def test_host_path_type_checks(
    tmp_path: Path, objects: Objects, kind: str, existing: str | None, error: str | None
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    target = host / "data"
    if existing == "dir":
        target.mkdir()
    elif existing == "file":
        target.write_text("x")
    elif existing == "socket":
        make_socket(target)
    node = NodeInfo(name="sandbox", allocatable=NODE.allocatable, host_root=host)
    pod = make_pod([{"name": "h", "hostPath": {"path": "/data", "type": kind}}])
    pod_dir = tmp_path / "node" / "pods" / "p"
    if error is None:
        assert volumes.materialize(pod, pod_dir, objects.lookup, node) == {"h": target}
        assert target.exists()
    else:
        with pytest.raises(VolumeError) as caught:
            volumes.materialize(pod, pod_dir, objects.lookup, node)
        assert caught.value.message == f'MountVolume.SetUp failed for volume "h" : {error}'


def test_host_path_or_create_makes_what_is_missing(tmp_path: Path, objects: Objects) -> None:
    node = NodeInfo(name="sandbox", allocatable=NODE.allocatable, host_root=tmp_path)
    pod = make_pod(
        [
            {"name": "d", "hostPath": {"path": "/a/b/c", "type": "DirectoryOrCreate"}},
            {"name": "f", "hostPath": {"path": "/a/file.txt", "type": "FileOrCreate"}},
        ]
    )
    paths = volumes.materialize(pod, tmp_path / "node" / "pods" / "p", objects.lookup, node)
    assert paths["d"].is_dir()
    assert stat.S_IMODE(paths["d"].stat().st_mode) & 0o755 == 0o755
    assert paths["f"].is_file()
    assert paths["f"].read_bytes() == b""


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ({"path": "/nowhere/file", "type": "FileOrCreate"}, "open /nowhere/file: no such file or directory"),
        ({"path": "/a/../etc", "type": ""}, "invalid HostPath `/a/../etc`: must not contain '..'"),
    ],
)
def test_host_path_errors(tmp_path: Path, objects: Objects, source: dict[str, str], error: str) -> None:
    node = NodeInfo(name="sandbox", allocatable=NODE.allocatable, host_root=tmp_path)
    with pytest.raises(VolumeError, match=re.escape(error)):
        volumes.materialize(make_pod([{"name": "h", "hostPath": source}]), tmp_path / "p", objects.lookup, node)


def test_host_path_char_device_on_the_real_host(pod_dir: Path, objects: Objects) -> None:
    pod = make_pod([{"name": "null", "hostPath": {"path": "/dev/null", "type": "CharDevice"}}])
    assert materialize(pod, pod_dir, objects) == {"null": Path("/dev/null")}


# -- persistentVolumeClaim -------------------------------------------------------------------------


def test_claim_gets_a_node_directory_that_outlives_the_pod(pod_dir: Path, node_dir: Path, objects: Objects) -> None:
    objects["persistentvolumeclaims", "default", "data"] = {"metadata": {"name": "data"}, "status": {"phase": "Bound"}}
    pod = make_pod([{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}])
    path = materialize(pod, pod_dir, objects)["store"]
    assert path == node_dir / "pvcs" / "default" / "data" == volumes.claim_dir(node_dir, "default", "data")
    (path / "db").write_text("rows")
    volumes.cleanup(pod_dir)
    assert (materialize(pod, pod_dir, objects)["store"] / "db").read_text() == "rows"


@pytest.mark.parametrize(
    ("claim", "detail"),
    [
        (None, 'failed to fetch PVC from API server: persistentvolumeclaims "data" not found'),
        ({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, "PVC is being deleted"),
        ({"status": {"phase": "Lost"}}, "PVC is not bound"),
    ],
)
def test_claim_errors(pod_dir: Path, objects: Objects, claim: dict[str, Any] | None, detail: str) -> None:
    if claim is not None:
        objects["persistentvolumeclaims", "default", "data"] = claim
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([{"name": "store", "persistentVolumeClaim": {"claimName": "data"}}]), pod_dir, objects)
    assert caught.value.message == (
        "Unable to attach or mount volumes: unmounted volumes=[store], unattached volumes=[], "
        f"failed to process volumes=[store]: error processing PVC default/data: {detail}"
    )


# -- what the node cannot provide ----------------------------------------------------------------


@pytest.mark.parametrize(
    "volume",
    [
        {"name": "share", "nfs": {"server": "nfs.example", "path": "/"}},
        {"name": "share", "csi": {"driver": "x"}},
        {"name": "share", "image": {"reference": "busybox"}},
    ],
)
def test_other_volume_types_fail_with_a_clear_message(pod_dir: Path, objects: Objects, volume: dict[str, Any]) -> None:
    kind = next(key for key in volume if key != "name")
    with pytest.raises(VolumeError) as caught:
        materialize(make_pod([volume]), pod_dir, objects)
    assert caught.value.reason == "FailedMount"
    assert f"failed to process volumes=[share]: the sandbox node cannot provide {kind} volumes" in caught.value.message


def test_memory_is_the_only_other_empty_dir_medium(pod_dir: Path, objects: Objects) -> None:
    with pytest.raises(VolumeError, match="cannot provide emptyDir medium HugePages"):
        materialize(make_pod([{"name": "h", "emptyDir": {"medium": "HugePages"}}]), pod_dir, objects)


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        ({"name": "a", "configMap": {"name": "x"}}, True),
        ({"name": "a", "projected": {"sources": []}}, True),
        ({"name": "a", "emptyDir": {}}, False),
        ({"name": "a", "persistentVolumeClaim": {"claimName": "x", "readOnly": True}}, True),
        ({"name": "a", "hostPath": {"path": "/tmp"}}, False),
    ],
)
def test_api_data_volumes_are_mounted_read_only(volume: dict[str, Any], expected: bool) -> None:
    assert volumes.read_only(volume) is expected


# -- the pod's hosts and resolv.conf -------------------------------------------------------------

HOSTS_HEADER = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def test_etc_hosts_is_the_kubelet_managed_file() -> None:
    assert volumes.etc_hosts("10.200.0.5", "hostaliases-pod", []) == HOSTS_HEADER + "10.200.0.5\thostaliases-pod\n"


def test_etc_hosts_with_aliases_and_a_subdomain() -> None:
    aliases = [
        {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
        {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]},
    ]
    text = volumes.etc_hosts("10.200.0.5", "web", aliases, domain="db.default.svc.cluster.local")
    assert text == (
        HOSTS_HEADER + "10.200.0.5\tweb.db.default.svc.cluster.local\tweb\n"
        "\n# Entries added by HostAliases.\n"
        "127.0.0.1\tfoo.local\tbar.local\n"
        "10.1.2.3\tfoo.remote\tbar.remote\n"
    )


def test_resolv_conf_points_at_cluster_dns() -> None:
    assert volumes.resolv_conf("shop") == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    )


def test_resolv_conf_merges_the_pod_dns_config() -> None:
    config = {"nameservers": ["1.1.1.1"], "searches": ["corp.example"], "options": [{"name": "ndots", "value": "2"}]}
    assert volumes.resolv_conf("shop", config) == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:2\n"
    )
    assert volumes.resolv_conf("shop", config, policy="None") == (
        "search corp.example\nnameserver 1.1.1.1\noptions ndots:2\n"
    )


# -- container environment ------------------------------------------------------------------------

EXPANSION_CASES = [
    # Every case of Kubernetes' third_party/forked/golang/expansion/expand_test.go.
    ("whole string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("backslash escape ignored twice", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("lots of backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("nested var references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("nested var references second type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
    ("value is a reference x 2", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
    ("unterminated expression", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("expression without operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
    ("bare operators are ignored", "$VAR_A", "$VAR_A"),
    ("undefined vars are passed through", "$(VAR_DNE)", "$(VAR_DNE)"),
    ("multiple (even) operators, var undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("multiple (even) operators, var defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("multiple (odd) operators, var undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("multiple (odd) operators, var defined", "$$$$$$$(VAR_A)", "$$$A"),
    ("missing open expression", "$VAR_A)", "$VAR_A)"),
    ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
    ("trailing incomplete expression not consumed", "$(VAR_B)_______$(A", "B_______$(A"),
    ("trailing incomplete expression, no content, is not consumed", "$(VAR_C)_______$(", "C_______$("),
    ("operator at end of input string is preserved", "$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("shell escaped incomplete expr", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
    ("lots of $( in beginning", "$($($($($--foo$(", "$($($($($--foo$("),
    ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
    ("escaped operators in variable names are not escaped", "$(foo$$var)", "$(foo$$var)"),
    ("newline not expanded", "\n", "\n"),
]


@pytest.mark.parametrize(("name", "text", "expected"), EXPANSION_CASES, ids=[c[0] for c in EXPANSION_CASES])
@pytest.mark.parametrize("dual", [False, True])
def test_expansion_matches_kubernetes(name: str, text: str, expected: str, dual: bool) -> None:
    values = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
    if dual:
        first = {k: values[k] for k in ("VAR_A", "VAR_EMPTY")}
        second = {k: values[k] for k in ("VAR_B", "VAR_C", "VAR_REF")}
        assert env.expand(text, first, second) == expected
    else:
        assert env.expand(text, values) == expected


def container_env(container: dict[str, Any], objects: Objects, services: Any = (), **spec: Any) -> dict[str, str]:
    pod = make_pod(**spec)
    pod["spec"]["containers"] = [container]
    return env.container_env(pod, container, objects.lookup, services, node=NODE)


def without_links(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if not k.startswith("KUBERNETES_")}


def test_declared_variables_expand_in_order(objects: Objects) -> None:
    container = {
        "name": "app",
        "env": [
            {"name": "FOO", "value": "bar"},
            {"name": "ZOO", "value": "$(FOO)-1"},
            {"name": "BLU", "value": "$(ZOO)-2"},
            {"name": "EARLY", "value": "$(LATE)"},
            {"name": "LATE", "value": "x"},
            {"name": "API", "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"},
        ],
    }
    assert without_links(container_env(container, objects)) == {
        "FOO": "bar",
        "ZOO": "bar-1",
        "BLU": "bar-1-2",
        "EARLY": "$(LATE)",
        "LATE": "x",
        "API": "https://10.96.0.1:443",
    }


def test_env_sources(objects: Objects) -> None:
    container = {
        "name": "app",
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "500m"}},
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        "env": [
            {"name": "user", "value": "override"},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
            {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "NOKEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
            {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "EMPTY", "value": ""},
        ],
    }
    assert without_links(container_env(container, objects)) == {
        "CFG_mode": "fast",
        "CFG_level": "3",
        "user": "override",
        "password": "s3cr\x00t",
        "MODE": "fast",
        "PASS": "admin",
        "POD_NAME": "web",
        "POD_IP": "10.244.0.7",
        "HOST_IP": "10.244.0.1",
        "NODE": "sandbox",
        "SA": "default",
        "APP": "web",
        "MEM_MI": "128",
        "CPU_M": "500",
        "CPUS": "4",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ({"valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}, 'configmap "x" not found'),
        ({"valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}, 'secret "x" not found'),
        (
            {"valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}},
            "couldn't find key k in ConfigMap default/settings",
        ),
        ({"valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}, "couldn't find key k in Secret default/creds"),
        ({"valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}, "unsupported fieldPath: spec.restartPolicy"),
    ],
)
def test_env_errors_are_create_container_config_errors(
    objects: Objects, variable: dict[str, Any], message: str
) -> None:
    with pytest.raises(EnvError) as caught:
        container_env({"name": "app", "env": [{"name": "X", **variable}]}, objects)
    assert caught.value.reason == "CreateContainerConfigError"
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("env_from", "message"),
    [
        ({"configMapRef": {"name": "nope"}}, 'configmap "nope" not found'),
        ({"secretRef": {"name": "nope"}}, 'secret "nope" not found'),
    ],
)
def test_env_from_missing_source(objects: Objects, env_from: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvError, match=re.escape(message)):
        container_env({"name": "app", "envFrom": [env_from]}, objects)
    optional = {kind: {**ref, "optional": True} for kind, ref in env_from.items()}
    assert without_links(container_env({"name": "app", "envFrom": [optional]}, objects)) == {}


SERVICES = [
    {
        "metadata": {"name": "foo-bar", "namespace": "default"},
        "spec": {"clusterIP": "1.2.3.4", "ports": [{"port": 8080, "protocol": "TCP"}]},
    },
    {
        "metadata": {"name": "abc-123", "namespace": "default"},
        "spec": {
            "clusterIP": "5.6.7.8",
            "ports": [
                {"name": "udp-123", "port": 8081, "protocol": "UDP"},
                {"name": "tcp-456", "port": 8082, "protocol": "TCP"},
            ],
        },
    },
    {"metadata": {"name": "headless", "namespace": "default"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}},
    {
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
    },
]


def test_service_links() -> None:
    assert env.service_env(SERVICES, "default") == {
        "FOO_BAR_SERVICE_HOST": "1.2.3.4",
        "FOO_BAR_SERVICE_PORT": "8080",
        "FOO_BAR_PORT": "tcp://1.2.3.4:8080",
        "FOO_BAR_PORT_8080_TCP": "tcp://1.2.3.4:8080",
        "FOO_BAR_PORT_8080_TCP_PROTO": "tcp",
        "FOO_BAR_PORT_8080_TCP_PORT": "8080",
        "FOO_BAR_PORT_8080_TCP_ADDR": "1.2.3.4",
        "ABC_123_SERVICE_HOST": "5.6.7.8",
        "ABC_123_SERVICE_PORT": "8081",
        "ABC_123_SERVICE_PORT_UDP_123": "8081",
        "ABC_123_SERVICE_PORT_TCP_456": "8082",
        "ABC_123_PORT": "udp://5.6.7.8:8081",
        "ABC_123_PORT_8081_UDP": "udp://5.6.7.8:8081",
        "ABC_123_PORT_8081_UDP_PROTO": "udp",
        "ABC_123_PORT_8081_UDP_PORT": "8081",
        "ABC_123_PORT_8081_UDP_ADDR": "5.6.7.8",
        "ABC_123_PORT_8082_TCP": "tcp://5.6.7.8:8082",
        "ABC_123_PORT_8082_TCP_PROTO": "tcp",
        "ABC_123_PORT_8082_TCP_PORT": "8082",
        "ABC_123_PORT_8082_TCP_ADDR": "5.6.7.8",
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
    }


def test_service_links_can_be_disabled_but_not_for_the_api_server(objects: Objects) -> None:
    values = container_env({"name": "app"}, objects, SERVICES, enableServiceLinks=False)
    assert sorted(values) == sorted(k for k in env.service_env(SERVICES, "default") if k.startswith("KUBERNETES_"))


def test_the_api_server_variables_exist_even_when_not_listed(objects: Objects) -> None:
    values = container_env({"name": "app", "env": [{"name": "KUBERNETES_SERVICE_PORT", "value": "1"}]}, objects)
    assert values["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert values["KUBERNETES_SERVICE_PORT"] == "1"
