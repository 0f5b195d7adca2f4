from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate, post_save


class DashboardConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboard"
    verbose_name = "Podscope"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model, user_logged_out
        from django.contrib.auth.models import Group

        from dashboard.permissions import ensure_groups
        from dashboard.sockets.registry import rights_changed, signed_out

        # After auth has created this app's permissions (its own post_migrate handler runs first).
        post_migrate.connect(ensure_groups, sender=self, dispatch_uid="podscope-groups")
        # Open websockets follow their person's rights: signing out closes them at once, and a change to an
        # account, its groups or a group's permissions has them checked again right away.
        user_logged_out.connect(signed_out, dispatch_uid="podscope-sockets-signed-out")
        user = get_user_model()
        post_save.connect(rights_changed, sender=user, dispatch_uid="podscope-sockets-user")
        m2m_changed.connect(rights_changed, sender=user.groups.through, dispatch_uid="podscope-sockets-groups")
        m2m_changed.connect(
            rights_changed, sender=user.user_permissions.through, dispatch_uid="podscope-sockets-user-perms"
        )
        m2m_changed.connect(
            rights_changed, sender=Group.permissions.through, dispatch_uid="podscope-sockets-group-perms"
        )
