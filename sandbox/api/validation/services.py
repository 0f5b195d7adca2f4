"""Services: type and cluster IPs, ports, session affinity, node ports and traffic policies."""

from __future__ import annotations

import json

from kubetext.formats import (
    IP_ADDRESS_MSG,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_ip,
    is_port_num,
    is_qualified_name,
)
from sandbox.api.validation.fields import (
    PORT_PROTOCOLS,
    Errors,
    Object,
    go_string_slice,
    int_or_string_port,
    mapping,
    objects,
    required_choice,
    strings,
    text,
    valid_ip,
)
from sandbox.api.validation.metadata import (
    name_is_dns1035_label,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sandbox.errors import duplicate, forbidden, go_duplicate, go_invalid, invalid_value, not_supported, required

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_AFFINITY_TIMEOUT = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"


def _is_headless(service: Object) -> bool:
    return text(mapping(service, "spec"), "clusterIP") == "None"


def _go_service_port(protocol: str, port: int) -> str:
    return (
        f'core.ServicePort{{Name:"", Protocol:{json.dumps(protocol)}, AppProtocol:(*string)(nil), '
        f"Port:{port}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _service_port(port: Object, require_name: bool, names: set[str], path: str) -> Errors:
    errs: Errors = []
    name = text(port, "name")
    if require_name and not name:
        errs.append(required(f"{path}.name"))
    elif name:
        errs += [invalid_value(f"{path}.name", name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    number = port.get("port") or 0
    errs += [invalid_value(f"{path}.port", number, m) for m in is_port_num(number)]
    errs += required_choice(port, "protocol", PORT_PROTOCOLS, path)
    errs += int_or_string_port(port.get("targetPort", 0), f"{path}.targetPort")
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        errs += [invalid_value(f"{path}.appProtocol", app_protocol, m) for m in is_qualified_name(app_protocol)]
    return errs


def _external_name(spec: Object) -> Errors:
    errs: Errors = []
    for name in ("clusterIPs", "ipFamilies"):
        if strings(spec, name):
            errs.append(forbidden(f"spec.{name}", "may not be set for ExternalName services"))
    if spec.get("ipFamilyPolicy") is not None:
        errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
    cname = text(spec, "externalName").removesuffix(".")
    if not cname:
        return [*errs, required("spec.externalName")]
    return errs + [invalid_value("spec.externalName", cname, m) for m in is_dns1123_subdomain(cname)]


def _type_and_ports(service: Object) -> Errors:
    spec = mapping(service, "spec")
    kind, ports, headless = text(spec, "type"), objects(spec, "ports"), _is_headless(service)
    errs: Errors = []
    if not ports and not headless and kind != "ExternalName":
        errs.append(required("spec.ports"))
    cluster_ips = strings(spec, "clusterIPs")
    if kind in ("LoadBalancer", "NodePort") and headless and cluster_ips:
        detail = f"may not be set to 'None' for {kind} services"
        errs.append(invalid_value("spec.clusterIPs[0]", cluster_ips[0], detail))
    elif kind == "ExternalName":
        errs += _external_name(spec)
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if "selector" in spec:
        errs += validate_labels(mapping(spec, "selector"), "spec.selector")
    return errs


def _session_affinity(spec: Object) -> Errors:
    affinity = text(spec, "sessionAffinity")
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity == "None":
        if spec.get("sessionAffinityConfig") is None:
            return []
        return [forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")]
    if affinity != "ClientIP":
        return [not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"])]
    timeout = mapping(mapping(spec, "sessionAffinityConfig"), "clientIP").get("timeoutSeconds")
    if timeout is None:
        return [required(_AFFINITY_TIMEOUT, "when session affinity type is ClientIP")]
    if not 0 < timeout <= 86400:
        return [invalid_value(_AFFINITY_TIMEOUT, timeout, "must be greater than 0 and less than 86400")]
    return []


def _addresses_and_type(spec: Object) -> Errors:
    errs: Errors = []
    for i, ip in enumerate(strings(spec, "clusterIPs")):
        if ip != "None" and not is_ip(ip):
            errs.append(invalid_value(f"spec.clusterIPs[{i}]", ip, IP_ADDRESS_MSG))
    for i, ip in enumerate(strings(spec, "externalIPs")):
        errs += valid_ip(f"spec.externalIPs[{i}]", ip)
    kind = text(spec, "type")
    if not kind:
        errs.append(required("spec.type"))
    elif kind not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", kind, _SERVICE_TYPES))
    return errs


def _port_numbers(spec: Object) -> Errors:
    ports = objects(spec, "ports")
    errs: Errors = []
    if text(spec, "type") == "ClusterIP":
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        if port.get("nodePort"):
            key = (text(port, "protocol"), port["nodePort"])
            if key in node_ports:
                errs.append(duplicate(f"spec.ports[{i}].nodePort", port["nodePort"]))
            node_ports.add(key)
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (text(port, "protocol"), port.get("port") or 0)
        if key in seen:
            errs.append(go_duplicate(f"spec.ports[{i}]", _go_service_port(*key)))
        seen.add(key)
    return errs


def _load_balancer_and_traffic(spec: Object) -> Errors:
    errs: Errors = []
    kind = text(spec, "type")
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        detail = "may only be used when `type` is 'LoadBalancer'"
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", detail))
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))
    external = kind in ("NodePort", "LoadBalancer") or bool(strings(spec, "externalIPs"))
    policy = text(spec, "externalTrafficPolicy")
    if not external and policy:
        detail = "may only be set for externally-accessible services"
        errs.append(invalid_value("spec.externalTrafficPolicy", policy, detail))
    elif external and not policy:
        errs.append(required("spec.externalTrafficPolicy"))
    elif external and policy not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", policy, ["Cluster", "Local"]))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy"))
    if internal is not None and internal not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", internal, ["Cluster", "Local"]))
    return errs


def validate_service(service: Object) -> Errors:
    """ValidateService, in the server's order."""
    errs = validate_object_meta(mapping(service, "metadata"), True, name_is_dns1035_label)
    spec = mapping(service, "spec")
    errs += _type_and_ports(service)
    errs += _session_affinity(spec)
    errs += _addresses_and_type(spec)
    errs += _port_numbers(spec)
    return errs + _load_balancer_and_traffic(spec)


def _cluster_ips_unchanged(new_spec: Object, old_spec: Object) -> Errors:
    new_ips, old_ips = strings(new_spec, "clusterIPs"), strings(old_spec, "clusterIPs")
    rendered = go_string_slice(new_ips)
    if len(new_ips) == len(old_ips):
        return [
            go_invalid(f"spec.clusterIPs[{i}]", rendered, "may not change once set")
            for i, ip in enumerate(old_ips)
            if ip != new_ips[i]
        ]
    if not new_ips:
        return [go_invalid("spec.clusterIPs[0]", "[]string(nil)", "primary clusterIP can not be unset")]
    if old_ips and new_ips[0] != old_ips[0]:
        return [go_invalid("spec.clusterIPs[0]", rendered, "may not change once set")]
    return []


def validate_service_update(new: Object, old: Object) -> Errors:
    """ValidateServiceUpdate: cluster IPs stay as allocated (unless ExternalName or headless on both sides)."""
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    new_spec, old_spec = mapping(new, "spec"), mapping(old, "spec")
    external_name = "ExternalName" in (text(new_spec, "type"), text(old_spec, "type"))
    if not external_name and not (_is_headless(new) and _is_headless(old)):
        errs += _cluster_ips_unchanged(new_spec, old_spec)
    return errs + validate_service(new)
