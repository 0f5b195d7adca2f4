from __future__ import annotations

from django.contrib import admin

admin.site.site_header = "Podscope administration"
admin.site.site_title = "Podscope admin"
admin.site.index_title = "Users, audit and cluster settings"
