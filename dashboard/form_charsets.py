"""Refuse form bodies declared in a character set Podscope does not read, before anything parses them.

Django reads forms as UTF-8 only: an urlencoded body with any other declared charset raises BadRequest the
first time `request.POST` is read. When that first read is CsrfViewMiddleware's, Django's 400 and 500 handlers
(both `requires_csrf_token`) read `request.POST` again, raise again, and the client gets a bare 500. A
multipart body is worse: its declared charset is used to decode the fields, so `charset=utf-7` turns
`+ADw-script+AD4-` into `<script>`. Unknown names (`charset=nope`) are silently read as UTF-8.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# Codec names as codecs.lookup() spells them; ASCII is a subset of UTF-8, so it is read as UTF-8.
READABLE = {"utf-8", "ascii"}
REFUSAL = (
    "Podscope reads form data only as UTF-8, and this request declared another character set. "
    "Send it again without a charset, or with charset=utf-8.\n"
)


def refusal(request: HttpRequest) -> HttpResponse | None:
    """A 415 for a form body in a charset other than UTF-8 (or ASCII); None for everything else."""
    # Django sets the content type and its parameters together, from the Content-Type header.
    if request.content_type not in FORM_TYPES or request.content_params is None:
        return None
    charset = request.content_params.get("charset")
    if charset is None:
        return None
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        name = None
    if name not in READABLE:
        return HttpResponse(REFUSAL, status=415, content_type="text/plain; charset=utf-8")
    # Django compares the name literally with "utf-8": "UTF8" or "us-ascii" would still be refused there.
    request.encoding = "utf-8"
    return None


@sync_and_async_middleware
def form_charset_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    """Answer 415 with a sentence to a form body Podscope cannot read, for every route."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            return refusal(request) or await get_response(request)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        # Django gives a middleware in a sync chain a get_response that answers at once.
        return refusal(request) or cast(HttpResponseBase, get_response(request))

    return middleware
