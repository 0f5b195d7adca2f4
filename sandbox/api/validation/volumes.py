"""Pod volumes: one source per volume, each source's own rules, and the projected and downward API files."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubetext.formats import is_dns1123_label, is_qualified_name
from sandbox.api.validation.fields import Errors, Object, mapping, objects, text
from sandbox.api.validation.metadata import name_is_dns_subdomain
from sandbox.api.validation.quantities import quantity
from sandbox.errors import duplicate, forbidden, invalid_value, not_supported, required

_VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)
# The "more than 1 volume type" error names a few sources differently from their JSON field.
_VOLUME_ERROR_NAMES = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
_HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"
_VOLUME_FIELD_PATHS = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
]
_RESOURCE_FIELD_PATHS = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
]
_PROJECTIONS = ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle", "podCertificate")


# --- paths and the selectors volumes share with environment variables -----------------------------------


def _path_no_backsteps(target: str, path: str) -> Errors:
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid_value(path, target, "must not contain '..'")]
    return []


def local_descending_path(target: str, path: str) -> Errors:
    """validateLocalDescendingPath: relative, and never stepping up with '..'."""
    errs = [invalid_value(path, target, "must be a relative path")] if target.startswith("/") else []
    return errs + _path_no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> Errors:
    errs = local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid_value(path, target, "must not start with '..'"))
    return errs


def _file_mode(value: Any, path: str) -> Errors:
    if isinstance(value, int) and not 0 <= value <= 0o777:
        return [invalid_value(path, value, _FILE_MODE)]
    return []


def _key_to_path(item: Object, path: str) -> Errors:
    errs: Errors = []
    if not text(item, "key"):
        errs.append(required(f"{path}.key"))
    if not text(item, "path"):
        errs.append(required(f"{path}.path"))
    errs += _local_non_reserved_path(text(item, "path"), f"{path}.path")
    return errs + _file_mode(item.get("mode"), f"{path}.mode")


def object_field_selector(selector: Object, allowed: list[str], path: str) -> Errors:
    """ObjectFieldSelector: a supported fieldPath, or a label or annotation picked by a valid key."""
    if not text(selector, "apiVersion"):
        return [required(f"{path}.apiVersion")]
    field_path = text(selector, "fieldPath")
    if not field_path:
        return [required(f"{path}.fieldPath")]
    match = re.fullmatch(r"(metadata\.(?:annotations|labels))\['(.*)'\]", field_path)
    if match:
        key = match.group(2).lower() if match.group(1).endswith("annotations") else match.group(2)
        return [invalid_value(path, key, m) for m in is_qualified_name(key)]
    if field_path not in allowed:
        return [not_supported(f"{path}.fieldPath", field_path, allowed)]
    return []


def resource_field_selector(selector: Object, path: str, volume: bool) -> Errors:
    """ResourceFieldSelector: a container's request or limit (volumes must name the container)."""
    resource = text(selector, "resource")
    if volume and not text(selector, "containerName"):
        return [required(f"{path}.containerName")]
    if not resource:
        return [required(f"{path}.resource")]
    if resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(f"{path}.resource", resource, _RESOURCE_FIELD_PATHS)]
    return []


def _downward_api_file(item: Object, path: str) -> Errors:
    errs: Errors = []
    if not text(item, "path"):
        errs.append(required(f"{path}.path"))
    errs += _local_non_reserved_path(text(item, "path"), f"{path}.path")
    if "fieldRef" in item:
        errs += object_field_selector(mapping(item, "fieldRef"), _VOLUME_FIELD_PATHS, f"{path}.fieldRef")
        if "resourceFieldRef" in item:
            detail = "fieldRef and resourceFieldRef can not be specified simultaneously"
            errs.append(invalid_value(path, "resource", detail))
    elif "resourceFieldRef" in item:
        errs += resource_field_selector(mapping(item, "resourceFieldRef"), f"{path}.resourceFieldRef", True)
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return errs + _file_mode(item.get("mode"), f"{path}.mode")


# --- projected volumes -------------------------------------------------------------------------------------


class _ProjectedPaths:
    """The file paths a projected volume has handed out so far: two sources may not write the same file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen: set[str] = set()

    def claim(self, file_path: str, value: Any) -> Errors:
        if not file_path:
            return []
        errs = [invalid_value(self.path, value, "conflicting duplicate paths")] if file_path in self.seen else []
        self.seen.add(file_path)
        return errs


def _projected_object(body: Object, at: str, paths: _ProjectedPaths) -> Errors:
    errs = [] if text(body, "name") else [required(f"{at}.name")]
    for j, item in enumerate(objects(body, "items")):
        errs += _key_to_path(item, f"{at}.items[{j}]")
        errs += paths.claim(text(item, "path"), text(body, "name"))
    return errs


def _projected_downward_api(body: Object, at: str, paths: _ProjectedPaths) -> Errors:
    errs: Errors = []
    for item in objects(body, "items"):
        errs += _downward_api_file(item, at)
        errs += paths.claim(text(item, "path"), text(item, "path"))
    return errs


def _projected_token(token: Object, at: str, path: str) -> Errors:
    errs: Errors = []
    seconds = token.get("expirationSeconds", 3600)
    if isinstance(seconds, int) and seconds < 600:
        detail = "may not specify a duration less than 10 minutes"
        errs.append(invalid_value(f"{at}.expirationSeconds", seconds, detail))
    if isinstance(seconds, int) and seconds > 1 << 32:
        detail = "may not specify a duration larger than 2^32 seconds"
        errs.append(invalid_value(f"{at}.expirationSeconds", seconds, detail))
    if not text(token, "path"):
        return [*errs, required(f"{path}.path")]
    return errs + _local_non_reserved_path(text(token, "path"), f"{path}.path")


def _projection(projection: Object, at: str, paths: _ProjectedPaths) -> Errors:
    errs: Errors = []
    for kind in ("secret", "configMap"):
        if kind in projection:
            errs += _projected_object(mapping(projection, kind), f"{at}.{kind}", paths)
    if "downwardAPI" in projection:
        errs += _projected_downward_api(mapping(projection, "downwardAPI"), f"{at}.downwardAPI", paths)
    if "serviceAccountToken" in projection:
        token = mapping(projection, "serviceAccountToken")
        errs += _projected_token(token, f"{at}.serviceAccountToken", paths.path)
    if sum(kind in projection for kind in _PROJECTIONS) > 1:
        errs.append(forbidden(at, "may not specify more than 1 volume type per source"))
    return errs


def _projected(source: Object, path: str) -> Errors:
    errs = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    paths = _ProjectedPaths(path)
    for i, projection in enumerate(objects(source, "sources")):
        errs += _projection(projection, f"{path}.sources[{i}]", paths)
    return errs


# --- one check per volume source ---------------------------------------------------------------------------


def _empty_dir(body: Object, at: str) -> Errors:
    if "sizeLimit" in body and quantity(body["sizeLimit"]) < 0:
        return [forbidden(f"{at}.sizeLimit", "SizeLimit field must be a valid resource quantity")]
    return []


def _host_path(body: Object, at: str) -> Errors:
    if not text(body, "path"):
        return [required(f"{at}.path")]
    errs = _path_no_backsteps(text(body, "path"), f"{at}.path")
    if "type" in body and body["type"] not in _HOST_PATH_TYPES:
        errs.append(not_supported(f"{at}.type", body["type"], _HOST_PATH_TYPES))
    return errs


def _key_files(name_field: str) -> Callable[[Object, str], Errors]:
    """The check of a secret or configMap volume, whose referent is named by `name_field`."""

    def check(body: Object, at: str) -> Errors:
        errs = [] if text(body, name_field) else [required(f"{at}.{name_field}")]
        errs += _file_mode(body.get("defaultMode"), f"{at}.defaultMode")
        for i, item in enumerate(objects(body, "items")):
            errs += _key_to_path(item, f"{at}.items[{i}]")
        return errs

    return check


def _nfs(body: Object, at: str) -> Errors:
    errs: Errors = []
    if not text(body, "server"):
        errs.append(required(f"{at}.server"))
    if not text(body, "path"):
        errs.append(required(f"{at}.path"))
    if not text(body, "path").startswith("/"):
        errs.append(invalid_value(f"{at}.path", text(body, "path"), "must be an absolute path"))
    return errs


def _downward_api(body: Object, at: str) -> Errors:
    errs = _file_mode(body.get("defaultMode"), f"{at}.defaultMode")
    for item in objects(body, "items"):
        errs += _downward_api_file(item, at)
    return errs


def _required_field(name: str) -> Callable[[Object, str], Errors]:
    """The check of a source whose only rule here is one required string field."""

    def check(body: Object, at: str) -> Errors:
        return [] if text(body, name) else [required(f"{at}.{name}")]

    return check


_SOURCE_CHECKS: dict[str, Callable[[Object, str], Errors]] = {
    "emptyDir": _empty_dir,
    "hostPath": _host_path,
    "secret": _key_files("secretName"),
    "configMap": _key_files("name"),
    "nfs": _nfs,
    "persistentVolumeClaim": _required_field("claimName"),
    "downwardAPI": _downward_api,
    "projected": _projected,
    "csi": _required_field("driver"),
    "image": _required_field("reference"),
}


def _ephemeral(volume: Object, path: str, pod_name: str) -> Errors:
    """An ephemeral volume's claim is named <pod>-<volume>, so that name must be a valid claim name."""
    if "volumeClaimTemplate" not in mapping(volume, "ephemeral"):
        return [required(f"{path}.ephemeral.volumeClaimTemplate")]
    if not (pod_name and volume.get("name")):
        return []
    claim = f"{pod_name}-{volume['name']}"
    return [
        invalid_value(f"{path}.name", volume["name"], f'PVC name "{claim}": {message}')
        for message in name_is_dns_subdomain(claim, False)
    ]


def _volume_source(volume: Object, path: str, pod_name: str) -> Errors:
    errs: Errors = []
    count = 0
    for kind in _VOLUME_SOURCES:
        if kind not in volume:
            continue
        if count:
            name = _VOLUME_ERROR_NAMES.get(kind, kind)
            errs.append(forbidden(f"{path}.{name}", "may not specify more than 1 volume type"))
            continue
        count += 1
        if kind == "ephemeral":
            errs += _ephemeral(volume, path, pod_name)
        elif kind in _SOURCE_CHECKS:
            errs += _SOURCE_CHECKS[kind](mapping(volume, kind), f"{path}.{kind}")
    if not count:
        errs.append(required(path, "must specify a volume type"))
    return errs


def validate_volumes(volumes: list[Object], path: str, pod_name: str) -> tuple[dict[str, Object], Errors]:
    """ValidateVolumes: returns the volumes that passed (by name) and the errors of the others."""
    errs: Errors = []
    good: dict[str, Object] = {}
    for i, volume in enumerate(volumes):
        at = f"{path}[{i}]"
        volume_errs = _volume_source(volume, at, pod_name)
        name = text(volume, "name")
        if not name:
            volume_errs.append(required(f"{at}.name"))
        else:
            volume_errs += [invalid_value(f"{at}.name", name, m) for m in is_dns1123_label(name)]
        if name in good:
            volume_errs.append(duplicate(f"{at}.name", name))
        if volume_errs:
            errs += volume_errs
        else:
            good[name] = volume
    return good, errs
