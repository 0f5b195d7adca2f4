from __future__ import annotations

from typing import TYPE_CHECKING, cast

from channels.consumer import AsyncConsumer
from django.urls.resolvers import RoutePattern, URLPattern

from dashboard.sockets import live, logs, terminals

if TYPE_CHECKING:
    from channels.routing import URLRouter, _ExtendedURLPattern


def websocket_path(route: str, consumer: type[AsyncConsumer]) -> _ExtendedURLPattern:
    """Django's `path(route, view)` for a consumer: the same route matching, the consumer's ASGI application called."""
    pattern = URLPattern(RoutePattern(route, is_endpoint=True), consumer.as_asgi())
    # channels-stubs type URLRouter's routes as a check-only URLPattern whose callback is an ASGI application;
    # neither those stubs nor django-stubs build one (django-stubs' path() takes only views), so it is named here.
    return cast("_ExtendedURLPattern", pattern)


websocket_urlpatterns: list[_ExtendedURLPattern | URLRouter] = [
    websocket_path("ws/c/<str:cluster>/ns/<str:namespace>/pods/", live.PodListConsumer),
    websocket_path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/", live.PodConsumer),
    websocket_path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/logs/", logs.LogConsumer),
    websocket_path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/exec/", terminals.ExecConsumer),
]
