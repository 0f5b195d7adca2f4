"""Podscope's permissions and the two groups that bundle them (see docs/permissions.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

VIEW_PODS = "dashboard.view_pods"
READ_LOGS = "dashboard.read_logs"
EXEC_PODS = "dashboard.exec_pods"
WRITE_PODS = "dashboard.write_pods"

GROUPS = {
    "Viewers": ("view_pods", "read_logs"),
    "Operators": ("view_pods", "read_logs", "exec_pods", "write_pods"),
}


def ensure_groups(**_: object) -> None:
    """Create the standard groups after migrate, adding any permission they lack and removing none."""
    from django.contrib.auth.models import Group, Permission

    for name, codenames in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="dashboard", codename__in=codenames))


def capabilities(user: User | AnonymousUser) -> dict[str, bool]:
    """What the templates need to know to show or hide buttons."""
    return {
        "view": user.has_perm(VIEW_PODS),
        "logs": user.has_perm(READ_LOGS),
        "exec": user.has_perm(EXEC_PODS),
        "write": user.has_perm(WRITE_PODS),
    }
