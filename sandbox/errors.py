"""API errors as the Kubernetes API server reports them: a Status object and an HTTP code.

Every failure the sandbox answers goes through `ApiError`, so clients (kubectl, the Python client)
always get a `metav1.Status` body whose reason and message read like the real server's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_NO_VALUE = object()

# field.ErrorType -> the reason written into a Status cause (apimachinery/pkg/util/validation/field).
_REASONS = {
    "Not found": "FieldValueNotFound",
    "Required value": "FieldValueRequired",
    "Duplicate value": "FieldValueDuplicate",
    "Invalid value": "FieldValueInvalid",
    "Unsupported value": "FieldValueNotSupported",
    "Forbidden": "FieldValueForbidden",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
    "Internal error": "InternalError",
    "Invalid value type": "FieldValueTypeInvalid",
}
# Error types whose message shows the offending value, as field.Error.ErrorBody does.
_SHOWS_VALUE = {"Not found", "Duplicate value", "Invalid value", "Unsupported value", "Too long", "Too many"}


def go_repr(value: Any) -> str:
    """Render a value the way apimachinery's field errors print it (strings quoted, others bare)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def go_value(value: Any) -> str:
    """Render a decoded JSON value as Go's %v (or %+v) prints it from a map[string]interface{}.

    Go decodes every JSON number into a float64, so 2.0 prints as 2.
    """
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    # %v of a float64 is strconv's shortest 'g' form with exponents from 1e21 up.
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{abs(int(exponent)):02d}"
    return text


def json_kind(value: Any) -> str:
    """The name Go's JSON decoder gives a decoded value's type in `json: cannot unmarshal <name> into ...`."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class FieldError:
    """One field validation error (field.Error): its type, the JSON path, the bad value and a detail."""

    type: str
    field: str
    value: Any = _NO_VALUE
    detail: str = ""

    @property
    def reason(self) -> str:
        return _REASONS[self.type]

    def body(self) -> str:
        text = self.type
        if self.type in _SHOWS_VALUE and self.value is not _NO_VALUE:
            text = f"{self.type}: {go_repr(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}" if self.field else self.body()

    def cause(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.body(), "field": self.field}


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("Required value", path, detail=detail)


def invalid_value(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Invalid value", path, value, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("Duplicate value", path, value)


def not_found_value(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Not found", path, value, detail)


def not_supported(path: str, value: Any, supported: list[str]) -> FieldError:
    return FieldError("Unsupported value", path, value, "supported values: " + ", ".join(f'"{s}"' for s in supported))


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("Forbidden", path, detail=detail)


def too_long(path: str, limit: int) -> FieldError:
    """field.TooLong: the server shows only the limit, never the (possibly huge) value."""
    return FieldError("Too long", path, detail=f"may not be more than {limit} bytes")


@dataclass(frozen=True)
class _GoValueError(FieldError):
    """A field error whose value is already rendered the way Go's %#v prints it (structs, slices)."""

    def body(self) -> str:
        text = f"{self.type}: {self.value}"
        return f"{text}: {self.detail}" if self.detail else text


def go_invalid(path: str, rendered: str, detail: str) -> FieldError:
    """field.Invalid for a value Go prints with %#v, such as []string{"a"}."""
    return _GoValueError("Invalid value", path, rendered, detail)


def go_duplicate(path: str, rendered: str) -> FieldError:
    """field.Duplicate for a value Go prints with %#v, such as a core.ServicePort struct."""
    return _GoValueError("Duplicate value", path, rendered)


def _joined(errors: list[FieldError]) -> str:
    """An error list's text: one error bare, several in brackets."""
    return str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"


@dataclass
class ApiError(Exception):
    """An error answered as a Status object with an HTTP status code."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        # Go's Status omits an empty reason (plain errors that are not StatusErrors).
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource: str, name: str, group: str = "") -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def qualified(resource: str, group: str = "") -> str:
    """`pods` or `deployments.apps`: how messages name a resource."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified(resource, group)} "{name}" not found', _details(resource, name, group)
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(resource, group)} "{name}" already exists',
        _details(resource, name, group),
    )


def conflict(resource: str, name: str, why: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
        _details(resource, name, group),
    )


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiError:
    """422 Invalid, formatted as apierrors.NewInvalid does: one error bare, several in brackets."""
    text = _joined(errors)
    qualified_kind = f"{kind}.{group}" if group else kind
    # Go omits empty detail fields.
    details: dict[str, Any] = {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}
    details["causes"] = [e.cause() for e in errors]
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {text}', details)


def aggregate(errors: list[FieldError]) -> ApiError:
    """A bare aggregate of field errors, as a REST handler returns it: the server answers a 500 with no reason."""
    return ApiError(500, "", _joined(errors))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden_request(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def method_not_allowed(method: str = "") -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unknown_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")
