"""The audit list and the terminal replay in a real browser: xterm.js plays a recording the server keeps."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from tests.dashboard.e2e.browser import wait_for

if TYPE_CHECKING:
    from tests.dashboard.harness import Podscope

PROMPT = "root@web-1:/# "
# A minute of idleness in the middle: replayed, it lasts the 2 s idle limit, so the whole plays in 4 s.
# The window is made larger on the way (a resize event), from 100x24 to 120x30.
EVENTS = [
    [0.5, "o", PROMPT],
    [1.2, "o", "cat /etc/motd\r\n"],
    [1.3, "o", "hello from the pod\r\n" + PROMPT],
    [61.3, "o", "ls /\r\n"],
    [61.35, "r", "120x30"],
    [61.4, "o", "\x1b[1;34mbin\x1b[0m  \x1b[1;34metc\x1b[0m  \x1b[1;34mhome\x1b[0m  \x1b[1;34mtmp\x1b[0m\r\n" + PROMPT],
    [62.0, "o", "exit\r\n"],
]

# Run by `manage.py shell` in the server's environment: the recording goes where the server looks for it.
CREATE = """
from datetime import timedelta
from pathlib import Path
from django.conf import settings
from django.utils import timezone
from dashboard.models import SessionRecord
directory = Path(settings.PODSCOPE_RECORDINGS_DIR)
directory.mkdir(parents=True, exist_ok=True)
(directory / {name!r}).write_text({cast!r}, encoding="utf-8")
now = timezone.now()
SessionRecord.objects.create(kind="port-forward", username={user!r}, cluster="sandbox", namespace="default",
    pod="web-1", command="GET /index.html", port=80, client="127.0.0.1", started=now - timedelta(minutes=9),
    ended=now - timedelta(minutes=9), bytes_in=78, bytes_out=615)
SessionRecord.objects.create(kind="exec", username={user!r}, cluster="sandbox", namespace="default", pod="db-1",
    container="postgres", command="sh", client="127.0.0.1", allowed=False, started=now - timedelta(minutes=5),
    outcome="You do not have permission to open terminals.")
record = SessionRecord.objects.create(kind="exec", username={user!r}, cluster="sandbox", namespace="default",
    pod="web-1", container="main", command="bash", client="127.0.0.1", started=now - timedelta(minutes=2),
    ended=now - timedelta(seconds=58), bytes_in=27, bytes_out=311, exit_code=0, recording={name!r})
print(record.pk)
"""


# Seconds of recording played per second of wall time, over 0.4 s, each end read just after the player's tick.
PLAY_RATE = """async () => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
    await frame();
    const [p0, t0] = [podscopeReplay.position, performance.now()];
    await new Promise((resolve) => setTimeout(resolve, 400));
    await frame();
    return (podscopeReplay.position - p0) / ((performance.now() - t0) / 1000);
}"""


def make_recording(podscope: Podscope, user: str) -> int:
    """A finished terminal session with its recording, and two records without one; the terminal's pk."""
    header = {"version": 2, "width": 100, "height": 24, "timestamp": int(time.time()), "title": f"{user} in web-1"}
    cast = "\n".join(json.dumps(line) for line in [header, *EVENTS]) + "\n"
    name = f"e2e-{uuid.uuid4().hex}.cast"
    return int(podscope.manage("shell", "-c", CREATE.format(name=name, cast=cast, user=user)).split()[-1])


def open_replay(page: Page, podscope: Podscope) -> int:
    user = f"student-{uuid.uuid4().hex[:6]}"
    pk = make_recording(podscope, user)
    page.goto(podscope.login_url("auditor", superuser=True) + f"?next=/audit/%3Fuser%3D{user}")
    row = page.locator(f'tr[data-record="{pk}"]')
    expect(row).to_contain_text("web-1")
    row.get_by_role("link", name="Replay").click()
    expect(page.locator(".xterm-rows")).to_be_attached()
    return pk


def test_audit_list_shows_the_sessions_of_a_user(page: Page, podscope: Podscope, tmp_path: Path) -> None:
    user = f"student-{uuid.uuid4().hex[:6]}"
    pk = make_recording(podscope, user)
    page.goto(podscope.login_url("auditor", superuser=True))

    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Audit").click()
    page.get_by_label("User").fill(user)
    page.get_by_role("button", name="Filter").click()

    table = page.locator("table.audit tbody tr")
    expect(table).to_have_count(3)
    expect(table.nth(0)).to_contain_text(re.compile(r"terminal.*web-1.*main.*bash.*1 min 02 s.*allowed.*Replay", re.S))
    expect(table.nth(1)).to_contain_text(re.compile(r"db-1.*\u2014.*refused.*You do not have permission", re.S))
    expect(table.nth(2)).to_contain_text(
        re.compile(r"port-forward.*:80.*GET /index.html.*78\sbytes in.*615\sbytes out", re.S)
    )
    assert table.nth(0).get_attribute("data-record") == str(pk)
    expect(table.get_by_role("link", name="Replay")).to_have_count(1)
    page.screenshot(path=tmp_path / "audit-list.png", full_page=True)

    download = page.request.get(podscope.url + table.nth(0).get_by_role("link", name=".cast").get_attribute("href"))
    assert download.status == 200
    assert re.fullmatch(r'attachment; filename="web-1-\d{8}T\d{6}Z\.cast"', download.headers["content-disposition"])
    lines = download.text().splitlines()
    assert json.loads(lines[0])["width"] == 100
    assert [json.loads(line) for line in lines[1:]] == EVENTS


def test_replay_plays_the_recording_with_idle_time_capped(page: Page, podscope: Podscope, tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    open_replay(page, podscope)
    screen = page.locator(".xterm-rows")
    position = page.locator("[data-replay-time]")
    expect(position).to_have_text("0:00 / 0:04")
    assert "hello" not in screen.inner_text()

    started = time.monotonic()
    page.get_by_role("button", name="Play").click()

    expect(screen).to_contain_text("hello from the pod", timeout=5000)
    expect(page.locator("[data-replay]")).to_have_attribute("data-state", "ended", timeout=10_000)
    assert 3.5 < time.monotonic() - started < 15  # 4 s of replay, not the 62 s recorded
    expect(screen).to_contain_text(re.compile(r"bin\s+etc\s+home\s+tmp"))
    expect(screen).to_contain_text(PROMPT + "exit")
    expect(position).to_have_text("0:04 / 0:04")
    expect(page.get_by_role("button", name="Play again")).to_be_visible()
    assert page.evaluate("[podscopeReplay.term.cols, podscopeReplay.term.rows]") == [120, 30]
    # The recorded 100 columns fit the page: nothing scrolls sideways.
    stage = page.locator(".replay-stage")
    assert stage.evaluate("el => el.scrollWidth <= el.clientWidth")
    # Fitted to the window: the text grows to use the room, and the whole terminal is on screen.
    box = page.locator(".xterm-screen").bounding_box()
    assert box["width"] > 1000
    assert box["y"] + box["height"] <= 1080
    page.screenshot(path=tmp_path / "replay.png", full_page=True)

    page.get_by_role("button", name="Restart").click()  # back to the recorded size, then the resize again
    wait_for(page, "podscopeReplay.term.cols === 100 && podscopeReplay.term.rows === 24", timeout=2000)
    expect(page.locator("[data-replay]")).to_have_attribute("data-state", "ended", timeout=10_000)
    assert page.evaluate("[podscopeReplay.term.cols, podscopeReplay.term.rows]") == [120, 30]
    assert errors == []


def test_pause_speed_restart_and_text_size(page: Page, podscope: Podscope) -> None:
    open_replay(page, podscope)
    screen = page.locator(".xterm-rows")
    player = page.locator("[data-replay]")
    position = page.locator("[data-replay-time]")

    page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Pause").click()
    expect(player).to_have_attribute("data-state", "paused")
    held = page.evaluate("podscopeReplay.position")
    page.wait_for_timeout(1000)
    assert page.evaluate("podscopeReplay.position") == held
    expect(position).to_have_text(f"0:0{int(held)} / 0:04")

    page.get_by_role("button", name="Restart").click()
    expect(screen).not_to_contain_text("hello from the pod")  # a clean screen, "hello" is 1.3 s away
    page.get_by_role("button", name="4\u00d7").click()
    expect(page.get_by_role("button", name="4\u00d7")).to_have_attribute("aria-pressed", "true")
    # Measured in the page, where the player's clock runs, so a busy test machine does not skew it.
    assert 3 < page.evaluate(PLAY_RATE) < 5
    expect(player).to_have_attribute("data-state", "ended", timeout=5000)
    expect(screen).to_contain_text("hello from the pod")

    width = page.locator(".xterm-screen").bounding_box()["width"]
    page.get_by_role("button", name="Larger text").click()
    page.get_by_role("button", name="Larger text").click()
    assert page.locator(".xterm-screen").bounding_box()["width"] > width
    page.get_by_role("button", name="Smaller text").click()
    page.get_by_role("button", name="Smaller text").click()
    page.get_by_role("button", name="Smaller text").click()
    assert page.locator(".xterm-screen").bounding_box()["width"] < width
    expect(screen).to_contain_text("hello from the pod")  # resizing the text keeps what is shown


def test_keyboard_plays_pauses_and_steps(page: Page, podscope: Podscope) -> None:
    open_replay(page, podscope)
    player = page.locator("[data-replay]")
    page.locator("h1").click()  # focus on the page, not on a control

    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-replay-time]")).to_have_text("0:04 / 0:04")
    expect(page.locator(".xterm-rows")).to_contain_text("exit")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("[data-replay-time]")).to_have_text("0:00 / 0:04")
    expect(page.locator(".xterm-rows")).not_to_contain_text("hello")
    page.keyboard.press(" ")
    expect(player).to_have_attribute("data-state", "playing")
    page.keyboard.press(" ")
    expect(player).to_have_attribute("data-state", "paused")
