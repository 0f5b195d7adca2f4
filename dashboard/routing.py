from __future__ import annotations

from django.urls import path

from dashboard import consumers

websocket_urlpatterns = [
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/", consumers.PodListConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/", consumers.PodConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/logs/", consumers.LogConsumer.as_asgi()),
    path("ws/c/<str:cluster>/ns/<str:namespace>/pods/<str:name>/exec/", consumers.ExecConsumer.as_asgi()),
]
