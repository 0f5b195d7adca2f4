"""The ASGI entry point: `python -m dashboard.server dashboard.asgi:application` serves pages, static files and
websockets (daphne with Podscope's graceful stop and protocol limits; plain daphne serves it too)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
# Set up Django before importing anything that touches models (channels' auth, our consumers).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from dashboard.headers import StaticHeaders  # noqa: E402
from dashboard.origins import OriginValidator  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402

# Django only serves static files itself under DEBUG; Podscope usually runs alone under daphne with
# DEBUG off, so the handler is wrapped in explicitly unless a front proxy serves /static/.
http_application = (
    StaticHeaders(ASGIStaticFilesHandler(django_asgi_app)) if settings.PODSCOPE_SERVE_STATIC else django_asgi_app
)

application = ProtocolTypeRouter(
    {
        "http": http_application,
        # Only the dashboard's own origin (scheme, host and port) may open a socket; see dashboard/origins.py.
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
