"""A pod's volumes on the host, laid out as the kubelet lays them out.

Each volume lives in `<pod_dir>/volumes/kubernetes.io~<plugin>/<name>`, where `pod_dir` is
`<node_dir>/pods/<uid>`. configMap, secret, downwardAPI and projected volumes are written by an atomic writer
like the kubelet's (`pkg/volume/util/atomic_writer.go`): the files sit in a timestamped directory, `..data`
points at it and is swapped by one rename, and each top-level key is a symlink through `..data`, so a
running container sees an update all at once. Error texts are the kubelet's, as FailedMount events show them.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import json
import os
import random
import re
import shutil
import stat
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox.api.schema import parse_quantity
from sandbox.runtime import linux
from sandbox.runtime.env import Lookup, NodeInfo, find_container, object_field, resource_value, secret_data

__all__ = [
    "NodeInfo",
    "VolumeError",
    "claim_dir",
    "cleanup",
    "etc_hosts",
    "materialize",
    "read_only",
    "refresh",
    "resolv_conf",
    "service_account_public_key",
]

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
API_DATA = ("configMap", "secret", "downwardAPI", "projected")
SUPPORTED = ("emptyDir", "configMap", "secret", "downwardAPI", "projected", "hostPath", "persistentVolumeClaim")
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_MODE = 0o644
DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_PATH = 4096
MAX_FILE_NAME = 255
# The kubelet renews a projected token at 80% of its life, or after a day, whichever comes first.
TOKEN_RENEW_FRACTION = 0.8
TOKEN_RENEW_MAX = 24 * 3600

Payload = dict[str, tuple[bytes, int]]


class VolumeError(Exception):
    """A volume the node could not set up; `reason` and `message` make the pod's FailedMount event."""

    def __init__(self, message: str, reason: str = "FailedMount") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Fail(Exception):
    """One or more plugin errors, printed as utilerrors.NewAggregate prints them."""

    def __init__(self, *messages: str) -> None:
        self.messages = list(dict.fromkeys(messages))
        super().__init__(self.messages[0] if len(self.messages) == 1 else "[" + ", ".join(self.messages) + "]")


class _ProcessFail(_Fail):
    """A volume the volume manager cannot even process (a claim that is missing, a plugin the node lacks)."""


def _wrap(name: str, exc: _Fail) -> VolumeError:
    if isinstance(exc, _ProcessFail):
        return VolumeError(
            f"Unable to attach or mount volumes: unmounted volumes=[{name}], unattached volumes=[], "
            f"failed to process volumes=[{name}]: {exc}"
        )
    return VolumeError(f'MountVolume.SetUp failed for volume "{name}" : {exc}')


# -- public API ----------------------------------------------------------------------------------


def materialize(
    pod: Mapping[str, Any], pod_dir: Path, lookup: Lookup, node: NodeInfo | Mapping[str, Any] | None = None
) -> dict[str, Path]:
    """Set up every volume of the pod; returns volume name -> host path to bind-mount. Safe to call again."""
    info = NodeInfo.of(node)
    paths: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name", "")
        try:
            paths[name] = _set_up(pod, Path(pod_dir), volume, lookup, info)
        except _Fail as exc:
            raise _wrap(name, exc) from None
    return paths


def refresh(
    pod: Mapping[str, Any], pod_dir: Path, lookup: Lookup, node: NodeInfo | Mapping[str, Any] | None = None
) -> None:
    """Re-project configMap, secret, downwardAPI and projected volumes; raises the first failure after the rest."""
    # Unchanged volumes are left alone; one whose source is gone keeps its old files, as on a real node.
    info = NodeInfo.of(node)
    first: VolumeError | None = None
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        kind = _kind(volume)
        if kind not in API_DATA:
            continue
        target = _volume_dir(Path(pod_dir), kind, volume.get("name", ""))
        if not (target / DATA_DIR).is_symlink():
            continue
        try:
            _api_volume(pod, Path(pod_dir), volume, kind, lookup, info)
        except _Fail as exc:
            first = first or _wrap(volume.get("name", ""), exc)
    if first is not None:
        raise first


def cleanup(pod_dir: Path) -> None:
    """Unmount everything mounted under the pod's directory (tmpfs volumes included), then remove it."""
    pod_dir = Path(pod_dir)
    for mount_point in sorted(_mounts_under(pod_dir), key=len, reverse=True):
        _umount(mount_point)
    left = _mounts_under(pod_dir)
    if left:
        # Removing files through a mount that is still there would reach into whatever is mounted.
        raise OSError(errno.EBUSY, "still mounted", left[0])
    if pod_dir.exists() or pod_dir.is_symlink():
        shutil.rmtree(pod_dir)


def read_only(volume: Mapping[str, Any]) -> bool:
    """Whether the runtime must mount this volume read-only whatever the volumeMount says."""
    kind = _kind(volume)
    if kind in API_DATA:
        return True
    return bool((volume.get(kind) or {}).get("readOnly")) if kind == "persistentVolumeClaim" else False


def etc_hosts(
    pod_ip: str | Sequence[str],
    hostname: str,
    host_aliases: Sequence[Mapping[str, Any]] | None = None,
    domain: str = "",
) -> str:
    """The kubelet-managed /etc/hosts of a pod (managedHostsFileContent)."""
    ips = [pod_ip] if isinstance(pod_ip, str) else list(pod_ip)
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    for ip in ips:
        if not ip:
            continue
        lines.append(f"{ip}\t{hostname}.{domain}\t{hostname}" if domain else f"{ip}\t{hostname}")
    text = "\n".join(lines) + "\n"
    if host_aliases:
        text += "\n# Entries added by HostAliases.\n"
        for alias in host_aliases:
            names = "\t".join(alias.get("hostnames") or [])
            text += f"{alias.get('ip', '')}\t{names}\n"
    return text


def resolv_conf(
    namespace: str,
    dns_config: Mapping[str, Any] | None = None,
    policy: str = "ClusterFirst",
    *,
    nameserver: str = "10.96.0.10",
    cluster_domain: str = "cluster.local",
) -> str:
    """A pod's /etc/resolv.conf as containerd writes it from the kubelet's DNS config."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy != "None":
        servers = [nameserver]
        searches = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
        options = ["ndots:5"]
    if dns_config:
        servers += [s for s in dns_config.get("nameservers") or [] if s not in servers]
        searches += [s for s in dns_config.get("searches") or [] if s not in searches]
        merged = {opt.split(":", 1)[0]: opt for opt in options}
        for opt in dns_config.get("options") or []:
            value = opt.get("value")
            merged[opt.get("name", "")] = f"{opt.get('name', '')}:{value}" if value is not None else opt.get("name", "")
        options = list(merged.values())
    text = ""
    if searches:
        text += f"search {' '.join(searches)}\n"
    for server in servers:
        text += f"nameserver {server}\n"
    if options:
        text += f"options {' '.join(options)}\n"
    return text


def service_account_public_key(node_dir: Path) -> bytes:
    """The PEM public key that verifies this node's projected service account tokens."""
    return (
        _signing_key(Path(node_dir))
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def claim_dir(node_dir: Path, namespace: str, claim: str) -> Path:
    """Where the data of a PersistentVolumeClaim lives on this node."""
    return Path(node_dir) / "pvcs" / namespace / claim


# -- dispatch ------------------------------------------------------------------------------------


def _kind(volume: Mapping[str, Any]) -> str:
    keys = [key for key in volume if key != "name"]
    for key in SUPPORTED:
        if key in keys:
            return key
    # The API defaults a volume without a source to emptyDir.
    return keys[0] if keys else "emptyDir"


def _volume_dir(pod_dir: Path, kind: str, name: str) -> Path:
    return pod_dir / "volumes" / PLUGIN_DIRS[kind] / name


def _node_dir(pod_dir: Path) -> Path:
    return pod_dir.parent.parent


def _fs_group(pod: Mapping[str, Any]) -> int | None:
    value = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return int(value) if value is not None else None


def _set_up(pod: Mapping[str, Any], pod_dir: Path, volume: Mapping[str, Any], lookup: Lookup, node: NodeInfo) -> Path:
    kind = _kind(volume)
    name = volume.get("name", "")
    if kind == "emptyDir":
        return _empty_dir(pod, pod_dir, name, volume.get("emptyDir") or {}, node)
    if kind in API_DATA:
        return _api_volume(pod, pod_dir, volume, kind, lookup, node)
    if kind == "hostPath":
        return _host_path(volume.get("hostPath") or {}, node)
    if kind == "persistentVolumeClaim":
        return _claim(pod, pod_dir, volume.get("persistentVolumeClaim") or {}, lookup)
    raise _ProcessFail(
        f"the sandbox node cannot provide {kind} volumes "
        "(it provides emptyDir, configMap, secret, downwardAPI, projected, hostPath and persistentVolumeClaim)"
    )


# -- emptyDir and tmpfs --------------------------------------------------------------------------


def _bytes(text: Any) -> int | None:
    if text in (None, ""):
        return None
    value = parse_quantity(str(text))[0]
    return int(value) if value == int(value) else int(value) + 1


def _pod_memory_limit(pod: Mapping[str, Any]) -> int | None:
    """The pod's memory limit as its cgroup gets it; None when any container is unlimited."""
    spec = pod.get("spec") or {}

    def limit(container: Mapping[str, Any]) -> int | None:
        return _bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))

    inits = spec.get("initContainers") or []
    running = [*(spec.get("containers") or []), *(c for c in inits if c.get("restartPolicy") == "Always")]
    limits = [limit(c) for c in running]
    if not running or any(value is None for value in limits):
        return None
    total = sum(value for value in limits if value is not None)
    init_limits = [limit(c) for c in inits if c.get("restartPolicy") != "Always"]
    if any(value is None for value in init_limits):
        return None
    return max([total, *(value for value in init_limits if value is not None)])


def _memory_size(pod: Mapping[str, Any], node: NodeInfo, size_limit: Any) -> int | None:
    """calculateEmptyDirMemorySize: node allocatable, lowered by the pod's limit, lowered by sizeLimit."""
    size = _bytes(node.allocatable.get("memory")) or None
    for candidate in (_pod_memory_limit(pod), _bytes(size_limit)):
        if candidate and (size is None or candidate <= size):
            size = candidate
    return size


def _mount_tmpfs(target: Path, size: int | None) -> None:
    linux.mount("tmpfs", target, "tmpfs", 0, f"size={size}" if size else None)


def _umount(target: str) -> None:
    try:
        linux.umount(target)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            # A process still holds something open in it: detach now, the kernel frees it when released.
            linux.umount(target, linux.MNT_DETACH)
        elif exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts_under(root: Path) -> list[str]:
    base = os.path.realpath(root)
    found = []
    try:
        with open("/proc/self/mountinfo") as info:
            for line in info:
                point = _unescape(line.split()[4])
                if point == base or point.startswith(base + "/"):
                    found.append(point)
    except OSError:
        return []
    return found


def _is_mount_point(path: Path) -> bool:
    return os.path.realpath(path) in _mounts_under(path)


def _prepare_dir(target: Path, memory: bool, size: int | None, required: bool) -> None:
    """The wrapped emptyDir under every volume: a 0777 directory, on tmpfs when memory-backed."""
    target.mkdir(parents=True, exist_ok=True)
    if memory and not _is_mount_point(target):
        try:
            _mount_tmpfs(target, size)
        except OSError as exc:
            if required:
                raise _Fail(f"mount failed: {exc}") from None
    # setupDir only fixes the permission bits, so a tmpfs root keeps its sticky bit (drwxrwxrwt).
    if stat.S_IMODE(target.stat().st_mode) & 0o777 != 0o777:
        os.chmod(target, 0o777)


def _empty_dir(pod: Mapping[str, Any], pod_dir: Path, name: str, source: Mapping[str, Any], node: NodeInfo) -> Path:
    medium = source.get("medium") or ""
    if medium not in ("", "Memory"):
        raise _Fail(f"the sandbox node cannot provide emptyDir medium {medium}")
    target = _volume_dir(pod_dir, "emptyDir", name)
    memory = medium == "Memory"
    _prepare_dir(target, memory, _memory_size(pod, node, source.get("sizeLimit")) if memory else None, True)
    group = _fs_group(pod)
    if group is not None:
        _set_ownership(target, group, readonly=False)
    return target


def _set_ownership(root: Path, group: int, readonly: bool) -> None:
    """SetVolumeOwnership: group-own everything by fsGroup, group-readable (and writable), setgid dirs."""
    mask = 0o440 if readonly else 0o660
    for directory, dirs, files in os.walk(root):
        for entry in [directory, *(os.path.join(directory, n) for n in dirs + files)]:
            info = os.lstat(entry)
            # A failed chown still leaves the permission bits worth setting, as the kubelet does.
            with contextlib.suppress(OSError):
                os.lchown(entry, -1, group)
            if stat.S_ISLNK(info.st_mode):
                continue
            extra = mask | (stat.S_ISGID | 0o110 if stat.S_ISDIR(info.st_mode) else 0)
            os.chmod(entry, stat.S_IMODE(info.st_mode) | extra)


# -- configMap, secret, downwardAPI, projected ---------------------------------------------------


def _api_volume(
    pod: Mapping[str, Any], pod_dir: Path, volume: Mapping[str, Any], kind: str, lookup: Lookup, node: NodeInfo
) -> Path:
    target = _volume_dir(pod_dir, kind, volume.get("name", ""))
    source = volume.get(kind) or {}
    payload = _payload(pod, kind, source, lookup, node, _node_dir(pod_dir), target)
    memory = kind in ("secret", "projected") and node.memory_backed_secrets and os.geteuid() == 0
    _prepare_dir(target, memory, _memory_size(pod, node, None) if memory else None, False)
    try:
        _atomic_write(target, payload)
    except OSError as exc:
        raise _Fail(str(exc)) from None
    group = _fs_group(pod)
    if group is not None:
        _set_ownership(target, group, readonly=True)
    return target


def _mode(value: Any, default: int) -> int:
    return int(value) if value is not None else default


def _referenced(lookup: Lookup, resource: str, namespace: str, name: str, optional: bool) -> Mapping[str, Any]:
    """A configMap or secret a volume names: empty when absent and optional, a mount failure otherwise."""
    found = lookup(resource, namespace, name)
    if found is None and not optional:
        # The kubelet names the kind in the singular: configmap "x" not found, secret "y" not found.
        raise _Fail(f'{resource.removesuffix("s")} "{name}" not found')
    return found or {}


def _payload(
    pod: Mapping[str, Any],
    kind: str,
    source: Mapping[str, Any],
    lookup: Lookup,
    node: NodeInfo,
    node_dir: Path,
    target: Path,
) -> Payload:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)
    if kind == "configMap":
        optional = bool(source.get("optional"))
        found = _referenced(lookup, "configmaps", namespace, source.get("name", ""), optional)
        return _config_map_payload(source.get("items"), found, default_mode, optional)
    if kind == "secret":
        optional = bool(source.get("optional"))
        found = _referenced(lookup, "secrets", namespace, source.get("secretName", ""), optional)
        return _secret_payload(source.get("items"), found, default_mode, optional)
    if kind == "downwardAPI":
        return _downward_payload(source.get("items") or [], pod, default_mode, node)
    return _projected_payload(pod, source, lookup, node, node_dir, target)


def _config_map_payload(items: Any, config_map: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """configmap.MakePayload."""
    data = {key: value.encode() for key, value in (config_map.get("data") or {}).items()}
    binary = {key: base64.b64decode(value) for key, value in (config_map.get("binaryData") or {}).items()}
    if not items:
        return {key: (value, default_mode) for key, value in {**data, **binary}.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key in data:
            content = data[key]
        elif key in binary:
            content = binary[key]
        elif optional:
            continue
        else:
            raise _Fail(f"configmap references non-existent config key: {key}")
        payload[item.get("path", "")] = (content, _mode(item.get("mode"), default_mode))
    return payload


def _secret_payload(items: Any, secret: Mapping[str, Any], default_mode: int, optional: bool) -> Payload:
    """secret.MakePayload: the object's base64 data, decoded."""
    data = secret_data(secret)
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise _Fail(f"references non-existent secret key: {key}")
        payload[item.get("path", "")] = (data[key], _mode(item.get("mode"), default_mode))
    return payload


def _downward_payload(items: Any, pod: Mapping[str, Any], default_mode: int, node: NodeInfo) -> Payload:
    """downwardapi.CollectData."""
    payload: Payload = {}
    problems: list[str] = []
    for item in items:
        content = b""
        try:
            if item.get("fieldRef") is not None:
                content = object_field(pod, item["fieldRef"].get("fieldPath", "")).encode()
            elif item.get("resourceFieldRef") is not None:
                ref = item["resourceFieldRef"]
                container = find_container(pod, ref.get("containerName", ""))
                content = resource_value(ref, container, node.allocatable).encode()
        except ValueError as exc:
            problems.append(str(exc))
        payload[os.path.normpath(item.get("path", ""))] = (content, _mode(item.get("mode"), default_mode))
    if problems:
        raise _Fail(*problems)
    return payload


def _projected_payload(
    pod: Mapping[str, Any], source: Mapping[str, Any], lookup: Lookup, node: NodeInfo, node_dir: Path, target: Path
) -> Payload:
    """projected collectData: later sources override earlier ones; every failure is reported together."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace", "default")
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)
    payload: Payload = {}
    problems: list[str] = []
    for projection in source.get("sources") or []:
        try:
            if projection.get("configMap") is not None:
                ref = projection["configMap"]
                optional = bool(ref.get("optional"))
                found = _referenced(lookup, "configmaps", namespace, ref.get("name", ""), optional)
                payload.update(_config_map_payload(ref.get("items"), found, default_mode, optional))
            elif projection.get("secret") is not None:
                ref = projection["secret"]
                optional = bool(ref.get("optional"))
                found = _referenced(lookup, "secrets", namespace, ref.get("name", ""), optional)
                payload.update(_secret_payload(ref.get("items"), found, default_mode, optional))
            elif projection.get("downwardAPI") is not None:
                payload.update(_downward_payload(projection["downwardAPI"].get("items") or [], pod, default_mode, node))
            elif projection.get("serviceAccountToken") is not None:
                ref = projection["serviceAccountToken"]
                path = ref.get("path", "")
                # With an fsGroup the kubelet keeps the token owner-only before ownership is applied.
                mode = 0o600 if _fs_group(pod) is not None else default_mode
                payload[path] = (_token(pod, ref, lookup, node, node_dir, target / DATA_DIR / path), mode)
            else:
                kind = next((key for key in projection), "unknown")
                raise _Fail(f"the sandbox node cannot provide {kind} projections")
        except _Fail as exc:
            problems.extend(exc.messages)
    if problems:
        raise _Fail(*problems)
    return payload


# -- service account tokens ----------------------------------------------------------------------

_keys: dict[Path, rsa.RSAPrivateKey] = {}


def _signing_key(node_dir: Path) -> rsa.RSAPrivateKey:
    path = (node_dir / "sa.key").resolve()
    if path in _keys:
        return _keys[path]
    try:
        key = _load_key(path.read_bytes())
    except FileNotFoundError:
        node_dir.mkdir(parents=True, exist_ok=True)
        fresh = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = fresh.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = _load_key(path.read_bytes())
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            key = fresh
    _keys[path] = key
    return key


def _load_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise _Fail("the node's service account key is not an RSA key")
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_id(key: rsa.RSAPrivateKey) -> str:
    """The apiserver's key id: the hash of the public key's DER encoding."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def _token(
    pod: Mapping[str, Any],
    ref: Mapping[str, Any],
    lookup: Lookup,
    node: NodeInfo,
    node_dir: Path,
    current: Path,
) -> bytes:
    """A bound service account token for the pod, reusing the current one until it is due for renewal."""
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace", "default")
    account_name = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    account = lookup("serviceaccounts", namespace, account_name)
    if account is None:
        raise _Fail(f'failed to fetch token: serviceaccounts "{account_name}" not found')
    audiences = [ref["audience"]] if ref.get("audience") else [ISSUER]
    subject = f"system:serviceaccount:{namespace}:{account_name}"
    now = int(time.time())
    reusable = _reusable_token(current, audiences, subject, meta.get("uid", ""), now)
    if reusable is not None:
        return reusable
    kubernetes_claims: dict[str, Any] = {"namespace": namespace}
    if node.name:
        kubernetes_claims["node"] = {"name": node.name, **({"uid": node.uid} if node.uid else {})}
    kubernetes_claims["pod"] = {"name": meta.get("name", ""), "uid": meta.get("uid", "")}
    kubernetes_claims["serviceaccount"] = {
        "name": account_name,
        "uid": (account.get("metadata") or {}).get("uid", ""),
    }
    claims = {
        "aud": audiences,
        "exp": now + int(ref.get("expirationSeconds") or 3600),
        "iat": now,
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": kubernetes_claims,
        "nbf": now,
        "sub": subject,
    }
    key = _signing_key(node_dir)
    header = {"alg": "RS256", "kid": _key_id(key)}
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}".encode()


def _reusable_token(current: Path, audiences: list[str], subject: str, pod_uid: str, now: int) -> bytes | None:
    try:
        token = current.read_bytes()
        claims = json.loads(_unb64url(token.split(b".")[1].decode()))
        issued, expires = int(claims["iat"]), int(claims["exp"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    if claims.get("aud") != audiences or claims.get("sub") != subject:
        return None
    if (claims.get("kubernetes.io") or {}).get("pod", {}).get("uid") != pod_uid:
        return None
    due = issued + min((expires - issued) * TOKEN_RENEW_FRACTION, TOKEN_RENEW_MAX)
    return token if now < due else None


# -- the atomic writer ---------------------------------------------------------------------------


def _validate_path(path: str) -> None:
    if path == "":
        raise _Fail(f'invalid path: must not be empty: "{path}"')
    if path.startswith("/"):
        raise _Fail(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH:
        raise _Fail(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise _Fail(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME:
            raise _Fail(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise _Fail(f"invalid path: must not start with '..': {path}")


def _new_timestamp_dir(target: Path) -> Path:
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    while True:
        candidate = target / f"{stamp}{random.randrange(10**9):09d}"
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            continue
        # group and others must be able to walk into it, whatever the umask.
        os.chmod(candidate, 0o755)
        return candidate


def _all_paths(root: Path) -> set[str]:
    found: set[str] = set()
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(directory, name), root))
    return found


def _atomic_write(target: Path, payload: Payload) -> bool:
    """Write the payload the way AtomicWriter.Write does; False when the volume already held it."""
    clean: Payload = {}
    for path, entry in payload.items():
        _validate_path(path)
        clean[os.path.normpath(path)] = entry
    data_link = target / DATA_DIR
    try:
        old_name = os.readlink(data_link)
    except FileNotFoundError:
        old_name = ""
    old_dir = target / old_name if old_name else None
    remove: set[str] = set()
    if old_dir is not None:
        wanted: set[str] = set()
        for path in clean:
            while path:
                wanted.add(path)
                path = os.path.dirname(path)
        remove = _all_paths(old_dir) - wanted if old_dir.is_dir() else set()
        unchanged = all(_same_content(old_dir / path, content) for path, (content, _) in clean.items())
        if unchanged and not remove:
            return False
    new_dir = _new_timestamp_dir(target)
    try:
        for path, (content, mode) in clean.items():
            full = new_dir / path
            full.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode & 0o7777)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            # open() applied the umask; the projected mode is exact.
            os.chmod(full, mode & 0o7777)
        temporary = target / NEW_DATA_DIR
        if temporary.is_symlink():
            temporary.unlink()
        os.symlink(new_dir.name, temporary)
        os.rename(temporary, data_link)
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)
        raise
    for path in clean:
        top = path.split("/", 1)[0]
        visible = target / top
        if not visible.is_symlink():
            os.symlink(f"{DATA_DIR}/{top}", visible)
    for path in remove:
        if "/" not in path:
            (target / path).unlink(missing_ok=True)
    if old_dir is not None and old_dir.is_dir():
        shutil.rmtree(old_dir)
    return True


def _same_content(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except OSError:
        return False


# -- hostPath ------------------------------------------------------------------------------------

_HOST_TYPES = {
    "Directory": ("Directory", "directory"),
    "DirectoryOrCreate": ("Directory", "directory"),
    "File": ("File", "file"),
    "FileOrCreate": ("File", "file"),
    "Socket": ("Socket", "socket file"),
    "CharDevice": ("CharDevice", "character device"),
    "BlockDevice": ("BlockDevice", "block device"),
}


def _file_type(path: Path) -> str:
    mode = os.stat(path).st_mode
    for check, name in (
        (stat.S_ISDIR, "Directory"),
        (stat.S_ISREG, "File"),
        (stat.S_ISSOCK, "Socket"),
        (stat.S_ISCHR, "CharDevice"),
        (stat.S_ISBLK, "BlockDevice"),
    ):
        if check(mode):
            return name
    raise ValueError("only recognise file, directory, socket, block device and character device")


def _host_path(source: Mapping[str, Any], node: NodeInfo) -> Path:
    path = source.get("path", "")
    kind = source.get("type") or ""
    if ".." in path.split("/"):
        raise _Fail(f"invalid HostPath `{path}`: must not contain '..'")
    host = Path(path) if node.host_root == Path("/") else node.host_root / path.lstrip("/")
    exists = os.path.exists(host)
    if kind == "":
        if not exists:
            # containerd creates a missing bind-mount source as a directory.
            _make(host, directory=True, shown=path)
        return host
    if kind not in _HOST_TYPES:
        raise _Fail(f"{kind} is an invalid volume type")
    if kind.endswith("OrCreate") and not exists:
        _make(host, directory=kind == "DirectoryOrCreate", shown=path)
        return host
    expected, description = _HOST_TYPES[kind]
    if not exists:
        raise _Fail(f"hostPath {path} doesn't exist")
    try:
        actual = _file_type(host)
    except (ValueError, OSError) as exc:
        raise _Fail(
            f"hostPath type check failed, {path} is not a {description}, unable to determine its type: {exc}"
        ) from None
    if actual != expected:
        raise _Fail(f"hostPath type check failed: {path} is not a {description}, it's a {actual}")
    return host


def _make(host: Path, directory: bool, shown: str) -> None:
    try:
        if directory:
            os.makedirs(host, mode=0o755, exist_ok=True)
        else:
            os.close(os.open(host, os.O_RDONLY | os.O_CREAT, 0o644))
    except OSError as exc:
        verb = "mkdir" if directory else "open"
        raise _Fail(f"{verb} {shown}: {(exc.strerror or str(exc)).lower()}") from None


# -- persistentVolumeClaim -----------------------------------------------------------------------


def _claim(pod: Mapping[str, Any], pod_dir: Path, source: Mapping[str, Any], lookup: Lookup) -> Path:
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    name = source.get("claimName", "")
    prefix = f"error processing PVC {namespace}/{name}: "
    claim = lookup("persistentvolumeclaims", namespace, name)
    if claim is None:
        raise _ProcessFail(prefix + f'failed to fetch PVC from API server: persistentvolumeclaims "{name}" not found')
    if (claim.get("metadata") or {}).get("deletionTimestamp"):
        raise _ProcessFail(prefix + "PVC is being deleted")
    # The sandbox has no volume binder: a Pending claim is bound here, on first use, to a node directory.
    if (claim.get("status") or {}).get("phase") == "Lost":
        raise _ProcessFail(prefix + "PVC is not bound")
    target = claim_dir(_node_dir(pod_dir), namespace, name)
    if not target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, 0o777)
    group = _fs_group(pod)
    if group is not None:
        policy = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroupChangePolicy")
        info = target.stat()
        if not (policy == "OnRootMismatch" and info.st_gid == group and info.st_mode & stat.S_ISGID):
            _set_ownership(target, group, readonly=False)
    return target
