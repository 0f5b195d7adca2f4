"""Server-side `Table` output, as the API server builds it for `kubectl get`.

Columns, cell values and descriptions follow k/k `pkg/printers/internalversion/printers.go`; the server
always prints the wide columns (`GenerateOptions{Wide: true}`) and leaves hiding priority-1 columns to
kubectl. Descriptions are the types' OpenAPI field docs (`SwaggerDoc()`), word for word.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kubetext import pods
from kubetext.durations import since
from kubetext.gotext import go_quote
from sandbox.errors import bad_request

_DOCS = {
    "name": (
        "Name must be unique within a namespace. Is required when creating resources, although some "
        "resources may allow a client to request the generation of an appropriate name automatically."
        " Name is primarily intended for creation idempotence and configuration definition. Cannot be"
        " updated. More info: "
        "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    ),
    "creationTimestamp": (
        "CreationTimestamp is a timestamp representing the server time when this object was created. "
        "It is not guaranteed to be set in happens-before order across separate operations. Clients "
        "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
        "system. Read-only. Null for lists. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
    ),
    "pod.podIP": (
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."
    ),
    "pod.nodeName": (
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate "
        "for scheduling by the scheduler defined in schedulerName. Once this field is set, the "
        "kubelet for this node becomes responsible for the lifecycle of this pod. This field should "
        "not be used to express a desire for the pod to be scheduled on a specific node. "
        "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"
    ),
    "pod.nominatedNodeName": (
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot "
        "be scheduled right away as preemption victims receive their graceful termination periods. "
        "This field does not guarantee that the pod will be scheduled on this node. Scheduler may "
        "decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also"
        " decide to give the resources on this node to a higher priority pod that is created after "
        "preemption. As a result, this field may be different than PodSpec.nodeName when the pod is "
        "scheduled."
    ),
    "pod.readinessGates": (
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when "
        "all its containers are ready AND all conditions specified in the readiness gates have status"
        ' equal to "True" More info: '
        "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"
    ),
    "node.kubeletVersion": "Kubelet Version reported by the node.",
    "node.addresses": (
        "List of addresses reachable to the node. Queried from cloud provider, if available. More "
        "info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is "
        "declared as mergeable, but the merge key is not sufficiently unique, which can cause data "
        "corruption when it is merged. Callers should instead use a full-replacement patch. See "
        "https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change "
        "during the lifetime of a Node. However, there are some exceptions where this may not be "
        "possible, such as Pods that inherit a Node's address in its own status or consumers of the "
        "downward API (status.hostIP)."
    ),
    "node.osImage": "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    "node.kernelVersion": "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    "node.containerRuntimeVersion": (
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."
    ),
    "event.lastTimestamp": "The time at which the most recent occurrence of this event was recorded.",
    "event.type": "Type of this event (Normal, Warning), new types could be added in the future",
    "event.reason": (
        "This should be a short, machine understandable string that gives the reason for the "
        "transition into the object's current status."
    ),
    "event.involvedObject": "The object that this event is about.",
    "event.involvedObject.fieldPath": (
        "If referring to a piece of an object instead of an entire object, this string should contain"
        " a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For "
        "example, if the object reference is to a container within a pod, this would take on a value "
        'like: "spec.containers{name}" (where "name" refers to the name of the container that '
        'triggered the event) or if no container name is specified "spec.containers[2]" (container '
        "with index 2 in this pod). This syntax is chosen only to have some well-defined way of "
        "referencing a part of an object."
    ),
    "event.source": "The component reporting this event. Should be a short machine understandable string.",
    "event.message": "A human-readable description of the status of this operation.",
    "event.firstTimestamp": (
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"
    ),
    "event.count": "The number of times this event has occurred.",
    "secret.type": (
        "Used to facilitate programmatic handling of secret data. More info: "
        "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"
    ),
    "secret.data": (
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or"
        " '.'. The serialized form of the secret data is a base64 encoded string, representing the "
        "arbitrary (possibly non-string) data value here. Described in "
        "https://tools.ietf.org/html/rfc4648#section-4"
    ),
    "serviceAccount.secrets": (
        "Secrets is a list of the secrets in the same namespace that pods running using this "
        "ServiceAccount are allowed to use. Pods are only limited to this list if this service "
        'account has a "kubernetes.io/enforce-mountable-secrets" annotation set to "true". The '
        '"kubernetes.io/enforce-mountable-secrets" annotation is deprecated since v1.32. Prefer '
        "separate namespaces to isolate access to mounted secrets. This field should not be used to "
        "find auto-generated service account token secrets for use outside of pods. Instead, tokens "
        "can be requested directly using the TokenRequest API, or service account token secrets can "
        "be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret"
    ),
    "configMap.data": (
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-',"
        " '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys "
        "stored in Data must not overlap with the keys in the BinaryData field, this is enforced "
        "during validation process."
    ),
    "service.type": (
        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
        'ExternalName, ClusterIP, NodePort, and LoadBalancer. "ClusterIP" allocates a '
        "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the"
        " selector or if that is not specified, by manual construction of an Endpoints object or "
        'EndpointSlice objects. If clusterIP is "None", no virtual IP is allocated and the endpoints '
        'are published as a set of endpoints rather than a virtual IP. "NodePort" builds on ClusterIP'
        " and allocates a port on every node which routes to the same endpoints as the clusterIP. "
        '"LoadBalancer" builds on NodePort and creates an external load-balancer (if supported in the'
        ' current cloud) which routes to the same endpoints as the clusterIP. "ExternalName" aliases '
        "this service to the specified externalName. Several other fields do not apply to "
        "ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/se"
        "rvice/#publishing-services-service-types"
    ),
    "service.clusterIP": (
        "clusterIP is the IP address of the service and is usually assigned randomly. If an address "
        "is specified manually, is in-range (as per system configuration), and is not in use, it will"
        " be allocated to the service; otherwise creation of the service will fail. This field may "
        "not be changed through updates unless the type field is also being changed to ExternalName "
        "(which requires this field to be blank) or the type field is being changed from ExternalName"
        " (in which case this field may optionally be specified, as describe above).  Valid values "
        'are "None", empty string (""), or a valid IP address. Setting this to "None" makes a '
        '"headless service" (no virtual IP), which is useful when direct endpoint connections are '
        "preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and "
        "LoadBalancer. If this field is specified when creating a Service of type ExternalName, "
        "creation will fail. This field will be wiped when updating a Service to type ExternalName. "
        "More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-"
        "service-proxies"
    ),
    "service.externalIPs": (
        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
        "traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible"
        " for ensuring that traffic arrives at a node with this IP.  A common example is external "
        "load-balancers that are not part of the Kubernetes system."
    ),
    "service.ports": (
        "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/co"
        "ncepts/services-networking/service/#virtual-ips-and-service-proxies"
    ),
    "service.selector": (
        "Route service traffic to pods with label keys and values matching this selector. If empty or"
        " not present, the service is assumed to have an external process managing its endpoints, "
        "which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and "
        "LoadBalancer. Ignored if type is ExternalName. More info: "
        "https://kubernetes.io/docs/concepts/services-networking/service/"
    ),
    "pvc.phase": "phase represents the current phase of PersistentVolumeClaim.",
    "pvc.volumeName": "volumeName is the binding reference to the PersistentVolume backing this claim.",
    "pvc.capacity": "capacity represents the actual resources of the underlying volume.",
    "pvc.accessModes": (
        "accessModes contains the actual access modes the volume backing the PVC has. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"
    ),
    "pvc.volumeMode": (
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is "
        "implied when not included in claim spec."
    ),
}


def _column(name: str, description: str, *, type_: str = "string", fmt: str = "", priority: int = 0) -> dict[str, Any]:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


_NAME = _column("Name", _DOCS["name"], fmt="name")
_AGE = _column("Age", _DOCS["creationTimestamp"])

_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "Pod": [
        _NAME,
        _column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        _column("Status", "The aggregate status of the containers in this pod."),
        _column(
            "Restarts",
            "The number of times the containers in this pod have been restarted "
            "and when the last container in this pod has restarted.",
        ),
        _AGE,
        _column("IP", _DOCS["pod.podIP"], priority=1),
        _column("Node", _DOCS["pod.nodeName"], priority=1),
        _column("Nominated Node", _DOCS["pod.nominatedNodeName"], priority=1),
        _column("Readiness Gates", _DOCS["pod.readinessGates"], priority=1),
    ],
    "Namespace": [_NAME, _column("Status", "The status of the namespace"), _AGE],
    "Node": [
        _NAME,
        _column("Status", "The status of the node"),
        _column("Roles", "The roles of the node"),
        _AGE,
        _column("Version", _DOCS["node.kubeletVersion"]),
        _column("Internal-IP", _DOCS["node.addresses"], priority=1),
        _column("External-IP", _DOCS["node.addresses"], priority=1),
        _column("OS-Image", _DOCS["node.osImage"], priority=1),
        _column("Kernel-Version", _DOCS["node.kernelVersion"], priority=1),
        _column("Container-Runtime", _DOCS["node.containerRuntimeVersion"], priority=1),
    ],
    "Event": [
        _column("Last Seen", _DOCS["event.lastTimestamp"]),
        _column("Type", _DOCS["event.type"]),
        _column("Reason", _DOCS["event.reason"]),
        _column("Object", _DOCS["event.involvedObject"]),
        _column("Subobject", _DOCS["event.involvedObject.fieldPath"], priority=1),
        _column("Source", _DOCS["event.source"], priority=1),
        _column("Message", _DOCS["event.message"]),
        _column("First Seen", _DOCS["event.firstTimestamp"], priority=1),
        _column("Count", _DOCS["event.count"], priority=1),
        _column("Name", _DOCS["name"], fmt="name", priority=1),
    ],
    "ConfigMap": [_NAME, _column("Data", _DOCS["configMap.data"]), _AGE],
    "Secret": [_NAME, _column("Type", _DOCS["secret.type"]), _column("Data", _DOCS["secret.data"]), _AGE],
    "ServiceAccount": [_NAME, _column("Secrets", _DOCS["serviceAccount.secrets"]), _AGE],
    "Service": [
        _NAME,
        _column("Type", _DOCS["service.type"]),
        _column("Cluster-IP", _DOCS["service.clusterIP"]),
        _column("External-IP", _DOCS["service.externalIPs"]),
        _column("Port(s)", _DOCS["service.ports"]),
        _AGE,
        _column("Selector", _DOCS["service.selector"], priority=1),
    ],
    "PersistentVolumeClaim": [
        _NAME,
        _column("Status", _DOCS["pvc.phase"]),
        _column("Volume", _DOCS["pvc.volumeName"]),
        _column("Capacity", _DOCS["pvc.capacity"]),
        _column("Access Modes", _DOCS["pvc.accessModes"]),
        _column("StorageClass", "StorageClass of the pvc"),
        _column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        _AGE,
        _column("VolumeMode", _DOCS["pvc.volumeMode"], priority=1),
    ],
}


# -- printers ----------------------------------------------------------------------------------------

Cells = list[Any]
Conditions = list[dict[str, str]]

_POD_SUCCEEDED = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _age(obj: dict[str, Any], now: datetime) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _pod_cells(pod: dict[str, Any], now: datetime) -> tuple[Cells, Conditions | None]:
    """printPod: READY, STATUS and RESTARTS the way kubectl users know them, then the wide columns."""
    metadata, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    printed = pods.columns(pod)
    cells = [
        metadata.get("name", ""),
        printed.ready_text,
        printed.reason,
        printed.restarts_text(now),
        _age(pod, now),
        pods.pod_ip(pod),
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        pods.readiness_gates(pod),
    ]
    return cells, {"Succeeded": _POD_SUCCEEDED, "Failed": _POD_FAILED}.get(status.get("phase", ""))


def _node_address(node: dict[str, Any], type_: str) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a.get("address", "") for a in addresses if a.get("type") == type_), "<none>")


def _node_cells(node: dict[str, Any], now: datetime) -> tuple[Cells, None]:
    metadata, status = node.get("metadata") or {}, node.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    state = ["Unknown"]
    if "Ready" in conditions:
        state = ["Ready" if conditions["Ready"].get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        state.append("SchedulingDisabled")
    roles = set()
    for key, value in (metadata.get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role":
            roles.add(value)
    roles.discard("")
    info = status.get("nodeInfo") or {}
    cells = [
        metadata.get("name", ""),
        ",".join(state),
        ",".join(sorted(roles)) or "<none>",
        _age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]
    return cells, None


def _go_trim_space(text: str) -> str:
    # Python also counts the ASCII information separators as whitespace; Go's TrimSpace does not.
    start, end = 0, len(text)
    while start < end and text[start].isspace() and text[start] not in "\x1c\x1d\x1e\x1f":
        start += 1
    while end > start and text[end - 1].isspace() and text[end - 1] not in "\x1c\x1d\x1e\x1f":
        end -= 1
    return text[start:end]


def _event_cells(event: dict[str, Any], now: datetime) -> tuple[Cells, None]:
    first_seen = since(event.get("firstTimestamp") or event.get("eventTime"), now)
    last_seen = since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first_seen
    count = event.get("count", 0)
    series = event.get("series")
    if series is not None:
        last_seen = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # events.k8s.io singletons carry no count
    involved = event.get("involvedObject") or {}
    kind = involved.get("kind", "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    instance = source.get("host") or event.get("reportingInstance", "")
    cells = [
        last_seen,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        _go_trim_space(event.get("message", "")),
        first_seen,
        count,
        (event.get("metadata") or {}).get("name", ""),
    ]
    return cells, None


def _format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: `k=v` pairs sorted by key, or `<none>`."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _service_external_ip(service: dict[str, Any]) -> str:
    spec = service.get("spec") or {}
    external = spec.get("externalIPs") or []
    match spec.get("type", ""):
        case "ClusterIP" | "NodePort":
            return ",".join(external) or "<none>"
        case "LoadBalancer":
            ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            # The server prints wide, so the list is never clipped to 16 characters.
            balancers = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
            return ",".join(balancers + external) or "<pending>"
        case "ExternalName":
            external_name: str = spec.get("externalName", "")
            return external_name
    return "<unknown>"


def _service_cells(service: dict[str, Any], now: datetime) -> tuple[Cells, None]:
    spec = service.get("spec") or {}
    # The printer reads clusterIPs; objects written without it still carry the singular field.
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = []
    for port in spec.get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort", 0) > 0 else ""
        ports.append(f"{port.get('port', 0)}{node_port}/{port.get('protocol', '')}")
    cells = [
        (service.get("metadata") or {}).get("name", ""),
        spec.get("type", ""),
        cluster_ips[0] if cluster_ips else "<none>",
        _service_external_ip(service),
        ",".join(ports) or "<none>",
        _age(service, now),
        _format_labels(spec.get("selector")),
    ]
    return cells, None


def _access_modes(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: the short names in a fixed order."""
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(v for k, v in short.items() if k in (modes or []))


def _pvc_cells(claim: dict[str, Any], now: datetime) -> tuple[Cells, None]:
    metadata, spec, status = claim.get("metadata") or {}, claim.get("spec") or {}, claim.get("status") or {}
    phase = "Terminating" if metadata.get("deletionTimestamp") else status.get("phase", "")
    capacity = access_modes = ""
    if spec.get("volumeName"):
        # A missing quantity prints as the zero Quantity, "0".
        capacity = (status.get("capacity") or {}).get("storage") or "0"
        access_modes = _access_modes(status.get("accessModes"))
    annotations = metadata.get("annotations") or {}
    storage_class = annotations.get("volume.beta.kubernetes.io/storage-class", spec.get("storageClassName") or "")
    cells = [
        metadata.get("name", ""),
        phase,
        spec.get("volumeName", ""),
        capacity,
        access_modes,
        storage_class,
        spec.get("volumeAttributesClassName") or "<unset>",
        _age(claim, now),
        spec.get("volumeMode") or "<unset>",
    ]
    return cells, None


def _name(obj: dict[str, Any]) -> str:
    name: str = (obj.get("metadata") or {}).get("name", "")
    return name


_PRINTERS: dict[str, Callable[[dict[str, Any], datetime], tuple[Cells, Conditions | None]]] = {
    "Pod": _pod_cells,
    "Node": _node_cells,
    "Event": _event_cells,
    "Service": _service_cells,
    "PersistentVolumeClaim": _pvc_cells,
    "Namespace": lambda o, now: ([_name(o), (o.get("status") or {}).get("phase", ""), _age(o, now)], None),
    "ConfigMap": lambda o, now: (
        [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
        None,
    ),
    "Secret": lambda o, now: ([_name(o), o.get("type", ""), len(o.get("data") or {}), _age(o, now)], None),
    "ServiceAccount": lambda o, now: ([_name(o), len(o.get("secrets") or []), _age(o, now)], None),
}


# -- the Table -----------------------------------------------------------------------------------------


def _row_object(kind: str, obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return copy.deepcopy(obj if "kind" in obj else {"kind": kind, "apiVersion": "v1", **obj})
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(obj.get("metadata") or {}),
    }


def table(
    kind: str,
    objects: list[dict[str, Any]],
    now: datetime,
    *,
    include_object: str = "Metadata",
    with_headers: bool = True,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
) -> dict[str, Any]:
    """The `meta.k8s.io/v1` Table the API server answers for `Accept: ...;as=Table`."""
    if include_object not in ("", "Metadata", "Object", "None"):
        raise bad_request(f"unrecognized includeObject value: {go_quote(include_object)}")
    printer = _PRINTERS[kind]
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    rows = []
    for obj in objects:
        cells, conditions = printer(obj, now)
        row: dict[str, Any] = {"cells": cells}
        if conditions:
            row["conditions"] = copy.deepcopy(conditions)
        row["object"] = _row_object(kind, obj, include_object)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        # Watch events after the first leave the headers out (NoHeaders); Go encodes that as null.
        "columnDefinitions": copy.deepcopy(_COLUMNS[kind]) if with_headers else None,
        "rows": rows,
    }
