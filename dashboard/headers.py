"""Response headers that limit what a page of Podscope's may run or load: the Content-Security-Policy of every
page, and the headers of static files (which bypass Django's middleware).

Every script Podscope runs comes from its own static files: no inline script, no event-handler attributes, no
eval (htmx's is switched off in base.html). A page may only connect back to Podscope (its websockets included),
may not be framed, and may post forms only to Podscope. Answers from a pod's port carry their own, stricter policy
(a sandbox, dashboard/proxy.py) and are left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# A static file opened on its own (an SVG, say) is a document too: it may show itself and nothing more.
STATIC_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; sandbox"


def policy(*, inline_styles: bool = False) -> str:
    """The Content-Security-Policy of a page; `inline_styles` for pages whose library writes <style> elements."""
    directives = dict(POLICY)
    if inline_styles:
        directives["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def inline_styles(view: Callable[..., Any]) -> Callable[..., Any]:
    """Let a page's scripts add <style> elements (xterm.js's renderer writes its cell metrics and colours so)."""

    def mark(response: HttpResponse) -> HttpResponse:
        response.csp_inline_styles = True  # type: ignore[attr-defined]
        return response

    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
            return mark(await view(*args, **kwargs))

        return async_wrapper

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
        return mark(view(*args, **kwargs))

    return wrapper


def _with_policy(response: HttpResponseBase) -> HttpResponseBase:
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = policy(inline_styles=getattr(response, "csp_inline_styles", False))
    return response


@sync_and_async_middleware
def content_security_policy(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    """Give every response the Content-Security-Policy, unless it carries its own."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            return _with_policy(await get_response(request))

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        # Django gives a middleware in a sync chain a get_response that answers at once.
        return _with_policy(cast(HttpResponseBase, get_response(request)))

    return middleware


class StaticHeaders:
    """ASGI middleware: the headers Django's SecurityMiddleware would give, on static files served by the app."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", STATIC_POLICY.encode()),
        (b"referrer-policy", b"same-origin"),
    )

    NOT_FOUND = [(b"content-type", b"text/plain; charset=utf-8")]

    def __init__(self, application: Callable[..., Awaitable[None]]) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(settings.STATIC_URL):
            await self.application(scope, receive, send)
            return

        started = False
        if scope.get("method") not in ("GET", "HEAD"):
            # Files are only read; and Django's static handler would read a posted form to render its 404.
            headers = [*self.NOT_FOUND, (b"allow", b"GET, HEAD"), *self.HEADERS]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": b"Static files are only read (GET or HEAD).\n"})
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self.HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.application(scope, receive, send_with_headers)
        except SuspiciousOperation:
            # Django's static handler raises (and the server would answer 500) for a path that climbs out of
            # the static root, such as /static/../settings.py: there is no such file.
            if started:
                raise
            await send_with_headers({"type": "http.response.start", "status": 404, "headers": self.NOT_FOUND})
            await send_with_headers({"type": "http.response.body", "body": b"Not found.\n"})
