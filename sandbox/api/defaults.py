"""What the API server fills in on a write: defaulting, the default admission plugins, create strategies.

`apply_defaults` is for creates: it runs, in the server's order, the scheme defaulting
(pkg/apis/core/v1/defaults.go and the +default tags), the mutating admission plugins a default cluster
enables (ServiceAccount, Priority, DefaultTolerationSeconds, DefaultStorageClass,
StorageObjectInUseProtection), the service IP and port allocators, and the strategies' PrepareForCreate.
`apply_update_defaults` is the update counterpart. Both mutate the object in place and return it.
Anything that needs the rest of the cluster (used IPs, the pod's service account) comes in as an
argument, so the module keeps no state.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import math
import random
import re
from collections.abc import Callable, Collection, Iterator
from fractions import Fraction
from typing import Any

from sandbox.api.schema import format_quantity, parse_quantity
from sandbox.errors import ApiError, forbidden_request, go_invalid, invalid, invalid_value

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORT_RANGE = range(30000, 32768)
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# utilrand.String draws from these: no vowels, no 0/1/3, so generated names never spell words.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


class _Unset:
    """Marks an argument the caller did not give (None means something else for service_account)."""


UNSET: Any = _Unset()


def random_suffix(rng: random.Random | None = None, length: int = 5) -> str:
    """A generated-name suffix as the server makes them (`kube-api-access-x7k2p`, `web-abc12`)."""
    chooser = rng or random
    return "".join(chooser.choice(NAME_ALPHABET) for _ in range(length))


# --- scheme defaulting ----------------------------------------------------------------------------------


def _round_up_milli(text: Any) -> Any:
    """SetDefaults_ResourceList: quantities are rounded up to milli precision."""
    try:
        value, fmt = parse_quantity(str(text))
    except ValueError:
        return text
    scaled = value * 1000
    if scaled.denominator == 1:
        return text
    rounded = math.ceil(scaled) if scaled > 0 else math.floor(scaled)
    return format_quantity(Fraction(rounded, 1000), fmt)


def _default_resource_list(resources: Any) -> None:
    if isinstance(resources, dict):
        for key, value in resources.items():
            resources[key] = _round_up_milli(value)


def image_tag(image: str) -> str | None:
    """The tag ParseImageName finds: "latest" when none is given, None when unparsable or by digest only."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    repo, _, tag = last.partition(":") if ":" in last else (last, "", "")
    path = name[: len(name) - len(last)] + repo
    component = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
    domain = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    domain += r"(?::\d+)?/)?"
    if not re.fullmatch(domain + component + "(?:/" + component + ")*", path):
        return None
    if tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        return None
    if digest and not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", digest):
        return None
    if not tag and not digest:
        return "latest"
    return tag or None


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for name, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(name):
            probe[name] = value
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        if not http["path"]:
            http["path"] = "/"
        if not http.get("scheme"):
            http["scheme"] = "HTTP"
    grpc = handler.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _default_field_refs(source: Any) -> None:
    if not isinstance(source, dict):
        return
    field_ref = source.get("fieldRef")
    if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
        field_ref["apiVersion"] = "v1"
    resource_ref = source.get("resourceFieldRef")
    if isinstance(resource_ref, dict):
        # A zero Quantity is not omitted when encoded.
        resource_ref.setdefault("divisor", "0")


def _default_container(container: dict[str, Any]) -> None:
    if not container.get("imagePullPolicy"):
        tag = image_tag(container.get("image") or "")
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    for port in container.get("ports") or []:
        if isinstance(port, dict) and not port.get("protocol"):
            port["protocol"] = "TCP"
    for var in container.get("env") or []:
        if isinstance(var, dict):
            _default_field_refs(var.get("valueFrom"))
    # ResourceRequirements is a struct, so it is always encoded, if only as {}.
    resources = container.setdefault("resources", {})
    _default_resource_list(resources.get("limits"))
    _default_resource_list(resources.get("requests"))
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(kind))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            _default_handler(lifecycle.get(hook))


_VOLUME_SOURCES = [
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
]


def _default_volume(volume: dict[str, Any]) -> None:
    if not any(source in volume for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(kind)
        if isinstance(source, dict) and source.get("defaultMode") is None:
            source["defaultMode"] = 420
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    for item in (volume.get("downwardAPI") or {}).get("items") or []:
        _default_field_refs(item)
    for source in (volume.get("projected") or {}).get("sources") or []:
        if not isinstance(source, dict):
            continue
        token = source.get("serviceAccountToken")
        if isinstance(token, dict) and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in (source.get("downwardAPI") or {}).get("items") or []:
            _default_field_refs(item)
    image = volume.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        image["pullPolicy"] = "Always" if image_tag(image.get("reference") or "") == "latest" else "IfNotPresent"


def _requests_from_limits(container: dict[str, Any]) -> None:
    resources = container.get("resources") or {}
    limits = resources.get("limits")
    if isinstance(limits, dict):
        requests = resources.setdefault("requests", {})
        for name, value in limits.items():
            requests.setdefault(name, value)


# Pod spec fields and their defaults, in the order they are set: (field, default, also when empty, not just unset).
_POD_SPEC_DEFAULTS: tuple[tuple[str, Any, bool], ...] = (
    ("dnsPolicy", "ClusterFirst", True),
    ("restartPolicy", "Always", True),
    ("securityContext", {}, False),
    ("terminationGracePeriodSeconds", 30, False),
    ("schedulerName", "default-scheduler", True),
)


def _containers(spec: dict[str, Any], *kinds: str) -> Iterator[dict[str, Any]]:
    """The containers of these lists of a pod spec, in order, skipping anything that is not an object."""
    for kind in kinds:
        yield from (c for c in spec.get(kind) or [] if isinstance(c, dict))


def default_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """Scheme defaulting of a Pod (SetDefaults_Pod, SetDefaults_PodSpec and the nested types)."""
    spec = pod.setdefault("spec", {})
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            _default_volume(volume)
    for container in _containers(spec, "initContainers", "containers", "ephemeralContainers"):
        _default_container(container)
    for container in _containers(spec, "containers", "initContainers"):
        _requests_from_limits(container)
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for container in _containers(spec, "containers", "initContainers"):
            for port in container.get("ports") or []:
                if not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")
    for field, value, when_empty in _POD_SPEC_DEFAULTS:
        if spec.get(field) is None or (when_empty and not spec.get(field)):
            spec[field] = copy.deepcopy(value)
    _default_resource_list(spec.get("overhead"))
    return pod


# --- pod admission and strategy ---------------------------------------------------------------------------


def _forbidden_pod(pod: dict[str, Any], why: str) -> ApiError:
    name = (pod.get("metadata") or {}).get("name") or ""
    return forbidden_request(f'pods "{name}" is forbidden: {why}')


def token_volume(name: str) -> dict[str, Any]:
    """The projected volume the ServiceAccount admission plugin adds for the API token."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                "path": "namespace",
                            }
                        ]
                    }
                },
            ],
        },
    }


def _admit_service_account(pod: dict[str, Any], namespace: str, service_account: Any, suffix: str) -> None:
    spec = pod["spec"]
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"
    name = spec["serviceAccountName"]
    if service_account is None:
        raise _forbidden_pod(
            pod, f'error looking up service account {namespace}/{name}: serviceaccount "{name}" not found'
        )
    account = service_account if isinstance(service_account, dict) else {}
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is not False:
        _mount_token(spec, suffix)
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in account["imagePullSecrets"]]
    spec["serviceAccount"] = spec["serviceAccountName"]


def _mount_token(spec: dict[str, Any], suffix: str) -> None:
    volumes = spec.get("volumes") or []
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith("kube-api-access-")), None)
    volume_name = existing or f"kube-api-access-{suffix}"
    needs_volume = False
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            container["volumeMounts"] = [
                *mounts,
                {"mountPath": TOKEN_MOUNT_PATH, "name": volume_name, "readOnly": True},
            ]
            needs_volume = True
    if needs_volume and not existing:
        spec["volumes"] = [*volumes, token_volume(volume_name)]


def _admit_priority(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    class_name = spec.get("priorityClassName") or ""
    if class_name and class_name not in SYSTEM_PRIORITY_CLASSES:
        raise _forbidden_pod(pod, f"no PriorityClass with name {class_name} was found")
    priority = SYSTEM_PRIORITY_CLASSES.get(class_name, 0)
    if spec.get("priority") is not None and spec["priority"] != priority:
        raise _forbidden_pod(
            pod,
            f"the integer value of priority ({spec['priority']}) must not be provided in pod spec; priority "
            f"admission controller computed {priority} from the given PriorityClass name",
        )
    policy = spec.get("preemptionPolicy")
    if policy is not None and policy != "PreemptLowerPriority":
        raise _forbidden_pod(
            pod,
            f"the string value of PreemptionPolicy ({policy}) must not be provided in pod spec; priority "
            "admission controller computed PreemptLowerPriority from the given PriorityClass name",
        )
    spec["priority"] = priority
    spec["preemptionPolicy"] = "PreemptLowerPriority"


def _admit_toleration_seconds(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    tolerations = spec.get("tolerations") or []

    def tolerated(key: str) -> bool:
        return any(t.get("key", "") in (key, "") and t.get("effect", "") in ("NoExecute", "") for t in tolerations)

    added = [
        {"effect": "NoExecute", "key": key, "operator": "Exists", "tolerationSeconds": 300}
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT)
        if not tolerated(key)
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]


def _quantity(text: Any) -> Fraction:
    try:
        return parse_quantity(str(text))[0]
    except ValueError:
        return Fraction(0)


def pod_qos(pod: dict[str, Any]) -> str:
    """The QoS class qos.ComputePodQOS gives a pod: Guaranteed, Burstable or BestEffort."""
    spec = pod.get("spec") or {}
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    guaranteed = True
    pod_resources = spec.get("resources") or {}
    if pod_resources.get("requests") or pod_resources.get("limits"):
        containers = [{"resources": pod_resources}]
    else:
        containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    for container in containers:
        resources = container.get("resources") or {}
        for name, value in (resources.get("requests") or {}).items():
            if name in ("cpu", "memory") and _quantity(value) > 0:
                requests[name] = requests.get(name, Fraction(0)) + _quantity(value)
        found = set()
        for name, value in (resources.get("limits") or {}).items():
            if name in ("cpu", "memory") and _quantity(value) > 0:
                found.add(name)
                limits[name] = limits.get(name, Fraction(0)) + _quantity(value)
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    matching = all(limits.get(name) == value for name, value in requests.items())
    if guaranteed and matching and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _prepare_pod(pod: dict[str, Any]) -> None:
    spec = pod["spec"]
    pod.setdefault("metadata", {})["generation"] = 1
    status: dict[str, Any] = {"phase": "Pending", "qosClass": pod_qos(pod)}
    if spec.get("schedulingGates"):
        status["conditions"] = [
            {
                "lastProbeTime": None,
                "lastTransitionTime": None,
                "message": "Scheduling is blocked due to non-empty scheduling gates",
                "reason": "SchedulingGated",
                "status": "False",
                "type": "PodScheduled",
            }
        ]
    pod["status"] = status


# --- services -------------------------------------------------------------------------------------------


def default_service(service: dict[str, Any]) -> dict[str, Any]:
    """SetDefaults_Service."""
    spec = service.setdefault("spec", {})
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig") or {}
        if (config.get("clientIP") or {}).get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    external = spec["type"] in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
    if external and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if spec.get("internalTrafficPolicy") is None and spec["type"] in (
        "NodePort",
        "LoadBalancer",
        "ClusterIP",
    ):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    return service


def _service_name(service: dict[str, Any]) -> str:
    return (service.get("metadata") or {}).get("name") or ""


def _allocate_cluster_ip(service: dict[str, Any], used: Collection[str], rng: random.Random | None) -> None:
    spec = service["spec"]
    if spec["type"] == "ExternalName":
        return
    requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
    if requested == "None":
        ip = "None"
    elif requested:
        ip = requested
        rendered = '[]string{"' + requested + '"}'
        try:
            address = ipaddress.ip_address(requested)
        except ValueError:
            address = None
        detail = ""
        if address is None or address not in SERVICE_CIDR or address in (SERVICE_CIDR[0], SERVICE_CIDR[-1]):
            detail = (
                f"failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid "
                f"range. The range of valid IPs is {SERVICE_CIDR}"
            )
        elif requested in used:
            detail = f"failed to allocate IP {requested}: provided IP is already allocated"
        if detail:
            error = go_invalid("spec.clusterIPs", rendered, detail)
            raise invalid("Service", _service_name(service), [error])
    else:
        ip = _free_ip(used, rng)
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    spec["ipFamilies"] = ["IPv4"]
    spec["ipFamilyPolicy"] = "SingleStack"


def _free_ip(used: Collection[str], rng: random.Random | None) -> str:
    chooser = rng or random
    size = SERVICE_CIDR.num_addresses - 2
    start = chooser.randrange(size)
    for step in range(size):
        candidate = str(SERVICE_CIDR[1 + (start + step) % size])
        if candidate not in used:
            return candidate
    raise range_full()


def range_full() -> ApiError:
    """The allocator's answer when no service IP is left."""
    return ApiError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full")


def _allocate_node_ports(service: dict[str, Any], used: Collection[int], rng: random.Random | None) -> None:
    spec = service["spec"]
    if spec["type"] not in ("NodePort", "LoadBalancer"):
        return
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is False:
        return
    taken = set(used)
    errors = []
    for i, port in enumerate(spec.get("ports") or []):
        node_port = port.get("nodePort")
        if node_port:
            if node_port not in NODE_PORT_RANGE:
                detail = (
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORT_RANGE.start}-{NODE_PORT_RANGE.stop - 1}"
                )
                errors.append(invalid_value(f"spec.ports[{i}].nodePort", node_port, detail))
            elif node_port in taken:
                errors.append(
                    invalid_value(f"spec.ports[{i}].nodePort", node_port, "provided port is already allocated")
                )
            taken.add(node_port)
    if errors:
        raise invalid("Service", _service_name(service), errors)
    chooser = rng or random
    for port in spec.get("ports") or []:
        if not port.get("nodePort"):
            free = [p for p in NODE_PORT_RANGE if p not in taken]
            port["nodePort"] = chooser.choice(free)
            taken.add(port["nodePort"])


# --- entry points ---------------------------------------------------------------------------------------


def _merge_string_data(secret: dict[str, Any]) -> None:
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = secret.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def apply_defaults(
    kind: str,
    obj: dict[str, Any],
    *,
    service_account: Any = UNSET,
    used_cluster_ips: Collection[str] = (),
    used_node_ports: Collection[int] = (),
    default_storage_class: str | None = None,
    suffix: str | Callable[[], str] | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """Fill in a new object as the server does before validating and storing it; returns `obj`.

    `service_account` is the Pod's ServiceAccount object (None: it does not exist, which the admission
    plugin refuses; left out: a default account that allows token automounting). `suffix` (or a function
    making one) names the token volume `kube-api-access-<suffix>`; `rng` drives the IP and port
    allocators, and the suffix when none is given.
    Raises the ApiError the server gives when admission or allocation refuses the object.
    """
    metadata = obj.setdefault("metadata", {})
    namespace = metadata.get("namespace") or ""
    _default_kind(kind, obj)
    if kind == "Pod":
        token_suffix = suffix() if callable(suffix) else suffix or random_suffix(rng)
        _admit_service_account(obj, namespace, service_account, token_suffix)
        _admit_priority(obj)
        _admit_toleration_seconds(obj)
        _prepare_pod(obj)
    elif kind == "Service":
        _allocate_cluster_ip(obj, used_cluster_ips, rng)
        _allocate_node_ports(obj, used_node_ports, rng)
        obj["status"] = {"loadBalancer": {}}
    elif kind == "Namespace":
        spec = obj.setdefault("spec", {})
        finalizers = spec.get("finalizers") or []
        spec["finalizers"] = finalizers if "kubernetes" in finalizers else [*finalizers, "kubernetes"]
        obj["status"] = {"phase": "Active"}
    elif kind == "PersistentVolumeClaim":
        spec = obj["spec"]
        if "storageClassName" not in spec and default_storage_class:
            spec["storageClassName"] = default_storage_class
        finalizers = metadata.setdefault("finalizers", [])
        if "kubernetes.io/pvc-protection" not in finalizers:
            finalizers.append("kubernetes.io/pvc-protection")
        obj["status"] = {"phase": "Pending"}
    return obj


def _default_pvc(pvc: dict[str, Any]) -> None:
    spec = pvc.setdefault("spec", {})
    if spec.get("volumeMode") is None:
        spec["volumeMode"] = "Filesystem"
    resources = spec.setdefault("resources", {})
    _default_resource_list(resources.get("requests"))
    _default_resource_list(resources.get("limits"))


def _default_secret(secret: dict[str, Any]) -> None:
    _merge_string_data(secret)
    if not secret.get("type"):
        secret["type"] = "Opaque"


def _default_event(event: dict[str, Any]) -> None:
    # Fields without omitempty (or structs, which omitempty cannot drop) are always encoded.
    for name in ("eventTime", "firstTimestamp", "lastTimestamp"):
        event.setdefault(name, None)
    for name in ("reportingComponent", "reportingInstance"):
        event.setdefault(name, "")
    event.setdefault("source", {})
    event.setdefault("involvedObject", {})


def _default_node(node: dict[str, Any]) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = dict(status["capacity"])


def _default_namespace(namespace: dict[str, Any]) -> None:
    metadata = namespace.setdefault("metadata", {})
    if metadata.get("name"):
        metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]


# Scheme defaulting by kind (with the conversion that folds a Secret's stringData into data): the first step of
# both a create and an update.
_SCHEME_DEFAULTS: dict[str, Callable[[dict[str, Any]], object]] = {
    "Pod": default_pod,
    "Service": default_service,
    "Namespace": _default_namespace,
    "PersistentVolumeClaim": _default_pvc,
    "Secret": _default_secret,
    "Event": _default_event,
    "Node": _default_node,
}


def _default_kind(kind: str, obj: dict[str, Any]) -> None:
    if defaults := _SCHEME_DEFAULTS.get(kind):
        defaults(obj)


def apply_update_defaults(kind: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """Fill in a replacement object as the server does on update (defaulting, PrepareForUpdate)."""
    _default_kind(kind, new)
    if kind == "Pod":
        spec = new["spec"]
        if not spec.get("serviceAccountName") and old.get("spec", {}).get("serviceAccountName"):
            spec["serviceAccountName"] = old["spec"]["serviceAccountName"]
        if spec.get("serviceAccountName"):
            spec["serviceAccount"] = spec["serviceAccountName"]
        _admit_toleration_seconds(new)
        metadata = new.setdefault("metadata", {})
        generation = (old.get("metadata") or {}).get("generation") or 1
        metadata["generation"] = generation + 1 if new.get("spec") != old.get("spec") else generation
        new["status"] = old.get("status", {})
    elif kind == "Service":
        _keep_service_allocations(new, old)
        new["status"] = old.get("status", {"loadBalancer": {}})
    elif kind == "Namespace":
        new["spec"] = old.get("spec", {})
        new["status"] = old.get("status", {})
    elif kind == "PersistentVolumeClaim":
        new["status"] = old.get("status", {})
    return new


def _keep_service_allocations(new: dict[str, Any], old: dict[str, Any]) -> None:
    """The service registry keeps allocated values a replacement leaves out (patchAllocatedValues)."""
    spec, before = new["spec"], old.get("spec") or {}
    if spec.get("type") == "ExternalName" or before.get("type") == "ExternalName":
        return
    if not spec.get("clusterIP") and before.get("clusterIP"):
        spec["clusterIP"] = before["clusterIP"]
    old_ips = before.get("clusterIPs") or []
    if not spec.get("clusterIPs") and old_ips and spec.get("clusterIP") == old_ips[0]:
        spec["clusterIPs"] = list(old_ips)
    for name in ("ipFamilies", "ipFamilyPolicy"):
        if not spec.get(name) and before.get(name):
            spec[name] = before[name]
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(p.get("protocol"), p.get("port")): p.get("nodePort") for p in before.get("ports") or []}
        for port in spec.get("ports") or []:
            if not port.get("nodePort") and old_ports.get((port.get("protocol"), port.get("port"))):
                port["nodePort"] = old_ports[(port.get("protocol"), port.get("port"))]
    if not spec.get("healthCheckNodePort") and before.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = before["healthCheckNodePort"]
