from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
    verbose_name = "Podscope"

    def ready(self) -> None:
        from dashboard.permissions import ensure_groups

        # After auth has created this app's permissions (its own post_migrate handler runs first).
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="podscope-groups")
