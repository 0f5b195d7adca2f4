"""The resources the sandbox serves: one table that drives discovery, routing and OpenAPI."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as pods/log: the kind it answers with and the verbs it takes."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


@dataclass(frozen=True)
class Resource:
    """One REST resource (a plural name in a group/version)."""

    plural: str
    singular: str
    kind: str
    namespaced: bool
    group: str = ""
    version: str = "v1"
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = field(default=())

    @property
    def key(self) -> str:
        """The store's name for it: `pods`, or `pods.metrics.k8s.io` outside the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


CORE: tuple[Resource, ...] = (
    Resource(
        "bindings",
        "binding",
        "Binding",
        namespaced=True,
        verbs=("create",),
    ),
    Resource(
        "configmaps",
        "configmap",
        "ConfigMap",
        namespaced=True,
        short_names=("cm",),
    ),
    Resource(
        "events",
        "event",
        "Event",
        namespaced=True,
        short_names=("ev",),
    ),
    Resource(
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=(Subresource("finalize", "Namespace", ("update",)), _status("Namespace")),
    ),
    Resource(
        "nodes",
        "node",
        "Node",
        namespaced=False,
        short_names=("no",),
        subresources=(_status("Node"),),
    ),
    Resource(
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        namespaced=True,
        short_names=("pvc",),
        subresources=(_status("PersistentVolumeClaim"),),
    ),
    Resource(
        "pods",
        "pod",
        "Pod",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        subresources=(
            Subresource("attach", "PodAttachOptions", ("create", "get")),
            Subresource("binding", "Binding", ("create",)),
            Subresource("ephemeralcontainers", "Pod", ("get", "patch", "update")),
            Subresource("exec", "PodExecOptions", ("create", "get")),
            Subresource("log", "Pod", ("get",)),
            Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
            _status("Pod"),
        ),
    ),
    Resource(
        "secrets",
        "secret",
        "Secret",
        namespaced=True,
    ),
    Resource(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        namespaced=True,
        short_names=("sa",),
    ),
    Resource(
        "services",
        "service",
        "Service",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        subresources=(_status("Service"),),
    ),
)

# Served by the node agent from live cgroup readings, as metrics-server serves them.
METRICS: tuple[Resource, ...] = (
    Resource(
        "nodes", "", "NodeMetrics", namespaced=False, group="metrics.k8s.io", version="v1beta1", verbs=("get", "list")
    ),
    Resource(
        "pods", "", "PodMetrics", namespaced=True, group="metrics.k8s.io", version="v1beta1", verbs=("get", "list")
    ),
)

# Answered at once from the caller's own rights (sandbox/api/authorization.py), never stored.
AUTHORIZATION: tuple[Resource, ...] = (
    Resource(
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        namespaced=False,
        group="authorization.k8s.io",
        verbs=("create",),
    ),
)

ALL: tuple[Resource, ...] = CORE + METRICS + AUTHORIZATION
BY_KEY: dict[str, Resource] = {r.key: r for r in ALL}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /api[s]/<group>/<version>/<plural>, if any."""
    resource = BY_KEY.get(f"{plural}.{group}" if group else plural)
    if resource is None or resource.version != version:
        return None
    return resource


def by_kind(kind: str, group: str = "") -> Resource | None:
    return next((r for r in ALL if r.kind == kind and r.group == group and r.plural != "bindings"), None)


def groups() -> dict[str, list[Resource]]:
    """Resources outside the core group, by group name."""
    out: dict[str, list[Resource]] = {}
    for r in ALL:
        if r.group:
            out.setdefault(r.group, []).append(r)
    return out
