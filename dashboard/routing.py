from __future__ import annotations

from django.urls import URLPattern

# Consumers are added here as the pages that need live updates arrive.
websocket_urlpatterns: list[URLPattern] = []
