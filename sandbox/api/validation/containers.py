"""Containers of every sort (regular, init, ephemeral): ports, environment, mounts, probes, security."""

from __future__ import annotations

from kubetext.formats import (
    HTTP_HEADER_NAME,
    inclusive_range,
    is_config_map_key,
    is_dns1123_label,
    is_port_name,
    is_port_num,
    is_relaxed_env_var_name,
)
from sandbox.api.validation.fields import (
    PORT_PROTOCOLS,
    Errors,
    Object,
    int_or_string_port,
    mapping,
    nonnegative,
    objects,
    required_choice,
    strings,
    text,
)
from sandbox.api.validation.metadata import name_is_dns_subdomain
from sandbox.api.validation.quantities import validate_resource_requirements
from sandbox.api.validation.volumes import local_descending_path, object_field_selector, resource_field_selector
from sandbox.errors import duplicate, forbidden, invalid_value, not_found_value, not_supported, required

_ENV_FIELD_PATHS = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
]
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_EPHEMERAL_FORBIDDEN = ("ports", "resources", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


# --- ports and environment ---------------------------------------------------------------------------------


def _container_port(port: Object, at: str, names: set[str]) -> Errors:
    errs: Errors = []
    name = text(port, "name")
    if name:
        messages = is_port_name(name)
        if messages:
            errs += [invalid_value(f"{at}.name", name, m) for m in messages]
        elif name in names:
            errs.append(duplicate(f"{at}.name", name))
        else:
            names.add(name)
    container_port = port.get("containerPort") or 0
    if container_port == 0:
        errs.append(required(f"{at}.containerPort"))
    else:
        errs += [invalid_value(f"{at}.containerPort", container_port, m) for m in is_port_num(container_port)]
    host_port = port.get("hostPort") or 0
    if host_port:
        errs += [invalid_value(f"{at}.hostPort", host_port, m) for m in is_port_num(host_port)]
    errs += required_choice(port, "protocol", PORT_PROTOCOLS, at)
    return errs


def _container_ports(ports: list[Object], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _container_port(port, f"{path}[{i}]", names)
    return errs


def _key_ref(ref: Object, at: str) -> Errors:
    errs = [invalid_value(f"{at}.name", text(ref, "name"), m) for m in name_is_dns_subdomain(text(ref, "name"), False)]
    key = text(ref, "key")
    if not key:
        return [*errs, required(f"{at}.key")]
    return errs + [invalid_value(f"{at}.key", key, m) for m in is_config_map_key(key)]


def _env_var_source(var: Object, at: str) -> Errors:
    source = mapping(var, "valueFrom")
    errs: Errors = []
    if "fieldRef" in source:
        errs += object_field_selector(mapping(source, "fieldRef"), _ENV_FIELD_PATHS, f"{at}.fieldRef")
    if "resourceFieldRef" in source:
        errs += resource_field_selector(mapping(source, "resourceFieldRef"), f"{at}.resourceFieldRef", False)
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if kind in source:
            errs += _key_ref(mapping(source, kind), f"{at}.{kind}")
    kinds = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
    count = sum(kind in source for kind in kinds)
    if count == 0:
        detail = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        errs.append(invalid_value(at, "", detail))
    elif text(var, "value"):
        errs.append(invalid_value(at, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        errs.append(invalid_value(at, "", "may not have more than one field specified at a time"))
    return errs


def _env(env: list[Object], path: str) -> Errors:
    errs: Errors = []
    for i, var in enumerate(env):
        at = f"{path}[{i}]"
        name = text(var, "name")
        if not name:
            errs.append(required(f"{at}.name"))
        else:
            errs += [invalid_value(f"{at}.name", name, m) for m in is_relaxed_env_var_name(name)]
        if "valueFrom" in var:
            errs += _env_var_source(var, f"{at}.valueFrom")
    return errs


def _env_from(sources: list[Object], path: str) -> Errors:
    errs: Errors = []
    for i, source in enumerate(sources):
        at = f"{path}[{i}]"
        prefix = text(source, "prefix")
        if prefix:
            errs += [invalid_value(f"{at}.prefix", prefix, m) for m in is_relaxed_env_var_name(prefix)]
        for kind in ("configMapRef", "secretRef"):
            if kind in source:
                name = text(mapping(source, kind), "name")
                if not name:
                    errs.append(required(f"{at}.{kind}.name"))
                else:
                    errs += [invalid_value(f"{at}.{kind}.name", name, m) for m in name_is_dns_subdomain(name, True)]
        count = sum(kind in source for kind in ("configMapRef", "secretRef"))
        if count == 0:
            errs.append(invalid_value(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid_value(path, "", "may not have more than one field specified at a time"))
    return errs


# --- volume mounts -----------------------------------------------------------------------------------------


def _mount_target(mount: Object, at: str, volumes: dict[str, Object]) -> Errors:
    """The mount names one of the pod's volumes and a path."""
    errs: Errors = []
    name, mount_path = text(mount, "name"), text(mount, "mountPath")
    if not name:
        errs.append(required(f"{at}.name"))
    if name not in volumes:
        errs.append(not_found_value(f"{at}.name", name))
    if not mount_path:
        errs.append(required(f"{at}.mountPath"))
    return errs


def _mount_sub_paths(mount: Object, at: str, image: bool, path: str) -> Errors:
    errs: Errors = []
    sub_path, sub_expr = text(mount, "subPath"), text(mount, "subPathExpr")
    if image:
        if sub_path:
            errs.append(invalid_value(f"{at}.subPath", sub_path, "not allowed in image volume sources"))
        if sub_expr:
            errs.append(invalid_value(f"{at}.subPathExpr", sub_expr, "not allowed in image volume sources"))
    if sub_path:
        errs += local_descending_path(sub_path, f"{path}.subPath")
    if sub_expr:
        if sub_path:
            detail = "subPathExpr and subPath are mutually exclusive"
            errs.append(invalid_value(f"{at}.subPathExpr", sub_expr, detail))
        errs += local_descending_path(sub_expr, f"{path}.subPathExpr")
    return errs


def _mount_propagation(mount: Object, privileged: bool, path: str) -> Errors:
    errs: Errors = []
    propagation = mount.get("mountPropagation")
    if propagation is not None:
        supported = ["Bidirectional", "HostToContainer", "None"]
        if propagation not in supported:
            errs.append(not_supported(f"{path}.mountPropagation", propagation, supported))
        if propagation == "Bidirectional" and not privileged:
            detail = "Bidirectional mount propagation is available only to privileged containers"
            errs.append(forbidden(f"{path}.mountPropagation", detail))
    recursive = mount.get("recursiveReadOnly")
    if recursive in ("Enabled", "IfPossible"):
        if not mount.get("readOnly"):
            errs.append(forbidden(f"{path}.recursiveReadOnly", "may only be specified when readOnly is true"))
        if propagation not in (None, "None"):
            detail = "may only be specified when mountPropagation is None or not specified"
            errs.append(forbidden(f"{path}.recursiveReadOnly", detail))
    elif recursive not in (None, "Disabled"):
        supported = ["Disabled", "Enabled", "IfPossible"]
        errs.append(not_supported(f"{path}.recursiveReadOnly", recursive, supported))
    return errs


def _volume_mounts(container: Object, volumes: dict[str, Object], path: str) -> Errors:
    # Several messages name the list (`path`) rather than the entry (`at`): the server words them so.
    errs: Errors = []
    mount_paths: set[str] = set()
    devices = {text(d, "name"): text(d, "devicePath") for d in objects(container, "volumeDevices")}
    privileged = mapping(container, "securityContext").get("privileged") is True
    for i, mount in enumerate(objects(container, "volumeMounts")):
        at = f"{path}[{i}]"
        name, mount_path = text(mount, "name"), text(mount, "mountPath")
        errs += _mount_target(mount, at, volumes)
        if mount_path in mount_paths:
            errs.append(invalid_value(f"{at}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        if name in devices:
            errs.append(invalid_value(f"{at}.name", name, "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            detail = "must not already exist as a path in volumeDevices"
            errs.append(invalid_value(f"{at}.mountPath", mount_path, detail))
        errs += _mount_sub_paths(mount, at, "image" in volumes.get(name, {}), path)
        errs += _mount_propagation(mount, privileged, path)
    return errs


# --- probes and lifecycle handlers -------------------------------------------------------------------------


def _http_get(body: Object, at: str) -> Errors:
    errs = [] if text(body, "path") else [required(f"{at}.path")]
    errs += int_or_string_port(body.get("port"), f"{at}.port")
    scheme = text(body, "scheme")
    if scheme not in ("HTTP", "HTTPS"):
        errs.append(not_supported(f"{at}.scheme", scheme, ["HTTP", "HTTPS"]))
    for header in objects(body, "httpHeaders"):
        if not HTTP_HEADER_NAME.matches(text(header, "name")):
            errs.append(invalid_value(f"{at}.httpHeaders", text(header, "name"), HTTP_HEADER_NAME.mismatch()))
    return errs


def _handler_body(kind: str, body: Object, grace: int | None, at: str) -> Errors:
    if kind == "exec":
        return [] if strings(body, "command") else [required(f"{at}.command")]
    if kind == "httpGet":
        return _http_get(body, at)
    if kind in ("tcpSocket", "grpc"):
        return int_or_string_port(body.get("port"), f"{at}.port")
    return _sleep(body, grace, at) if kind == "sleep" else []


def _sleep(body: Object, grace: int | None, at: str) -> Errors:
    seconds = body.get("seconds", 0)
    if grace is not None and not 0 <= seconds <= grace:
        detail = f"must be non-negative and less than terminationGracePeriodSeconds ({grace})"
        return [invalid_value(at, seconds, detail)]
    return []


def _handler(handler: Object, grace: int | None, path: str, kinds: tuple[str, ...]) -> Errors:
    errs: Errors = []
    count = 0
    for kind in kinds:
        if kind not in handler:
            continue
        at = f"{path}.{kind}"
        if count:
            errs.append(forbidden(at, "may not specify more than 1 handler type"))
            continue
        count += 1
        errs += _handler_body(kind, mapping(handler, kind), grace, at)
    if not count:
        errs.append(required(path, "must specify a handler type"))
    return errs


def _probe(probe: Object, grace: int | None, path: str, kind: str) -> Errors:
    errs = _handler(probe, grace, path, _PROBE_HANDLERS)
    for name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += nonnegative(probe.get(name, 0), f"{path}.{name}")
    probe_grace = probe.get("terminationGracePeriodSeconds")
    if probe_grace is not None and probe_grace <= 0:
        errs.append(invalid_value(f"{path}.terminationGracePeriodSeconds", probe_grace, "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe") and probe.get("successThreshold", 1) != 1:
        errs.append(invalid_value(f"{path}.successThreshold", probe.get("successThreshold"), "must be 1"))
    if kind == "readinessProbe" and probe_grace is not None:
        detail = "must not be set for readinessProbes"
        errs.append(invalid_value(f"{path}.terminationGracePeriodSeconds", probe_grace, detail))
    return errs


def _probes_and_lifecycle(container: Object, grace: int | None, path: str) -> Errors:
    errs: Errors = []
    if "lifecycle" in container:
        lifecycle = mapping(container, "lifecycle")
        for hook in ("postStart", "preStop"):
            if hook in lifecycle:
                errs += _handler(mapping(lifecycle, hook), grace, f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in container:
            errs += _probe(mapping(container, kind), grace, f"{path}.{kind}", kind)
    return errs


# --- security ----------------------------------------------------------------------------------------------


def id_range(value: object, path: str) -> Errors:
    """A user or group ID of a container's or a whole pod's security context."""
    if isinstance(value, int) and not 0 <= value <= 0xFFFFFFFF:
        return [invalid_value(path, value, inclusive_range(0, 4294967295))]
    return []


def seccomp_profile(context: Object, path: str) -> Errors:
    """The seccompProfile, if any, of the security context at `path` (a container's or a whole pod's):
    localhostProfile exactly when type is Localhost."""
    profile = mapping(context, "seccompProfile")
    if not profile:
        return []
    path = f"{path}.seccompProfile"
    kind = text(profile, "type")
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    errs: Errors = []
    if not kind:
        errs.append(required(f"{path}.type"))
    elif kind not in supported:
        errs.append(not_supported(f"{path}.type", kind, supported))
    if kind == "Localhost":
        if "localhostProfile" not in profile:
            errs.append(required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost"))
        else:
            errs += local_descending_path(text(profile, "localhostProfile"), f"{path}.localhostProfile")
    elif "localhostProfile" in profile:
        detail = "can only be set when seccomp type is Localhost"
        errs.append(invalid_value(f"{path}.localhostProfile", profile, detail))
    return errs


def _security_context(context: Object, path: str) -> Errors:
    errs: Errors = []
    for name in ("runAsUser", "runAsGroup"):
        errs += id_range(context.get(name), f"{path}.{name}")
    mount = context.get("procMount")
    if mount is not None and mount not in ("Default", "Unmasked"):
        errs.append(not_supported(f"{path}.procMount", mount, ["Default", "Unmasked"]))
    errs += seccomp_profile(context, path)
    if context.get("allowPrivilegeEscalation") is False and context.get("privileged") is True:
        detail = "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
        errs.append(invalid_value(path, context, detail))
    return errs


# --- whole containers --------------------------------------------------------------------------------------


def _resize_policy(policies: list[Object], path: str, restart_policy: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, policy in enumerate(policies):
        resource, restart = text(policy, "resourceName"), text(policy, "restartPolicy")
        if resource in seen:
            errs.append(duplicate(f"{path}[{i}]", resource))
        seen.add(resource)
        if not resource:
            errs.append(required(path))
        elif resource not in ("cpu", "memory"):
            errs.append(not_supported(path, resource, ["cpu", "memory"]))
        if not restart:
            errs.append(required(path))
        elif restart not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(path, restart, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and restart != "NotRequired":
            errs.append(invalid_value(path, restart, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errs


def _container_common(container: Object, volumes: dict[str, Object], path: str, restart_policy: str) -> Errors:
    errs: Errors = []
    name = text(container, "name")
    if not name:
        errs.append(required(f"{path}.name"))
    else:
        errs += [invalid_value(f"{path}.name", name, m) for m in is_dns1123_label(name)]
    if not text(container, "image"):
        errs.append(required(f"{path}.image"))
    errs += required_choice(container, "terminationMessagePolicy", ["File", "FallbackToLogsOnError"], path)
    errs += _container_ports(objects(container, "ports"), f"{path}.ports")
    errs += _env(objects(container, "env"), f"{path}.env")
    errs += _env_from(objects(container, "envFrom"), f"{path}.envFrom")
    errs += _volume_mounts(container, volumes, f"{path}.volumeMounts")
    errs += required_choice(container, "imagePullPolicy", ["Always", "IfNotPresent", "Never"], path)
    errs += validate_resource_requirements(mapping(container, "resources"), f"{path}.resources")
    errs += _resize_policy(objects(container, "resizePolicy"), f"{path}.resizePolicy", restart_policy)
    return errs + _security_context(mapping(container, "securityContext"), f"{path}.securityContext")


def _host_port_conflicts(containers: list[Object], path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for ci, container in enumerate(containers):
        for pi, port in enumerate(objects(container, "ports")):
            host_port = port.get("hostPort") or 0
            if not host_port:
                continue
            key = f"{text(port, 'protocol')}/{text(port, 'hostIP')}/{host_port}"
            if key in seen:
                errs.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            seen.add(key)
    return errs


def image_whitespace(container: Object, path: str) -> Errors:
    """An image reference may not begin or end with whitespace."""
    image = text(container, "image")
    if image != image.strip():
        return [invalid_value(f"{path}.image", image, "must not have leading or trailing whitespace")]
    return []


def validate_containers(spec: Object, volumes: dict[str, Object], grace: int | None, path: str) -> Errors:
    """The pod's regular containers: at least one, unique names, no restartPolicy of their own."""
    containers = objects(spec, "containers")
    if not containers:
        return [required(path)]
    restart_policy = text(spec, "restartPolicy")
    errs: Errors = []
    names: set[str] = set()
    for i, container in enumerate(containers):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, restart_policy)
        name = text(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        names.add(name)
        errs += _probes_and_lifecycle(container, grace, at)
        if "restartPolicy" in container:
            errs.append(forbidden(f"{at}.restartPolicy", "may not be set for non-init containers"))
    return errs + _host_port_conflicts(containers, path)


def _init_container(container: Object, grace: int | None, at: str) -> Errors:
    """An init container may have probes and hooks only as a sidecar (restartPolicy Always)."""
    if container.get("restartPolicy") == "Always":
        return _probes_and_lifecycle(container, grace, at)
    detail = "may not be set for init containers without restartPolicy=Always"
    kinds = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")
    return [forbidden(f"{at}.{kind}", detail) for kind in kinds if kind in container]


def validate_init_containers(spec: Object, volumes: dict[str, Object], grace: int | None, path: str) -> Errors:
    """Init containers: names unique across all containers; restartPolicy only Always (sidecars)."""
    errs: Errors = []
    names = {text(c, "name") for c in objects(spec, "containers")}
    restart_policy = text(spec, "restartPolicy")
    for i, container in enumerate(objects(spec, "initContainers")):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, restart_policy)
        if "restartPolicy" in container and container.get("restartPolicy") != "Always":
            errs.append(not_supported(f"{at}.restartPolicy", container.get("restartPolicy"), ["Always"]))
        name = text(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        elif name:
            names.add(name)
        errs += _host_port_conflicts([container], path)
        errs += _init_container(container, grace, at)
    return errs


def _ephemeral_forbidden(container: Object, at: str) -> Errors:
    errs: Errors = []
    for field in _EPHEMERAL_FORBIDDEN:
        if container.get(field) not in (None, {}, []):
            errs.append(forbidden(f"{at}.{field}", "cannot be set for an Ephemeral Container"))
    for j, mount in enumerate(objects(container, "volumeMounts")):
        for field in ("subPath", "subPathExpr"):
            if text(mount, field):
                errs.append(forbidden(f"{at}.volumeMounts[{j}].{field}", "cannot be set for an Ephemeral Container"))
    return errs


def validate_ephemeral_containers(spec: Object, volumes: dict[str, Object], path: str) -> Errors:
    """Ephemeral (debug) containers: unique names, a known target, and none of the fields they cannot have."""
    errs: Errors = []
    others = {text(c, "name") for c in [*objects(spec, "containers"), *objects(spec, "initContainers")]}
    names = set(others)
    for i, container in enumerate(objects(spec, "ephemeralContainers")):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, text(spec, "restartPolicy"))
        errs += image_whitespace(container, at)
        name = text(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        names.add(name)
        target = text(container, "targetContainerName")
        if target and target not in others:
            errs.append(not_found_value(f"{at}.targetContainerName", target))
        errs += _ephemeral_forbidden(container, at)
    return errs
