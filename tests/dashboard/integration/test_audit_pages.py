"""The audit pages: the staff list of SessionRecords, the replay page, the .cast download and the read-only admin."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client
from django.urls import reverse

from dashboard.asciicast import Recorder
from dashboard.models import SessionRecord

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def recordings(settings, tmp_path: Path) -> Path:
    """An empty recordings directory the dashboard is configured with."""
    settings.PODSCOPE_RECORDINGS_DIR = tmp_path / "recordings"
    settings.PODSCOPE_RECORDINGS_DIR.mkdir()
    return settings.PODSCOPE_RECORDINGS_DIR


@pytest.fixture
def auditor(transactional_db: None, django_user_model: type[User]) -> User:
    """Staff: may read the audit trail, with no Podscope permission besides."""
    return django_user_model.objects.create_user("auditor", password="x" * 20, is_staff=True)


@pytest.fixture
def staff(client: Client, auditor: User) -> Client:
    """A browser signed in as the auditor."""
    client.force_login(auditor)
    return client


def session(minutes: int = 0, **fields: object) -> SessionRecord:
    values = {
        "kind": "exec",
        "username": "alice",
        "cluster": "sandbox",
        "namespace": "default",
        "pod": "web-1",
        "container": "main",
        "command": "bash",
        "client": "127.0.0.1",
        "started": T0 + timedelta(minutes=minutes),
    } | fields
    return SessionRecord.objects.create(**values)


def recorded(
    directory: Path, text: bytes = b"hello from the pod\r\n", minutes: int = 0, **fields: object
) -> SessionRecord:
    recorder = Recorder.start(directory, width=100, height=30, title="alice in default/web-1", command="bash")
    recorder.output(text)
    recorder.close()
    ended = T0 + timedelta(minutes=minutes + 3)
    return session(minutes, recording=recorder.name, ended=ended, exit_code=0, **fields)


def text_of(html: bytes) -> str:
    """The page's text with tags removed, as a person reads it."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html.decode())))


def rows(html: bytes) -> list[str]:
    """The audit table's rows as text, top to bottom."""
    return [text_of(row.encode()) for row in re.findall(r"<tr data-record=.*?</tr>", html.decode(), re.S)]


# ---- The list --------------------------------------------------------------------------------------------


def test_staff_sees_every_column_newest_first(staff: Client, recordings: Path) -> None:
    session(0, ended=T0 + timedelta(seconds=95), bytes_in=12, bytes_out=2048, exit_code=0)
    session(1, kind="port-forward", container="", command="GET /index.html", port=8080, bytes_out=615)
    session(2, username="bob", pod="db-1", allowed=False, outcome="You may not open terminals.", command="sh")
    recorded(recordings, minutes=3, pod="api-1")

    response = staff.get(reverse("audit-list"))

    assert response.status_code == 200
    found = rows(response.content)
    assert [re.search(r"(web-1|db-1|api-1)", row).group(1) for row in found] == ["api-1", "db-1", "web-1", "web-1"]
    api, db, forward, terminal = found
    assert "2026-11-22 09:00:00 alice terminal web-1 -c main sandbox / default bash 127.0.0.1 1 min 35 s" in terminal
    assert "12 bytes in 2.0 KB out 0 allowed" in terminal
    assert "port-forward web-1 sandbox / default :8080 GET /index.html" in forward
    assert "running" in forward
    assert "bob terminal db-1 -c main sandbox / default sh" in db
    assert "refused You may not open terminals." in db
    assert "running" not in db
    assert "3 min 00 s" in api
    assert [("Replay" in row) for row in found] == [True, False, False, False]
    assert "Showing 1\u20134 of 4" in text_of(response.content)


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({}, ["a-web", "b-web", "c-db", "d-fwd"]),
        ({"user": "BOB"}, ["c-db"]),
        ({"user": "ali"}, []),
        ({"kind": "port-forward"}, ["d-fwd"]),
        ({"kind": "exec"}, ["a-web", "b-web", "c-db"]),
        ({"outcome": "refused"}, ["b-web"]),
        ({"outcome": "allowed", "user": "alice"}, ["a-web", "d-fwd"]),
        ({"pod": "WEB"}, ["a-web", "b-web"]),
        ({"pod": "web", "outcome": "allowed"}, ["a-web"]),
    ],
)
def test_filters_narrow_the_list(staff: Client, params: dict[str, str], shown: list[str]) -> None:
    session(0, pod="a-web")
    session(1, pod="b-web", allowed=False, outcome="You may not open terminals.")
    session(2, pod="c-db", username="bob")
    session(3, pod="d-fwd", kind="port-forward", port=80)

    response = staff.get(reverse("audit-list"), params)

    assert response.status_code == 200
    listed = sorted(re.search(r"\b([a-d]-\w+)\b", row).group(1) for row in rows(response.content))
    assert listed == shown
    if not shown:
        assert "Nothing matches" in text_of(response.content)


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"kind": "shell"}, 'There is no kind "shell": pick terminal or port-forward.'),
        ({"outcome": "maybe"}, 'There is no outcome "maybe": pick allowed or refused.'),
    ],
)
def test_a_filter_that_makes_no_sense_is_explained(staff: Client, params: dict[str, str], sentence: str) -> None:
    session(0)

    response = staff.get(reverse("audit-list"), params | {"page": "nonsense"})

    assert response.status_code == 200
    assert sentence in text_of(response.content)
    assert len(rows(response.content)) == 1


def test_a_hundred_rows_a_page_and_filters_kept_across_pages(staff: Client) -> None:
    SessionRecord.objects.bulk_create(
        SessionRecord(kind="exec", username="alice", cluster="sandbox", namespace="d", pod=f"p-{n:03d}", started=T0)
        for n in range(230)
    )
    session(0, username="bob", pod="other")

    first = staff.get(reverse("audit-list"), {"user": "alice"})
    assert len(rows(first.content)) == 100
    assert "p-229" in rows(first.content)[0]  # same time: the newer row (higher id) first
    assert "Page 1 of 3" in text_of(first.content)
    older = re.search(r'href="\?([^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    assert older == "user=alice&page=2"

    last = staff.get(reverse("audit-list") + "?" + older.replace("page=2", "page=3"))
    assert len(rows(last.content)) == 30
    assert "p-000" in rows(last.content)[-1]
    assert "other" not in last.content.decode()


def test_the_audit_link_is_in_the_header_for_staff_only(client: Client, auditor: User, alice: User) -> None:
    audit = f'href="{reverse("audit-list")}"'
    client.force_login(auditor)
    assert audit in client.get(reverse("audit-list")).content.decode()
    client.force_login(alice)
    page = client.get(reverse("home"), follow=True)
    assert page.status_code == 200
    assert audit not in page.content.decode()


# ---- Who may look ----------------------------------------------------------------------------------------


def urls(record: SessionRecord) -> list[str]:
    return [reverse("audit-list"), reverse("audit-replay", args=[record.pk]), reverse("audit-cast", args=[record.pk])]


def test_people_who_are_not_staff_are_refused(client: Client, alice: User, recordings: Path) -> None:
    record = recorded(recordings)
    client.force_login(alice)  # an operator may open terminals, not read everyone's
    for url in urls(record):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You can\u2019t open this page" in text_of(response.content)
        assert "hello from the pod" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, recordings: Path) -> None:
    record = recorded(recordings)
    for url in urls(record):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("name", ["audit-replay", "audit-cast"])
def test_an_unknown_record_is_a_404_page(staff: Client, name: str) -> None:
    response = staff.get(reverse(name, args=[999_999]))

    assert response.status_code == 404
    assert "Page not found" in text_of(response.content)


# ---- Replay and download ---------------------------------------------------------------------------------


def test_replay_page_carries_the_recording_and_the_player(staff: Client, recordings: Path) -> None:
    record = recorded(recordings, text="naïve </script> 🙂\r\n".encode())

    response = staff.get(reverse("audit-replay", args=[record.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    cast = re.search(r'<script id="replay-cast" type="application/json">(.*?)</script>', html, re.S).group(1)
    data = json.loads(cast)
    assert (data["header"]["width"], data["header"]["height"]) == (100, 30)
    assert [e[1:] for e in data["events"]] == [["o", "naïve </script> 🙂\r\n"]]
    assert data["idleLimit"] == 2
    for script in ("vendor/xterm/xterm.js", "js/replay.js"):
        assert f'src="/static/{script}"' in html
    assert "<script>" not in html  # no inline code
    page = text_of(response.content)
    assert "alice in default/web-1 -c main on sandbox, running bash" in page
    assert "3 min 00 s" in page
    assert f'href="{reverse("audit-cast", args=[record.pk])}"' in html


async def test_cast_download_is_the_file_as_recorded(
    async_client: AsyncClient, auditor: User, recordings: Path
) -> None:
    record = await SessionRecord.objects.acreate(
        kind="exec", username="alice", cluster="sandbox", namespace="default", pod="web-1", started=T0
    )
    recorder = Recorder.start(recordings, width=80, height=24, title="t", command="sh")
    recorder.output(b"x" * 200_000)
    recorder.close()
    record.recording = recorder.name
    await record.asave()
    await async_client.aforce_login(auditor)

    response = await async_client.get(reverse("audit-cast", args=[record.pk]))

    assert response.status_code == 200
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == (recordings / recorder.name).read_bytes()
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Type"] == "application/x-asciicast"
    assert response["Content-Disposition"] == 'attachment; filename="web-1-20261122T090000Z.cast"'


@pytest.mark.parametrize("name", ["audit-replay", "audit-cast"])
def test_a_session_without_recording_says_so(staff: Client, name: str, recordings: Path) -> None:
    record = session(0, kind="port-forward", port=80)

    response = staff.get(reverse(name, args=[record.pk]))

    assert response.status_code == 404
    page = text_of(response.content)
    assert "No recording" in page
    assert "This session was not recorded" in page


@pytest.mark.parametrize("name", ["audit-replay", "audit-cast"])
def test_a_missing_recording_file_is_a_problem_page(staff: Client, name: str, recordings: Path) -> None:
    record = recorded(recordings)
    (recordings / record.recording).unlink()

    response = staff.get(reverse(name, args=[record.pk]))

    assert response.status_code == 404
    page = text_of(response.content)
    assert "Recording missing" in page
    assert f'The recording "{record.recording}" is no longer in the recordings directory' in page


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        (b"", "The recording is empty: it has no asciicast header."),
        (b'{"version": 1, "width": 80, "height": 24}\n', "The recording is asciicast version 1"),
        (b'{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "cut', "Line 2 of the recording is not JSON"),
    ],
)
def test_a_broken_recording_is_a_problem_page(staff: Client, recordings: Path, content: bytes, sentence: str) -> None:
    record = recorded(recordings)
    (recordings / record.recording).write_bytes(content)

    response = staff.get(reverse("audit-replay", args=[record.pk]))

    assert response.status_code == 422
    page = text_of(response.content)
    assert "This recording cannot be played" in page
    assert sentence in page


def test_a_recording_too_large_for_the_page_is_offered_for_download(staff: Client, recordings: Path) -> None:
    record = recorded(recordings)
    with (recordings / record.recording).open("r+b") as file:
        file.truncate(17 * 2**20)  # sparse: large on paper, nothing written

    response = staff.get(reverse("audit-replay", args=[record.pk]))

    assert response.status_code == 422
    page = text_of(response.content)
    assert "Recording too large to replay here" in page
    assert "The recording is over 16 MiB" in page
    assert "asciinema play" in page


def test_a_running_terminals_half_written_line_is_left_out(staff: Client, recordings: Path) -> None:
    record = recorded(recordings)
    record.ended = None
    record.save()
    with (recordings / record.recording).open("ab") as file:
        file.write(b'[9.5, "o", "still wri')

    response = staff.get(reverse("audit-replay", args=[record.pk]))

    assert response.status_code == 200
    assert "hello from the pod" in response.content.decode()
    assert "still wri" not in response.content.decode()


@pytest.mark.parametrize("name", ["../outside.cast", "/tmp/outside.cast", "sub/inner.cast", "..", "link.cast"])
@pytest.mark.parametrize("view", ["audit-replay", "audit-cast"])
def test_a_recording_name_leading_out_of_the_directory_is_refused(
    staff: Client, recordings: Path, name: str, view: str
) -> None:
    # Real recordings wait at every place the name could lead, so serving one would show in the answer.
    secret = b'{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "SECRET OUTSIDE"]\n'
    (recordings.parent / "outside.cast").write_bytes(secret)
    (recordings / "sub").mkdir()
    (recordings / "sub" / "inner.cast").write_bytes(secret)
    (recordings / "link.cast").symlink_to(recordings.parent / "outside.cast")
    record = session(0, recording=name.replace("/tmp/", f"{recordings.parent}/"))

    response = staff.get(reverse(view, args=[record.pk]))

    assert response.status_code == 400
    assert "Recording refused" in text_of(response.content)
    assert b"SECRET OUTSIDE" not in response.content


# ---- The admin -------------------------------------------------------------------------------------------


def test_admin_lists_and_searches_records_but_changes_nothing(client: Client, django_user_model: type[User]) -> None:
    root = django_user_model.objects.create_superuser("root", password="x" * 20)
    client.force_login(root)
    record = session(0, pod="needle-pod")
    session(1, pod="hay-pod")
    changelist = reverse("admin:dashboard_sessionrecord_changelist")

    listing = client.get(changelist, {"q": "needle"})
    assert listing.status_code == 200
    assert "needle-pod" in listing.content.decode()
    assert "hay-pod" not in listing.content.decode()
    assert "Add session record" not in listing.content.decode()
    assert client.get(changelist, {"kind__exact": "exec", "allowed__exact": "1"}).status_code == 200

    detail = client.get(reverse("admin:dashboard_sessionrecord_change", args=[record.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:dashboard_sessionrecord_add")).status_code == 403
    assert (
        client.post(reverse("admin:dashboard_sessionrecord_delete", args=[record.pk]), {"post": "yes"}).status_code
        == 403
    )
    record.refresh_from_db()
    assert (
        client.post(reverse("admin:dashboard_sessionrecord_change", args=[record.pk]), {"pod": "x"}).status_code == 403
    )
    assert SessionRecord.objects.get(pk=record.pk).pod == "needle-pod"
