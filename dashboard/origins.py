"""Who may drive Podscope from a browser: its own origin only, proven twice.

Browsers send a site's cookies to every port and scheme of its host, so a page served on another local port (a
pod's page opened with `kubectl port-forward`, say) could otherwise open Podscope's websockets, or send requests
into pods through the port proxy, as the signed-in user. Two layers stop it:

1. **Origin.** A websocket handshake must carry the dashboard's own origin (scheme, host and port exactly, as
   Django's CSRF check compares them) or one of `CSRF_TRUSTED_ORIGINS`; anything else is refused before the
   socket opens (`OriginValidator`).
2. **Tokens bound to the session.** Pages carry an HMAC of the session key that their sockets send back in the
   URL (`socket_token`); links into a pod's port carry one bound to the session and to that pod and port
   (`port_token`). Another origin can neither read them from Podscope's pages nor compute them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.http import is_same_domain

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope
    from channels.utils import _ChannelApplication

log = logging.getLogger(__name__)

SOCKET_SALT = "podscope.sockets.token"
PORT_SALT = "podscope.ports.token"
# 128 bits of an HMAC-SHA256 are plenty for a token that is only good with the session cookie beside it.
TOKEN_LENGTH = 32


def _allowed_hosts() -> list[str]:
    # As Django's HttpRequest.get_host(): with DEBUG and no ALLOWED_HOSTS, local names are allowed.
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def _header(scope: _ChannelScope, name: bytes) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def origin_allowed(scope: _ChannelScope) -> bool:
    """Whether a websocket handshake comes from the dashboard's own origin or a configured trusted one."""
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    host = _header(scope, b"host") or ""
    domain, _ = split_domain_port(host)
    if domain and validate_host(domain, _allowed_hosts()):
        secure = scope.get("scheme") in ("wss", "https")
        if origin == f"{'https' if secure else 'http'}://{host}":
            return True
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    # CSRF_TRUSTED_ORIGINS may name subdomains with a wildcard, "https://*.example.edu", as Django allows.
    wildcards = [urlsplit(t) for t in trusted if "://*." in t]
    return any(parts.scheme == w.scheme and is_same_domain(parts.netloc, w.netloc[1:]) for w in wildcards)


class OriginValidator:
    """ASGI middleware: refuse (HTTP 403, before the socket opens) websockets from any other origin."""

    def __init__(self, application: _ChannelApplication) -> None:
        # What channels' stacks make: an application called once per connection (ASGI 3), not an ASGI 2 class.
        assert not isinstance(application, type)
        self.application = application

    async def __call__(self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            client = (scope.get("client") or ("?",))[0]
            log.warning(
                "refused a websocket to %s from origin %r (client %s)",
                scope.get("path"),
                _header(scope, b"origin"),
                client,
            )
            await WebsocketDenier()(scope, receive, send)
            return
        await self.application(scope, receive, send)


def _digest(salt: str, value: str) -> str:
    return salted_hmac(salt, value, algorithm="sha256").hexdigest()[:TOKEN_LENGTH]


def socket_token(session_key: str | None) -> str:
    """The token a page passes when it opens one of Podscope's websockets ("" without a session)."""
    return _digest(SOCKET_SALT, session_key) if session_key else ""


def socket_token_valid(session_key: str | None, token: str) -> bool:
    return bool(session_key and token) and constant_time_compare(socket_token(session_key), token)


def port_key(session_key: str | None) -> str:
    """A per-session secret from which links into pods' ports are made (never sent to a browser)."""
    return _digest(PORT_SALT, session_key) if session_key else ""


def port_token(key: str, cluster: str, namespace: str, pod: str, port: int) -> str:
    """The token in a link to one pod's port: good for that session, cluster, namespace, pod and port only.

    A pod's own page can read its URL, so it learns the token of its own port, which it can already reach, and
    of nothing else.
    """
    return _digest(PORT_SALT, f"{key}\n{cluster}\n{namespace}\n{pod}\n{port}") if key else ""


def port_token_valid(session_key: str | None, token: str, cluster: str, namespace: str, pod: str, port: int) -> bool:
    expected = port_token(port_key(session_key), cluster, namespace, pod, port)
    return bool(expected and token) and constant_time_compare(expected, token)
