from __future__ import annotations

from django.urls import path

from dashboard.sockets import live, logs, terminals

websocket_urlpatterns = [
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/", live.PodListConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/", live.PodConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/logs/", logs.LogConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/exec/", terminals.ExecConsumer.as_asgi()),
]
