"""Failed sign-ins: the limits django-axes applies, and the page a refused sign-in gets (docs/permissions.md)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


class AxesHttpRequest(HttpRequest):
    """A request as axes hands it over, with the client address its handler recorded (None if unknown)."""

    axes_ip_address: str | None


def _recent(request: HttpRequest, **match: str | None) -> QuerySet[AccessAttempt]:
    """The failures axes still counts (newer than the cool-off) that match `match`."""
    # axes ships no type information, so its model's queries are untyped.
    recent: QuerySet[AccessAttempt] = AccessAttempt.objects.filter(
        attempt_time__gte=get_cool_off_threshold(request), **match
    )
    return recent


def _account_locked(request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
    username = get_client_username(request, credentials)
    failures = _recent(request, username=username).aggregate(total=Sum("failures_since_start"))["total"] or 0
    return failures >= settings.PODSCOPE_LOGIN_FAILURES


def failure_limit(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """The limit axes compares with the larger of the account's and the client address's failure counts.

    Axes has one limit for all of AXES_LOCKOUT_PARAMETERS. The account's own limit is answered only once the
    account has reached it; otherwise the account count is below both limits, so only an address with
    PODSCOPE_LOGIN_ADDRESS_FAILURES failures (on any accounts) can reach the answer.
    """
    if _account_locked(request, credentials):
        return settings.PODSCOPE_LOGIN_FAILURES
    return settings.PODSCOPE_LOGIN_ADDRESS_FAILURES


def lockout_response(request: AxesHttpRequest, *_: object) -> HttpResponse:
    """The 429 page for a sign-in axes refused: what happened, and in how many minutes to try again."""
    # Axes calls this with (request, response, credentials) from sync code and (request, credentials) from
    # async code; the username it needs is in request.POST either way.
    username = get_client_username(request)
    by_account = _account_locked(request)
    counted = {"username": username} if by_account else {"ip_address": request.axes_ip_address}
    last = _recent(request, **counted).aggregate(last=Max("attempt_time"))["last"] or timezone.now()
    cool_off = get_cool_off(request) or timedelta(minutes=1)
    # The lock lifts once the newest counted failure is older than the cool-off.
    wait = max(last + cool_off - timezone.now(), timedelta(seconds=1))
    context = {
        "username": username,
        "by_account": by_account,
        "limit": settings.PODSCOPE_LOGIN_FAILURES if by_account else settings.PODSCOPE_LOGIN_ADDRESS_FAILURES,
        "cool_off_minutes": math.ceil(cool_off.total_seconds() / 60),
        "minutes": math.ceil(wait.total_seconds() / 60),
    }
    response = render(request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(math.ceil(wait.total_seconds()))
    return response
