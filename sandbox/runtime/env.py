"""The environment the kubelet gives a container, and the downward API values it shares with volumes.

Follows `pkg/kubelet/kubelet_pods.go` (makeEnvironmentVariables), `third_party/forked/golang/expansion`,
`pkg/fieldpath` and `pkg/api/v1/resource`, including their error texts, which users see in
`CreateContainerConfigError` waiting messages and FailedMount events.
"""

from __future__ import annotations

import base64
import math
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from kubetext.gotext import go_quote
from sandbox.api.schema import parse_quantity

Lookup = Callable[[str, str, str], "dict[str, Any] | None"]

# The master service every pod gets variables for, even with enableServiceLinks false.
KUBERNETES_SERVICE: dict[str, Any] = {
    "metadata": {"name": "kubernetes", "namespace": "default"},
    "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
}


class EnvError(Exception):
    """A container whose environment cannot be built: it waits with reason CreateContainerConfigError."""

    reason = "CreateContainerConfigError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _host_allocatable() -> dict[str, str]:
    memory_ki = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_ki = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory_ki}Ki",
        "ephemeral-storage": str(shutil.disk_usage("/").total),
    }


@dataclass(frozen=True)
class NodeInfo:
    """What the pod-level kubelet logic needs to know about its node."""

    name: str = "sandbox"
    ip: str = "10.244.0.1"
    uid: str = ""
    allocatable: Mapping[str, str] = field(default_factory=_host_allocatable)
    # hostPath volumes are resolved under this directory ("/" on a real node).
    host_root: Path = Path("/")
    # Secret and projected volumes live on tmpfs, as on a real node, so their data never reaches a disk.
    memory_backed_secrets: bool = True

    @classmethod
    def of(cls, node: NodeInfo | Mapping[str, Any] | None) -> NodeInfo:
        """Accept a NodeInfo, a plain dict with some of its fields, or None (this host's facts)."""
        if isinstance(node, NodeInfo):
            return node
        values = {k: v for k, v in (node or {}).items() if k in cls.__dataclass_fields__}
        if not values.get("allocatable"):
            values.pop("allocatable", None)
        if "host_root" in values:
            values["host_root"] = Path(values["host_root"])
        return cls(**values)


# -- $(VAR) expansion (third_party/forked/golang/expansion) ------------------------------------------


def expand(text: str, *contexts: Mapping[str, str]) -> str:
    """Expand $(VAR) references like the kubelet: $$ escapes, unknown or malformed references stay as written."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable(text, cursor + 1)
            if is_var:
                out.append(_lookup_var(read, contexts))
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _read_variable(text: str, start: int) -> tuple[str, bool, int]:
    first = text[start]
    if first == "$":
        return "$", False, 1
    if first == "(":
        close = text.find(")", start + 1)
        if close >= 0:
            return text[start + 1 : close], True, close - start + 1
        return "$(", False, 1
    return "$" + first, False, 1


def _lookup_var(name: str, contexts: Iterable[Mapping[str, str]]) -> str:
    for context in contexts:
        if name in context:
            return context[name]
    return f"$({name})"


# -- downward API: fields ------------------------------------------------------------------------


def format_map(values: Mapping[str, str] | None) -> str:
    """fieldpath.FormatMap: sorted `key="value"` lines, no trailing newline."""
    return "\n".join(f"{key}={go_quote(value)}" for key, value in sorted((values or {}).items()))


def _split_subscript(path: str) -> tuple[str, str] | None:
    if not path.endswith("']"):
        return None
    head, sep, key = path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, key


def object_field(pod: Mapping[str, Any], path: str) -> str:
    """fieldpath.ExtractFieldPathAsString: the metadata fields a downward API volume may show."""
    meta = pod.get("metadata") or {}
    subscripted = _split_subscript(path)
    if subscripted:
        head, key = subscripted
        if head == "metadata.annotations":
            annotations: dict[str, str] = meta.get("annotations") or {}
            return annotations.get(key, "")
        if head == "metadata.labels":
            labels: dict[str, str] = meta.get("labels") or {}
            return labels.get(key, "")
        raise ValueError(f'fieldPath "{path}" does not support subscript')
    if path == "metadata.annotations":
        return format_map(meta.get("annotations"))
    if path == "metadata.labels":
        return format_map(meta.get("labels"))
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.split(".", 1)[1], ""))
    raise ValueError(f"unsupported fieldPath: {path}")


def _ips(status: Mapping[str, Any], key: str, single: str) -> list[str]:
    listed = [entry.get("ip", "") for entry in status.get(key) or [] if entry.get("ip")]
    return listed or ([status[single]] if status.get(single) else [])


def pod_field(pod: Mapping[str, Any], field_ref: Mapping[str, Any], *, pod_ip: str = "", host_ip: str = "") -> str:
    """The value of an env fieldRef (podFieldSelectorRuntimeValue)."""
    path = field_ref.get("fieldPath", "")
    version = field_ref.get("apiVersion") or "v1"
    if version != "v1":
        raise ValueError(f"unsupported pod version: {version}")
    if path == "spec.host":
        path = "spec.nodeName"
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    pod_ips = [pod_ip] if pod_ip else _ips(status, "podIPs", "podIP")
    host_ips = [host_ip] if host_ip else _ips(status, "hostIPs", "hostIP")
    if path == "spec.nodeName":
        node_name: str = spec.get("nodeName", "")
        return node_name
    if path == "spec.serviceAccountName":
        account: str = spec.get("serviceAccountName", "")
        return account
    if path == "status.hostIP":
        return host_ips[0] if host_ips else ""
    if path == "status.hostIPs":
        return ",".join(host_ips)
    if path == "status.podIP":
        return pod_ips[0] if pod_ips else ""
    if path == "status.podIPs":
        return ",".join(pod_ips)
    return object_field(pod, path)


# -- downward API: resources ---------------------------------------------------------------------


def _quantity(text: Any) -> Fraction:
    if text in (None, ""):
        return Fraction(0)
    return parse_quantity(str(text))[0]


def _milli(value: Fraction) -> int:
    return math.ceil(value * 1000)


def find_container(pod: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The container or init container called `name`."""
    spec = pod.get("spec") or {}
    containers: list[dict[str, Any]] = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    for container in containers:
        if container.get("name") == name:
            return container
    raise ValueError(f"container {name} not found")


def resource_value(ref: Mapping[str, Any], container: Mapping[str, Any], allocatable: Mapping[str, str]) -> str:
    """A resourceFieldRef value: limits default to the node's allocatable, divided by the divisor, rounded up."""
    resources = container.get("resources") or {}
    limits = dict(resources.get("limits") or {})
    requests = resources.get("requests") or {}
    # MergeContainerResourceLimits: an unset (or zero) limit means "whatever the node has".
    for name in ("cpu", "memory", "ephemeral-storage"):
        if _quantity(limits.get(name)) == 0 and name in allocatable:
            limits[name] = allocatable[name]
    divisor = _quantity(ref.get("divisor"))
    if divisor == 0:
        divisor = Fraction(1)
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    source = {"limits": limits, "requests": requests}.get(kind)
    if source is None or not (name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")):
        raise ValueError(f"unsupported container resource : {resource}")
    value = _quantity(source.get(name))
    if name == "cpu":
        return str(math.ceil(Fraction(_milli(value), _milli(divisor))))
    return str(math.ceil(Fraction(math.ceil(value), math.ceil(divisor))))


# -- service links -------------------------------------------------------------------------------


def _env_name(text: str) -> str:
    return text.replace("-", "_").upper()


def _ip_set(service: Mapping[str, Any]) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def service_env(services: Iterable[Mapping[str, Any]], namespace: str, enable_links: bool = True) -> dict[str, str]:
    """The Docker-link style variables for the services a pod sees (getServiceEnvVarMap + FromServices)."""
    chosen: dict[str, Mapping[str, Any]] = {}
    master_seen = False
    for service in services:
        meta = service.get("metadata") or {}
        name, ns = meta.get("name", ""), meta.get("namespace", "")
        if ns == "default" and name == "kubernetes":
            master_seen = True
        if not _ip_set(service):
            continue
        if ns == "default" and name == "kubernetes":
            chosen.setdefault(name, service)
        elif ns == namespace and enable_links:
            chosen[name] = service
    if not master_seen:
        # The caller may list only the pod's namespace; every cluster has this service in default.
        chosen.setdefault("kubernetes", KUBERNETES_SERVICE)
    result: dict[str, str] = {}
    for name, service in chosen.items():
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            continue
        ip = spec["clusterIP"]
        prefix = _env_name(name)
        result[f"{prefix}_SERVICE_HOST"] = ip
        result[f"{prefix}_SERVICE_PORT"] = str(ports[0].get("port"))
        for port in ports:
            if port.get("name"):
                result[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port.get("port"))
        for index, port in enumerate(ports):
            protocol = port.get("protocol") or "TCP"
            url = f"{protocol.lower()}://{_join_host_port(ip, int(port.get('port', 0)))}"
            if index == 0:
                result[f"{prefix}_PORT"] = url
            port_prefix = f"{prefix}_PORT_{port.get('port')}_{protocol.upper()}"
            result[port_prefix] = url
            result[f"{port_prefix}_PROTO"] = protocol.lower()
            result[f"{port_prefix}_PORT"] = str(port.get("port"))
            result[f"{port_prefix}_ADDR"] = ip
    return result


# -- the container environment -------------------------------------------------------------------


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's data decoded (stringData, if a writer left it, wins as the apiserver would merge it)."""
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    data.update({key: value.encode() for key, value in (secret.get("stringData") or {}).items()})
    return data


class _Sources:
    """ConfigMaps and Secrets read once per container start, with the kubelet's not-found texts."""

    def __init__(self, lookup: Lookup, namespace: str) -> None:
        self.lookup = lookup
        self.namespace = namespace
        self.cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def get(self, resource: str, name: str, optional: bool) -> dict[str, Any] | None:
        key = (resource, name)
        if key not in self.cache:
            self.cache[key] = self.lookup(resource, self.namespace, name)
        found = self.cache[key]
        if found is None and not optional:
            singular = "configmap" if resource == "configmaps" else "secret"
            raise EnvError(f'{singular} "{name}" not found')
        return found


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    lookup: Lookup,
    services: Iterable[Mapping[str, Any]] = (),
    *,
    node: NodeInfo | Mapping[str, Any] | None = None,
    pod_ip: str = "",
    host_ip: str = "",
) -> dict[str, str]:
    """The final environment of a container: envFrom, then env with $(VAR) expansion, then service links."""
    info = NodeInfo.of(node) if node is not None else None
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    spec = pod.get("spec") or {}
    links = spec.get("enableServiceLinks")
    service_vars = service_env(services, namespace, links is None or bool(links))
    sources = _Sources(lookup, namespace)
    env: dict[str, str] = {}

    for env_from in container.get("envFrom") or []:
        prefix = env_from.get("prefix") or ""
        for kind, resource in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = env_from.get(kind)
            if ref is None:
                continue
            found = sources.get(resource, ref.get("name", ""), bool(ref.get("optional")))
            if found is None:
                continue
            if resource == "configmaps":
                values = dict(found.get("data") or {})
            else:
                values = {k: v.decode("utf-8", "surrogateescape") for k, v in secret_data(found).items()}
            for key, value in values.items():
                # A name with "=" can never reach a process environment.
                if key and "=" not in prefix + key:
                    env[prefix + key] = value

    for var in container.get("env") or []:
        name = var.get("name", "")
        value = var.get("value") or ""
        value_from = var.get("valueFrom")
        if value:
            value = expand(value, env, service_vars)
        elif value_from:
            resolved = _value_from(pod, container, value_from, sources, info, pod_ip, host_ip)
            if resolved is None:
                continue
            value = resolved
        env[name] = value

    for key, value in service_vars.items():
        env.setdefault(key, value)
    return env


def _value_from(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    value_from: Mapping[str, Any],
    sources: _Sources,
    node: NodeInfo | None,
    pod_ip: str,
    host_ip: str,
) -> str | None:
    namespace = sources.namespace
    if value_from.get("fieldRef") is not None:
        try:
            return pod_field(pod, value_from["fieldRef"], pod_ip=pod_ip, host_ip=host_ip or (node.ip if node else ""))
        except ValueError as exc:
            raise EnvError(str(exc)) from None
    if value_from.get("resourceFieldRef") is not None:
        ref = value_from["resourceFieldRef"]
        allocatable = (node or NodeInfo.of(None)).allocatable
        try:
            target = find_container(pod, ref["containerName"]) if ref.get("containerName") else container
            return resource_value(ref, target, allocatable)
        except ValueError as exc:
            raise EnvError(str(exc)) from None
    for kind, resource, label in (
        ("configMapKeyRef", "configmaps", "ConfigMap"),
        ("secretKeyRef", "secrets", "Secret"),
    ):
        ref = value_from.get(kind)
        if ref is None:
            continue
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        found = sources.get(resource, name, optional)
        if found is None:
            return None
        if resource == "configmaps":
            data: Mapping[str, str] = found.get("data") or {}
        else:
            data = {k: v.decode("utf-8", "surrogateescape") for k, v in secret_data(found).items()}
        if key not in data:
            if optional:
                return None
            raise EnvError(f"couldn't find key {key} in {label} {namespace}/{name}")
        return data[key]
    return ""
