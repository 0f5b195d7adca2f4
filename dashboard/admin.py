from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.http import HttpRequest

from dashboard.models import SessionRecord

# ModelAdmin is generic only to the type checker; Django's class takes no type argument at run time.
if TYPE_CHECKING:
    _RecordAdmin = admin.ModelAdmin[SessionRecord]
else:
    _RecordAdmin = admin.ModelAdmin

admin.site.site_header = "Podscope administration"
admin.site.site_title = "Podscope admin"
admin.site.index_title = "Users, audit and cluster settings"


@admin.register(SessionRecord)
class SessionRecordAdmin(_RecordAdmin):
    """The audit trail, to read and search: nobody adds, edits or deletes a record, superusers included."""

    list_display = [
        *("started", "username", "kind", "cluster", "namespace", "pod", "container", "command", "port"),
        *("client", "allowed", "ended", "exit_code", "bytes_in", "bytes_out"),
    ]
    list_filter = ["kind", "allowed", "cluster"]
    search_fields = ["username", "pod", "container", "command"]
    date_hierarchy = "started"
    # A large trail is searched often: skip the extra unfiltered COUNT(*) on every search.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: SessionRecord | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SessionRecord | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SessionRecord | None = None) -> bool:
        return False
