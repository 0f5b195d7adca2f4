"""The diagram's boxes and what they say: the pod's title and pattern badges, the network band with its port chips,
one box per container and per volume, and the pattern reasons written out at the bottom."""

from __future__ import annotations

from typing import Any

from dashboard.diagram.model import Pattern, Pod, describe, port_text, short_command, volume_source
from dashboard.diagram.shapes import (
    CHAR_WIDTH,
    NAME_SIZE,
    TEXT_SIZE,
    TITLE_SIZE,
    Badge,
    ContainerBox,
    NetworkBand,
    PortChip,
    Rect,
    Text,
    VolumeBox,
    fit,
    fitted,
    wrap,
)
from dashboard.pod_status import Container

BOX_TEXT_PAD = 14
CHIP_MAX_CHARS = 44
REASON_LINES = 3


def _flow_chips(
    labels: list[tuple[str, str]], left: float, top: float, width: float, max_chars: int | None = None
) -> list[tuple[Rect, Text]]:
    """Place text chips left to right, wrapping into rows inside width; max_chars caps each chip's text."""
    placed, x, y = [], left, top
    cap = width - 20 if max_chars is None else min(width - 20, max_chars * TEXT_SIZE * CHAR_WIDTH)
    for short, full in labels:
        text = fit(short, cap, TEXT_SIZE)
        w = len(text) * TEXT_SIZE * CHAR_WIDTH + 20
        if x > left and x + w > left + width:
            x, y = left, y + 36
        placed.append((Rect(x, y, w, 28), Text(x + 10, y + 20, text, full, TEXT_SIZE, "chip")))
        x += w + 12
    return placed


def header(p: Pod, top: float, left: float, inner_w: float) -> tuple[list[Text], list[Badge], NetworkBand]:
    """The pod's name and meta line, the pattern badges and the network band, top to bottom."""
    texts = [
        fitted(left, top + 36, p.name, inner_w, TITLE_SIZE, "pod-name"),
        fitted(left, top + 62, f"namespace {p.namespace} · node {p.node} · {p.phase}", inner_w, TEXT_SIZE, "meta"),
    ]
    labels = [(f"{b.name}: {', '.join(b.containers)}", b.reason) for b in p.patterns]
    chips = _flow_chips(labels, left, top + 76, inner_w)
    badges = [
        Badge(b.name, b.containers, b.reason, rect, label) for b, (rect, label) in zip(p.patterns, chips, strict=True)
    ]
    y = (chips[-1][0].bottom if chips else top + 70) + 16
    return texts, badges, _network_band(p, left, y, inner_w)


def _network_band(p: Pod, left: float, y: float, inner_w: float) -> NetworkBand:
    """The band that stands for the one IP every container shares, with a chip per container port."""
    band_left = left + 16
    band_texts = [
        fitted(band_left, y + 28, f"Pod IP {p.ip} · hostname {p.hostname}", inner_w - 32, NAME_SIZE - 2, "net-title"),
    ]
    port_specs = [(c.spec["name"], port) for c in p.containers for port in c.spec.get("ports") or []]
    port_labels = [
        (
            f"{port_text(port)}{' ' + port['name'] if port.get('name') else ''} → {c}",
            f"port {port_text(port)}{' (' + port['name'] + ')' if port.get('name') else ''} of container {c}",
        )
        for c, port in port_specs
    ]
    # Capped so that several ports share a row; the container's own box and the hover title give the full name.
    port_chips = _flow_chips(port_labels, band_left, y + 42, inner_w - 32, CHIP_MAX_CHARS)
    after_ports = port_chips[-1][0].bottom + 26 if port_chips else y + 56
    note = "All containers share this IP and reach each other on localhost"
    if p.host_network:
        # The pod has no network of its own: its IP and ports are the node's.
        note = "hostNetwork: the containers use the node's own IP and network"
    band_texts.append(fitted(band_left, after_ports, note, inner_w - 32, TEXT_SIZE, "net-note"))
    return NetworkBand(
        p.ip,
        p.hostname,
        Rect(left, y, inner_w, after_ports + 14 - y),
        tuple(band_texts),
        tuple(
            PortChip(port.get("containerPort", 0), port.get("protocol") or "TCP", port.get("name", ""), c, rect, label)
            for (c, port), (rect, label) in zip(port_specs, port_chips, strict=True)
        ),
    )


def container_box(c: Container, rect: Rect) -> ContainerBox:
    """One container's box at rect: name, kind, image, command, state, readiness and restarts, ports."""
    cls, state_text, kind_text = describe(c)
    ready, restarts = c.ready, c.restarts
    ports = tuple(port_text(p) for p in c.spec.get("ports") or [])
    image, command = c.spec.get("image", ""), short_command(c.spec)
    lines = [
        (c.spec["name"], NAME_SIZE, "name"),
        (kind_text, TEXT_SIZE, "kind"),
        (image, TEXT_SIZE, "image"),
        ("$ " + command, TEXT_SIZE, "command"),
        (state_text, TEXT_SIZE, "state"),
        (f"{'ready' if ready else 'not ready'} · restarts {restarts}", TEXT_SIZE, "ready"),
        ("ports " + ", ".join(ports) if ports else "no ports", TEXT_SIZE, "ports"),
    ]
    x, tw = rect.x + BOX_TEXT_PAD, rect.w - 2 * BOX_TEXT_PAD
    texts = tuple(fitted(x, rect.y + 30 + j * 23, line, tw, size, tcls) for j, (line, size, tcls) in enumerate(lines))
    return ContainerBox(
        c.spec["name"], c.kind, c.order, cls, state_text, image, command, ready, restarts, ports, rect, texts
    )


def volume_box(v: dict[str, Any], rect: Rect, system: bool) -> VolumeBox:
    """One volume's box at rect: name, type and source."""
    vtype, source = volume_source(v)
    x, tw = rect.x + BOX_TEXT_PAD, rect.w - 2 * BOX_TEXT_PAD
    texts = (
        fitted(x, rect.y + 30, v["name"], tw, NAME_SIZE, "name"),
        fitted(x, rect.y + 54, vtype + (" · system" if system else ""), tw, TEXT_SIZE, "type"),
        fitted(x, rect.y + 77, source or "—", tw, TEXT_SIZE, "source"),
    )
    return VolumeBox(v["name"], vtype, source, system, rect, texts)


def reasons(patterns: tuple[Pattern, ...], left: float, top: float, inner_w: float) -> tuple[list[Text], float]:
    """Each pattern's reason in words, wrapped, from top down; and the y where they end."""
    texts, bottom = [], top
    for pattern in patterns:
        full = f"{pattern.name}: {pattern.reason}"
        for line in wrap(full, inner_w, TEXT_SIZE, REASON_LINES):
            bottom += 22
            texts.append(Text(left, bottom, line, full, TEXT_SIZE, "reason"))
        bottom += 4
    return texts, bottom
