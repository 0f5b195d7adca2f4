"""Error pages that never read the request's body.

Django's own error views run the CSRF check (`requires_csrf_token`), which parses a posted form: a form that is
too large or malformed then raised again while its error page was being made, and the person got a 500 instead
of the 400, 403 or 404 it deserved. These render the same templates and leave the body alone; the pages' forms
(the header's sign-out) still get their token, which the template asks for only when it renders.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # Without the request: whatever failed (the database, a context processor) must not fail this page too.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
