"""Template tags of Podscope's own."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from dashboard.origins import port_token

register = template.Library()


@register.simple_tag(takes_context=True)
def port_url(context: dict[str, Any], port: int) -> str:
    """The link that opens `port` of the page's pod through the port proxy, with its token (dashboard/origins.py).

    The context names the pod (`cluster`, `namespace`, `name`) and carries the session's `port_key`.
    """
    cluster, namespace, name = context["cluster"].id, context["namespace"], context["name"]
    token = port_token(context.get("port_key", ""), cluster, namespace, name, int(port))
    return reverse("pod-port", args=[cluster, namespace, name, port, token])
