"""Staff pages of the audit trail: every terminal and port-forward attempt, and replays of recorded terminals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header

from dashboard import asciicast
from dashboard.headers import inline_styles
from dashboard.models import SessionRecord
from dashboard.views import Problem, refuse_unless

PAGE_SIZE = 100
# Idle gaps longer than this are shortened when replaying, as asciinema's idle_time_limit does.
IDLE_LIMIT = 2.0
# A recording is handed to the browser whole; past this size it is only offered for download.
MAX_REPLAY_BYTES = 16 * 1024 * 1024
CHUNK = 64 * 1024
OUTCOMES = {"allowed": True, "refused": False}


# Refuses (403) a view to users who are not staff; answers Problem with its own page.
staff_only = refuse_unless(lambda user: user.is_staff)


@dataclass
class Filters:
    """The audit list's filters as given in the query string, and a sentence for each one that made no sense."""

    user: str = ""
    kind: str = ""
    outcome: str = ""
    pod: str = ""
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: QueryDict) -> Filters:
        def given(key: str) -> str:
            return params.get(key, "").strip()[:253]

        found = cls(user=given("user"), kind=given("kind"), outcome=given("outcome"), pod=given("pod"))
        if found.kind and found.kind not in SessionRecord.Kind.values:
            found.errors.append(f'There is no kind "{found.kind}": pick terminal or port-forward.')
            found.kind = ""
        if found.outcome and found.outcome not in OUTCOMES:
            found.errors.append(f'There is no outcome "{found.outcome}": pick allowed or refused.')
            found.outcome = ""
        return found

    def apply(self, records: QuerySet[SessionRecord]) -> QuerySet[SessionRecord]:
        if self.user:
            records = records.filter(username__iexact=self.user)
        if self.kind:
            records = records.filter(kind=self.kind)
        if self.outcome:
            records = records.filter(allowed=OUTCOMES[self.outcome])
        if self.pod:
            records = records.filter(pod__icontains=self.pod)
        return records

    @property
    def active(self) -> bool:
        return bool(self.user or self.kind or self.outcome or self.pod)

    def urlencode(self, leave_out: str = "") -> str:
        params = QueryDict(mutable=True)
        params.update({k: v for k in ("user", "kind", "outcome", "pod") if k != leave_out and (v := getattr(self, k))})
        return params.urlencode()


def duration_text(record: SessionRecord) -> str:
    """How long a session lasted, as a person says it; "running" while it has not ended."""
    if not record.allowed:
        return "—"
    if record.duration is None:
        return "running"
    return _span(record.duration)


def _span(span: timedelta) -> str:
    seconds = max(0.0, span.total_seconds())
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def recording_path(record: SessionRecord) -> Path:
    """The record's recording file inside PODSCOPE_RECORDINGS_DIR; Problem when there is none to open."""
    name = record.recording
    if not name:
        message = "This session was not recorded: only terminals are, and only while PODSCOPE_RECORD_SESSIONS is on."
        raise Problem("No recording", message, 404)
    directory = Path(settings.PODSCOPE_RECORDINGS_DIR).resolve()
    path = directory / name
    # A recording is a plain file name written by Podscope. Anything else (a path, "..", a link leading out of
    # the directory) is refused rather than opened, whatever the database says.
    if "/" in name or "\\" in name or ".." in name or "\x00" in name or not path.resolve().is_relative_to(directory):
        message = "The recording's file name is not a plain name inside the recordings directory, so it is not opened."
        raise Problem("Recording refused", message, 400)
    if not path.is_file():
        message = f'The recording "{name}" is no longer in the recordings directory ({directory}): moved or deleted.'
        raise Problem("Recording missing", message, 404)
    return path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> Problem:
    # Deleted a moment ago, or not readable by the account Podscope runs as.
    return Problem("Recording unreadable", f"The recording could not be read: {exc.strerror or exc}.", 404)


@staff_only
def audit_list(request: HttpRequest) -> HttpResponse:
    filters = Filters.from_params(request.GET)
    records = filters.apply(SessionRecord.objects.order_by("-started", "-pk"))
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    for record in page:
        record.duration_text = duration_text(record)
    users = SessionRecord.objects.exclude(username="").order_by("username").values_list("username", flat=True)
    context = {"page": page, "filters": filters, "kinds": SessionRecord.Kind.choices}
    context |= {"usernames": users.distinct()[:500], "query": filters.urlencode()}
    context["other_filters"] = filters.urlencode(leave_out="user")
    return render(request, "dashboard/audit_list.html", context)


@inline_styles
@staff_only
def audit_replay(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(SessionRecord, pk=pk)
    path = recording_path(record)
    if _size(path) > MAX_REPLAY_BYTES:
        message = f"The recording is over {MAX_REPLAY_BYTES // 2**20} MiB, too large to play in a browser page. "
        message += "Download it from the audit list and play it with asciinema play."
        raise Problem("Recording too large to replay here", message, 422)
    try:
        # A running terminal's last event may be half written.
        header, events = asciicast.read(path, growing=record.allowed and record.ended is None)
    except ValueError as exc:
        raise Problem("This recording cannot be played", str(exc), 422) from None
    except OSError as exc:
        raise _unreadable(exc) from None
    cast = {"header": header, "events": [e for e in events if e[1] in ("o", "r")], "idleLimit": IDLE_LIMIT}
    context = {"record": record, "header": header, "cast": cast, "duration": duration_text(record)}
    return render(request, "dashboard/audit_replay.html", context)


@staff_only
async def audit_cast(request: HttpRequest, pk: int) -> HttpResponseBase:
    """Download a recording as it is on disk."""
    record = await SessionRecord.objects.filter(pk=pk).afirst()
    if record is None:
        raise Http404
    path = recording_path(record)
    # A running terminal's recording still grows: send the bytes there are now, as many as Content-Length says.
    size = _size(path)

    async def body() -> AsyncIterator[bytes]:
        # Opened here, not before: a download that never starts then leaves no file open.
        with path.open("rb") as file:
            left = size
            while left > 0 and (chunk := await asyncio.to_thread(file.read, min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    response = StreamingHttpResponse(body(), content_type=asciicast.MEDIA_TYPE)
    response["Content-Length"] = str(size)
    filename = f"{record.pod or 'session'}-{record.started:%Y%m%dT%H%M%SZ}{asciicast.SUFFIX}"
    disposition = content_disposition_header(as_attachment=True, filename=filename)
    assert disposition is not None  # None only for an inline file without a name
    response["Content-Disposition"] = disposition
    return response
