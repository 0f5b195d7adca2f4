from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from dashboard import views
from dashboard.audit import pages as audit_pages

# Below a pod's address, c/<cluster>/ns/<namespace>/pods/<name>/.
pod_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.pod_detail, name="pod-detail"),
    path("diagram/", views.pod_diagram, name="pod-diagram"),
    path("delete/", views.pod_delete, name="pod-delete"),
    path("log/", views.pod_log, name="pod-log"),
    path("terminal/", views.pod_terminal, name="pod-terminal"),
    # A link into a pod's port carries a token bound to the session and that port (dashboard/origins.py); without
    # it, the bare address offers the link on a page of Podscope's own.
    path("port/<int:port>/", views.pod_port_open, name="pod-port-open"),
    path("port/<int:port>/<str:token>/", views.pod_port, name="pod-port"),
    path("port/<int:port>/<str:token>/<path:rest>", views.pod_port, name="pod-port"),
]

# Below a cluster's address, c/<cluster>/.
cluster_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.cluster_home, name="cluster-home"),
    path("ns/<str:namespace>/pods/", views.pod_list, name="pod-list"),
    path("ns/<str:namespace>/pods/<str:name>/", include(pod_urlpatterns)),
    path("preview/", views.preview, name="preview"),
    path("examples/", views.example_list, name="example-list"),
    path("examples/<slug:slug>/apply/", views.example_apply, name="example-apply"),
]

# LoginRequiredMiddleware guards every view here; only the auth views opt out.
urlpatterns = [
    path("", views.home, name="home"),
    path("c/<str:cluster>/", include(cluster_urlpatterns)),
    path("audit/", audit_pages.audit_list, name="audit-list"),
    path("audit/<int:pk>/replay/", audit_pages.audit_replay, name="audit-replay"),
    path("audit/<int:pk>/cast", audit_pages.audit_cast, name="audit-cast"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/login/<str:token>/", views.login_token, name="login-token"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

# Error pages that do not parse the request's body again (see dashboard/errors.py).
handler400 = "dashboard.errors.bad_request"
handler403 = "dashboard.errors.permission_denied"
handler404 = "dashboard.errors.page_not_found"
handler500 = "dashboard.errors.server_error"
