"""ConfigMaps, Secrets and ServiceAccounts: data keys, sizes, immutability, and each Secret type's keys."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kubetext.formats import byte_length, is_config_map_key
from sandbox.api.validation.fields import Errors, Object, immutable, keyed, mapping, text
from sandbox.api.validation.metadata import name_is_dns_subdomain, validate_object_meta, validate_object_meta_update
from sandbox.errors import forbidden, invalid_value, required, too_long

_MAX_SECRET_SIZE = 1024 * 1024
_REDACTED = "<secret contents redacted>"
_DOCKER_CONFIG_KEYS = {
    "kubernetes.io/dockercfg": ".dockercfg",
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
}


def _decoded_length(value: Any) -> int:
    try:
        return len(base64.b64decode(value if isinstance(value, str) else "", validate=False))
    except (binascii.Error, ValueError):
        return 0


def _data_keys(data: Object, path: str) -> Errors:
    errs: Errors = []
    for key in data:
        errs += [invalid_value(keyed(path, key), key, m) for m in is_config_map_key(key)]
    return errs


def _immutable_data(new: Object, old: Object, fields: tuple[str, ...]) -> Errors:
    errs: Errors = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for name in fields:
            if (new.get(name) or {}) != (old.get(name) or {}):
                errs.append(forbidden(name, "field is immutable when `immutable` is set"))
    return errs


def validate_config_map(cm: Object) -> Errors:
    """ValidateConfigMap: valid keys, no key in both data and binaryData, 1 MiB in all."""
    errs = validate_object_meta(mapping(cm, "metadata"), True, name_is_dns_subdomain)
    data, binary = mapping(cm, "data"), mapping(cm, "binaryData")
    size = 0
    for key, value in data.items():
        errs += [invalid_value(keyed("data", key), key, m) for m in is_config_map_key(key)]
        if key in binary:
            errs.append(invalid_value(keyed("data", key), key, "duplicate of key present in binaryData"))
        size += byte_length(value if isinstance(value, str) else "")
    errs += _data_keys(binary, "binaryData")
    size += sum(_decoded_length(value) for value in binary.values())
    if size > _MAX_SECRET_SIZE:
        errs.append(too_long("", _MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(new: Object, old: Object) -> Errors:
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    errs += _immutable_data(new, old, ("data", "binaryData"))
    return errs + validate_config_map(new)


def _docker_config(data: Object, key: str) -> Errors:
    if key not in data:
        return [required(keyed("data", key))]
    try:
        parsed = json.loads(base64.b64decode(data[key]))
    except (ValueError, binascii.Error) as err:
        return [invalid_value(keyed("data", key), _REDACTED, str(err))]
    if isinstance(parsed, dict):
        return []
    kind_name = "array" if isinstance(parsed, list) else type(parsed).__name__
    detail = f"json: cannot unmarshal {kind_name} into Go value of type map[string]interface {{}}"
    return [invalid_value(keyed("data", key), _REDACTED, detail)]


def _secret_type(kind: str, meta: Object, data: Object) -> Errors:
    """The keys each built-in Secret type requires."""
    if kind == "kubernetes.io/service-account-token":
        if text(mapping(meta, "annotations"), "kubernetes.io/service-account.name"):
            return []
        return [required(keyed("metadata.annotations", "kubernetes.io/service-account.name"))]
    if kind in _DOCKER_CONFIG_KEYS:
        return _docker_config(data, _DOCKER_CONFIG_KEYS[kind])
    if kind == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        return [required(keyed("data", "username")), required(keyed("data", "password"))]
    if kind == "kubernetes.io/ssh-auth" and not _decoded_length(data.get("ssh-privatekey")):
        return [required(keyed("data", "ssh-privatekey"))]
    if kind == "kubernetes.io/tls":
        return [required(keyed("data", key)) for key in ("tls.crt", "tls.key") if key not in data]
    return []


def validate_secret(secret: Object) -> Errors:
    """ValidateSecret: valid keys, 1 MiB of decoded data, and what the Secret's type requires."""
    meta = mapping(secret, "metadata")
    errs = validate_object_meta(meta, True, name_is_dns_subdomain)
    data = mapping(secret, "data")
    errs += _data_keys(data, "data")
    if sum(_decoded_length(value) for value in data.values()) > _MAX_SECRET_SIZE:
        errs.append(too_long("data", _MAX_SECRET_SIZE))
    return errs + _secret_type(text(secret, "type"), meta, data)


def validate_secret_update(new: Object, old: Object) -> Errors:
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    errs += immutable(text(new, "type"), text(old, "type"), "type")
    errs += _immutable_data(new, old, ("data",))
    return errs + validate_secret(new)


def validate_service_account(account: Object) -> Errors:
    return validate_object_meta(mapping(account, "metadata"), True, name_is_dns_subdomain)


def validate_service_account_update(new: Object, old: Object) -> Errors:
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    return errs + validate_service_account(new)
