"""The pod table: kubectl get pods -o wide as rows, filtered by name and label selector, sorted and paged."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from dashboard import pod_status
from dashboard.durations import age
from kubetext import pods, selectors

NONE = "<none>"
PER_PAGE = 100

# --- rows -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodRow:
    name: str
    namespace: str
    ready: str
    status: str
    status_class: str
    restarts: str
    age: str
    ip: str
    node: str
    labels: tuple[tuple[str, str], ...]
    nominated_node: str
    readiness_gates: str


def row(pod: dict[str, Any], now: datetime) -> PodRow:
    """One row of kubectl get pods -o wide, with the labels and a colour class for the status."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    summary = pod_status.summarise(pod)
    return PodRow(
        name=meta.get("name", ""),
        namespace=meta.get("namespace") or "default",
        ready=summary.ready_text,
        status=summary.reason,
        status_class=summary.status_class,
        restarts=summary.restarts_text(now),
        age=age(meta.get("creationTimestamp"), now),
        ip=pods.pod_ip(pod),
        node=spec.get("nodeName") or NONE,
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        nominated_node=status.get("nominatedNodeName") or NONE,
        readiness_gates=pods.readiness_gates(pod),
    )


# --- filtering ------------------------------------------------------------------------------------------------


def filter_pods(pods: Iterable[dict[str, Any]], name: str = "", selector: str = "") -> list[dict[str, Any]]:
    """The pods whose name contains name (ignoring case) and whose labels match selector, sorted by name.

    A selector Kubernetes would refuse raises SelectorError with apimachinery's message."""
    matches = selectors.parse(selector).matches
    needle = name.strip().casefold()

    def keep(pod: dict[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        return needle in (meta.get("name") or "").casefold() and matches(meta.get("labels") or {})

    def key(pod: dict[str, Any]) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return meta.get("name") or "", meta.get("namespace") or ""

    return sorted((p for p in pods if keep(p)), key=key)


# --- paging ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]
    number: int
    pages: int
    total: int
    first: int
    last: int

    @property
    def previous(self) -> int | None:
        """The number of the page before this one, or None on the first page."""
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        """The number of the page after this one, or None on the last page."""
        return self.number + 1 if self.number < self.pages else None


def paginate(items: Sequence[Any], number: int, per_page: int = 100) -> Page:
    """Page number (1-based, clamped into range) of items; first and last are the 1-based positions shown."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    number = min(max(number, 1), pages)
    start = (number - 1) * per_page
    chunk = tuple(items[start : start + per_page])
    return Page(chunk, number, pages, total, start + 1 if chunk else 0, start + len(chunk))


# --- the pod table as a page shows it -------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """What the pod list was asked for: a name filter, a label selector and a page number."""

    name: str = ""
    selector: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        """Read q, selector and page from query parameters, forgiving anything malformed."""
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            page = 1
        return cls(
            name=(params.get("q") or "").strip()[:253],
            selector=(params.get("selector") or "").strip()[:2000],
            page=max(page, 1),
        )

    def urlencode(self, page: int | None = None) -> str:
        """The query string for this query (at another page if given), leaving out what is empty."""
        number = self.page if page is None else page
        pairs = [("q", self.name), ("selector", self.selector), ("page", str(number) if number > 1 else "")]
        return urlencode([(key, value) for key, value in pairs if value])


@dataclass(frozen=True)
class Table:
    """One page of the pod table, ready for the template."""

    page: Page
    total: int  # pods in the namespace, before filtering
    filtered: bool
    error: str
    prev_params: str
    next_params: str


def table(pods: Iterable[dict[str, Any]], query: Query, now: datetime, per_page: int = PER_PAGE) -> Table:
    """Filter, sort and page the namespace's pods; only the shown page is turned into rows."""
    everything = list(pods)
    error = ""
    try:
        kept = filter_pods(everything, query.name, query.selector)
    except selectors.SelectorError as exc:
        kept, error = [], f"Not a valid label selector: {exc}"
    page = paginate(kept, query.page, per_page)
    page = Page(tuple(row(p, now) for p in page.items), page.number, page.pages, page.total, page.first, page.last)
    return Table(
        page=page,
        total=len(everything),
        filtered=bool(query.name or query.selector),
        error=error,
        prev_params=query.urlencode(page.previous or 1),
        next_params=query.urlencode(page.next or page.pages),
    )
