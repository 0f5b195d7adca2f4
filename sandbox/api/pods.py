"""Pod rules that live in the apiserver rather than in a registry: binding to a node, and checking
log and exec requests before they reach the node (which container, which options)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox import errors
from sandbox.store import Store, now_rfc3339


def bind(store: Store, namespace: str, name: str, node: str) -> dict[str, Any]:
    """Assign a pod to a node (pods/binding): set spec.nodeName and the PodScheduled condition."""
    pod = store.get("pods", namespace, name)
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict("pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
    current = pod["spec"].get("nodeName")
    if current:
        raise errors.conflict("pods/binding", name, f'pod {name} is already assigned to node "{current}"')
    pod["spec"]["nodeName"] = node
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions", []) if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    )
    status["conditions"] = conditions
    return store.update("pods", pod, check_version=False)


def container_names(pod: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    spec = pod.get("spec", {})
    return (
        [c["name"] for c in spec.get("containers", [])],
        [c["name"] for c in spec.get("initContainers", [])],
        [c["name"] for c in spec.get("ephemeralContainers", [])],
    )


def pick_container(pod: dict[str, Any], requested: str) -> str:
    """The container a log or exec request means, with the apiserver's exact errors."""
    name = pod["metadata"]["name"]
    main, init, ephemeral = container_names(pod)
    if not requested:
        if len(main) == 1:
            return main[0]
        message = f"a container name must be specified for pod {name}"
        if main:
            message += f", choose one of: [{' '.join(main)}]"
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        if ephemeral:
            message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
        raise errors.bad_request(message)
    if requested not in main + init + ephemeral:
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions after validation."""

    container: str
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: datetime | None = None
    limit_bytes: int | None = None


def _int_option(query: dict[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _bool(query: dict[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("true", "1")


def log_options(pod: dict[str, Any], query: dict[str, str]) -> LogOptions:
    """Validate a pods/log query the way the apiserver does (422 for bad options, 400 for containers)."""
    tail = _int_option(query, "tailLines")
    since = _int_option(query, "sinceSeconds")
    limit = _int_option(query, "limitBytes")
    since_time = None
    if query.get("sinceTime"):
        try:
            since_time = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise errors.bad_request(
                f'parsing time "{query["sinceTime"]}" as "2006-01-02T15:04:05Z07:00": cannot parse'
            ) from None
    problems = []
    if tail is not None and tail < 0:
        problems.append(errors.invalid_value("tailLines", tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        problems.append(errors.invalid_value("limitBytes", limit, "must be greater than 0"))
    if since is not None and since < 1:
        problems.append(errors.invalid_value("sinceSeconds", since, "must be greater than 0"))
    if since is not None and since_time is not None:
        problems.append(errors.forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    if problems:
        raise errors.invalid("PodLogOptions", "", problems)
    return LogOptions(
        container=pick_container(pod, query.get("container", "")),
        follow=_bool(query, "follow"),
        previous=_bool(query, "previous"),
        timestamps=_bool(query, "timestamps"),
        tail_lines=tail,
        since_seconds=since,
        since_time=since_time,
        limit_bytes=limit,
    )


def container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    status = pod.get("status", {})
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        statuses: list[dict[str, Any]] = status.get(key) or []
        for entry in statuses:
            if entry.get("name") == container:
                return copy.deepcopy(entry)
    return None


def not_started(pod: dict[str, Any], container: str) -> errors.ApiError:
    """The kubelet's answer for a container that has no log yet."""
    name = pod["metadata"]["name"]
    entry = container_status(pod, container) or {}
    reason = (entry.get("state", {}).get("waiting") or {}).get("reason", "ContainerCreating")
    return errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
