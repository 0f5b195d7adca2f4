"""PodSpec validation, in the order the server checks the fields; containers and volumes have their own modules."""

from __future__ import annotations

from collections.abc import Callable

from kubetext.formats import (
    inclusive_range,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_dns1123_subdomain_with_underscore,
    is_label_value,
    is_qualified_name,
)
from sandbox.api.validation.containers import (
    id_range,
    seccomp_profile,
    validate_containers,
    validate_ephemeral_containers,
    validate_init_containers,
)
from sandbox.api.validation.fields import (
    Errors,
    Object,
    go_string_slice,
    mapping,
    objects,
    required_choice,
    strings,
    text,
    valid_ip,
)
from sandbox.api.validation.metadata import name_is_dns_subdomain, validate_labels
from sandbox.api.validation.quantities import validate_resource_requirements
from sandbox.api.validation.volumes import validate_volumes
from sandbox.errors import duplicate, go_invalid, invalid_value, not_supported, required

_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]


def _toleration(toleration: Object, at: str) -> Errors:
    errs: Errors = []
    key, operator, effect = text(toleration, "key"), text(toleration, "operator"), text(toleration, "effect")
    value = text(toleration, "value")
    if key:
        errs += [invalid_value(f"{at}.key", key, m) for m in is_qualified_name(key)]
    if not key and operator != "Exists":
        detail = 'operator must be Exists when `key` is empty, which means "match all values and all keys"'
        errs.append(invalid_value(f"{at}.operator", operator, detail))
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        detail = "effect must be 'NoExecute' when `tolerationSeconds` is set"
        errs.append(invalid_value(f"{at}.effect", effect, detail))
    if operator in ("Equal", ""):
        messages = is_label_value(value)
        if messages:
            errs.append(invalid_value(f"{at}.operator", value, ";".join(messages)))
    elif operator == "Exists":
        if value:
            errs.append(invalid_value(f"{at}.operator", value, "value must be empty when `operator` is 'Exists'"))
    else:
        errs.append(not_supported(f"{at}.operator", operator, ["Equal", "Exists"]))
    if effect and effect not in _TAINT_EFFECTS:
        errs.append(not_supported(f"{at}.effect", effect, _TAINT_EFFECTS))
    return errs


def validate_tolerations(tolerations: list[Object], path: str) -> Errors:
    """Tolerations: a qualified key (or Exists for all), a valid value for Equal, a known effect."""
    errs: Errors = []
    for i, toleration in enumerate(tolerations):
        errs += _toleration(toleration, f"{path}[{i}]")
    return errs


def _pod_security_context(context: Object, path: str) -> Errors:
    errs: Errors = []
    for name in ("fsGroup", "runAsUser", "runAsGroup"):
        errs += id_range(context.get(name), f"{path}.{name}")
    for i, gid in enumerate(context.get("supplementalGroups") or []):
        errs += id_range(gid, f"{path}.supplementalGroups[{i}]")
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(not_supported(f"{path}.fsGroupChangePolicy", policy, ["Always", "OnRootMismatch"]))
    return errs + seccomp_profile(context, path)


def _dns_searches(config: Object, path: str) -> Errors:
    errs: Errors = []
    searches = strings(config, "searches")
    if len(searches) > 32:
        detail = "must not have more than 32 search paths"
        errs.append(go_invalid(f"{path}.searches", go_string_slice(searches), detail))
    for i, search in enumerate(searches):
        if search != ".":
            name = search.removesuffix(".")
            errs += [
                invalid_value(f"{path}.searches[{i}]", name, m) for m in is_dns1123_subdomain_with_underscore(name)
            ]
    return errs


def _dns_config(spec: Object, path: str) -> Errors:
    policy = text(spec, "dnsPolicy")
    config = spec.get("dnsConfig")
    if policy == "None":
        if not isinstance(config, dict):
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not strings(config, "nameservers"):
            detail = "must provide at least one DNS nameserver when `dnsPolicy` is None"
            return [required(f"{path}.nameservers", detail)]
    if not isinstance(config, dict):
        return []
    errs: Errors = []
    servers = strings(config, "nameservers")
    if len(servers) > 3:
        detail = "must not have more than 3 nameservers"
        errs.append(go_invalid(f"{path}.nameservers", go_string_slice(servers), detail))
    for i, server in enumerate(servers):
        errs += valid_ip(f"{path}.nameservers[{i}]", server)
    errs += _dns_searches(config, path)
    for i, option in enumerate(objects(config, "options")):
        if not text(option, "name"):
            errs.append(required(f"{path}.options[{i}]", "must not be empty"))
    return errs


# --- the sections of a spec, each (spec, path) -> errors, run in the server's order --------------------------


def _host_network_ports(spec: Object, path: str) -> Errors:
    if spec.get("hostNetwork") is not True:
        return []
    errs: Errors = []
    for ci, container in enumerate(objects(spec, "containers")):
        for pi, port in enumerate(objects(container, "ports")):
            if (port.get("hostPort") or 0) != (port.get("containerPort") or 0):
                errs.append(
                    invalid_value(
                        f"{path}.containers[{ci}].ports[{pi}].hostPort",
                        port.get("hostPort") or 0,
                        "must match `containerPort` when `hostNetwork` is true",
                    )
                )
    return errs


def _policies(spec: Object, path: str) -> Errors:
    errs = required_choice(spec, "restartPolicy", ["Always", "OnFailure", "Never"], path)
    return errs + required_choice(spec, "dnsPolicy", _DNS_POLICIES, path)


def _node_selector(spec: Object, path: str) -> Errors:
    return validate_labels(mapping(spec, "nodeSelector"), f"{path}.nodeSelector")


def _security_context(spec: Object, path: str) -> Errors:
    return _pod_security_context(mapping(spec, "securityContext"), f"{path}.securityContext")


def _image_pull_secrets(spec: Object, path: str) -> Errors:
    return [
        invalid_value(f"{path}.imagePullSecrets[{i}]", secret, "only name may be set")
        for i, secret in enumerate(objects(spec, "imagePullSecrets"))
        if set(secret) - {"name"}
    ]


def _dns(spec: Object, path: str) -> Errors:
    return _dns_config(spec, f"{path}.dnsConfig")


def _gates(spec: Object, path: str) -> Errors:
    errs: Errors = []
    for i, gate in enumerate(objects(spec, "readinessGates")):
        condition = text(gate, "conditionType")
        at = f"{path}.readinessGates[{i}].conditionType"
        errs += [invalid_value(at, condition, m) for m in is_qualified_name(condition)]
    seen_gates: set[str] = set()
    for i, gate in enumerate(objects(spec, "schedulingGates")):
        name = text(gate, "name")
        errs += [invalid_value(f"{path}.schedulingGates[{i}]", name, m) for m in is_qualified_name(name)]
        if name in seen_gates:
            errs.append(duplicate(f"{path}.schedulingGates[{i}]", name))
        seen_gates.add(name)
    return errs


def _subdomain_name(value: str, path: str) -> Errors:
    return [invalid_value(path, value, m) for m in name_is_dns_subdomain(value, False)]


def _account_node_and_names(spec: Object, path: str) -> Errors:
    errs: Errors = []
    for name in ("serviceAccountName", "nodeName"):
        if text(spec, name):
            errs += _subdomain_name(text(spec, name), f"{path}.{name}")
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= 2**31 - 1:
        errs.append(invalid_value(f"{path}.activeDeadlineSeconds", deadline, inclusive_range(1, 2147483647)))
    for name in ("hostname", "subdomain"):
        value = text(spec, name)
        if value:
            errs += [invalid_value(f"{path}.{name}", value, m) for m in is_dns1123_label(value)]
    return errs


def _tolerations(spec: Object, path: str) -> Errors:
    return validate_tolerations(objects(spec, "tolerations"), f"{path}.tolerations")


def _host_aliases(spec: Object, path: str) -> Errors:
    errs: Errors = []
    for i, alias in enumerate(objects(spec, "hostAliases")):
        errs += valid_ip(f"{path}.hostAliases[{i}].ip", text(alias, "ip"))
        for j, host in enumerate(strings(alias, "hostnames")):
            at = f"{path}.hostAliases[{i}].hostnames[{j}]"
            errs += [invalid_value(at, host, m) for m in is_dns1123_subdomain(host)]
    return errs


def _scheduling_classes(spec: Object, path: str) -> Errors:
    errs: Errors = []
    if text(spec, "priorityClassName"):
        errs += _subdomain_name(text(spec, "priorityClassName"), f"{path}.priorityClassName")
    runtime_class = spec.get("runtimeClassName")
    if isinstance(runtime_class, str):
        errs += _subdomain_name(runtime_class, f"{path}.runtimeClassName")
    preemption = spec.get("preemptionPolicy")
    if preemption == "":
        errs.append(required(f"{path}.preemptionPolicy"))
    elif preemption is not None and preemption not in ("PreemptLowerPriority", "Never"):
        errs.append(not_supported(f"{path}.preemptionPolicy", preemption, ["PreemptLowerPriority", "Never"]))
    return errs


def _overhead_and_os(spec: Object, path: str) -> Errors:
    errs: Errors = []
    if "overhead" in spec:
        errs += validate_resource_requirements({"limits": mapping(spec, "overhead")}, f"{path}.overhead")
    if "os" in spec:
        os_name = text(mapping(spec, "os"), "name")
        if not os_name:
            errs.append(required(f"{path}.os.name"))
        elif os_name not in ("linux", "windows"):
            errs.append(not_supported(f"{path}.os.name", os_name, ["linux", "windows"]))
    return errs


_SECTIONS: tuple[Callable[[Object, str], Errors], ...] = (
    _host_network_ports,
    _policies,
    _node_selector,
    _security_context,
    _image_pull_secrets,
    _dns,
    _gates,
    _account_node_and_names,
    _tolerations,
    _host_aliases,
    _scheduling_classes,
    _overhead_and_os,
)


def validate_pod_spec(spec: Object, pod_name: str, path: str = "spec") -> Errors:
    """ValidatePodSpec, in the order the server checks the fields."""
    errs: Errors = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.append(required(f"{path}.terminationGracePeriodSeconds"))
    grace = spec.get("terminationGracePeriodSeconds")
    volumes, volume_errs = validate_volumes(objects(spec, "volumes"), f"{path}.volumes", pod_name)
    errs += volume_errs
    errs += validate_containers(spec, volumes, grace, f"{path}.containers")
    errs += validate_init_containers(spec, volumes, grace, f"{path}.initContainers")
    errs += validate_ephemeral_containers(spec, volumes, f"{path}.ephemeralContainers")
    for section in _SECTIONS:
        errs += section(spec, path)
    return errs
