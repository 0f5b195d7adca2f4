"""Log streaming through Podscope against `kubectl logs -f` on the same container, in the same run.

    .venv/bin/python bench/log_throughput.py

Starts a sandbox and the dashboard (daphne) in a temporary directory, then measures three things:

1. Throughput: a container prints numbered lines as fast as it is allowed (RATE lines/s for SECONDS). A headless
   Chromium tab follows it in Podscope's log view while `kubectl logs -f` follows it too. Reported: lines/s that
   reached the page (and lines counted as skipped, if any) against kubectl's, and their ratio.
2. Latency at 1,000 lines/s: each line carries the time it was written; the page stamps each line when its row
   is added to the DOM. Reported: p50 and p95 from write to row.
3. Server memory: daphne's RSS before and after opening 20 log streams (20 pods), and with 50 websocket
   viewers of one container (which share one upstream stream).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import apply, kubectl, one_container_pod, run_pod, sandbox_and_dashboard
from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.e2e.browser import CHROMIUM, CHROMIUM_ARGS, wait_for
from tests.dashboard.harness import Podscope

# Prints "seq <n> <ns since epoch>" lines at a given rate, in small bursts so the rate holds at 10k+/s.
PRINTER = """
import sys, time
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
time.sleep(float(sys.argv[3]))
start = time.time(); n = 0
while True:
    due = int((time.time() - start) * rate) if seconds <= 0 or time.time() - start < seconds else None
    if due is None:
        break
    out = []
    while n < due:
        n += 1
        out.append(f"seq {n} {time.time_ns()}")
    if out:
        sys.stdout.write("\\n".join(out) + "\\n"); sys.stdout.flush()
    time.sleep(0.002)
sys.stdout.write(f"done {n}\\n"); sys.stdout.flush()
time.sleep(100000)
"""
# Stamps every row the log view adds with the time it appeared (sampled: every 10th line).
STAMP_ROWS = """() => {
  window.arrivals = [];
  const area = document.querySelector("#logs .log-lines");
  new MutationObserver((records) => {
    const now = Date.now();
    for (const record of records) for (const node of record.addedNodes) {
      const found = /seq (\\d+) (\\d+)/.exec(node.textContent || "");
      if (found && Number(found[1]) % 10 === 0) {
        window.arrivals.push([Number(found[1]), now - Number(found[2]) / 1e6]);
      }
    }
  }).observe(area, {childList: true, subtree: true});
}"""


def printer_pod(name: str, rate: float, seconds: float, delay: float) -> dict[str, Any]:
    command = ["python3", "-c", PRINTER, str(rate), str(seconds), str(delay)]
    return one_container_pod(name, "printer", "python", command)


class KubectlFollower:
    """`kubectl logs -f` counting lines as they arrive."""

    def __init__(self, sandbox: SandboxProcess, pod: str) -> None:
        self.lines, self.first, self.last, self.done, self.printed = 0, 0.0, 0.0, False, 0
        self.process = subprocess.Popen(
            [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), "logs", "-f", pod],
            stdout=subprocess.PIPE,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            now = time.monotonic()
            if raw.startswith(b"seq "):
                self.lines += 1
                self.first = self.first or now
                self.last = now
            elif raw.startswith(b"done "):
                self.printed = int(raw.split()[1])
                self.done = True

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def open_log_view(page: Page, podscope: Podscope, pod: str) -> None:
    page.goto(f"{podscope.url}/c/sandbox/ns/default/pods/{pod}/#logs")
    wait_for(page, "document.querySelector('#logs')?.logView !== undefined")


def throughput(sandbox: SandboxProcess, podscope: Podscope, page: Page, rate: float, seconds: float) -> None:
    run_pod(sandbox, printer_pod("burst", rate, seconds, delay=8))
    follower = KubectlFollower(sandbox, "burst")
    open_log_view(page, podscope, "burst")
    deadline = time.monotonic() + seconds + 60
    while not follower.done and time.monotonic() < deadline:
        time.sleep(0.2)
    # Every numbered line, and the "done" line after them.
    expected = follower.printed + 1
    while time.monotonic() < deadline:
        stats = page.evaluate("document.querySelector('#logs').logView.stats()")
        if stats["received"] + stats["skipped"] >= expected:
            break
        time.sleep(0.2)
    follower.stop()
    stats = page.evaluate("document.querySelector('#logs').logView.stats()")
    kube_rate = follower.lines / max(follower.last - follower.first, 1e-9)
    print(f"Throughput, {rate:,.0f} lines/s for {seconds:g} s ({follower.printed:,} lines printed):")
    print(f"  kubectl logs -f:   {follower.lines:,} lines, {kube_rate:,.0f} lines/s")
    received = stats["received"] - 1  # not the "done" line
    print(f"  Podscope (tab):    {received:,} lines received, {stats['skipped']:,} counted as skipped")
    print(f"  ratio of lines received, Podscope / kubectl: {received / max(follower.lines, 1):.3f}\n")


def latency(sandbox: SandboxProcess, podscope: Podscope, page: Page, rate: float, seconds: float) -> None:
    run_pod(sandbox, printer_pod("steady", rate, seconds, delay=8))
    open_log_view(page, podscope, "steady")
    page.evaluate(STAMP_ROWS)
    time.sleep(seconds + 10)
    arrivals = page.evaluate("window.arrivals")
    delays = sorted(ms for _, ms in arrivals)
    if not delays:
        print("Latency: no line arrived\n")
        return
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(f"Latency at {rate:,.0f} lines/s, write to row in the page ({len(delays)} sampled lines):")
    print(f"  p50 {statistics.median(delays):.0f} ms   p95 {p95:.0f} ms   max {delays[-1]:.0f} ms\n")


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (daphne runs as one)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def viewers(podscope: Podscope, pods: list[str], per_pod: int, session_cookie: str, token: str) -> list[Any]:
    """Open websocket log views (per_pod for each pod) and keep reading them; returns the sockets."""
    session = aiohttp.ClientSession(cookies={"sessionid": session_cookie})
    sockets = []
    for pod in pods:
        for _ in range(per_pod):
            ws = await session.ws_connect(
                f"{podscope.url.replace('http', 'ws')}/ws/c/sandbox/ns/default/pods/{pod}/logs/?token={token}",
                headers={"Origin": podscope.url},
            )
            await ws.send_str(json.dumps({"type": "start", "container": "printer", "tail": 100}))
            sockets.append(ws)
    return [session, sockets]


async def drain(sockets: list[Any], seconds: float) -> None:
    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        with_timeout = time.monotonic() + seconds
        while time.monotonic() < with_timeout:
            try:
                await asyncio.wait_for(ws.receive(), timeout=max(0.01, with_timeout - time.monotonic()))
            except TimeoutError:
                return

    await asyncio.gather(*(read(ws) for ws in sockets))


def memory(sandbox: SandboxProcess, podscope: Podscope, session_cookie: str, token: str) -> None:
    names = [f"quiet-{i}" for i in range(20)]
    for name in names:
        apply(sandbox, printer_pod(name, 20, 0, delay=0))
    kubectl(sandbox, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s")
    assert podscope.process is not None
    pid = podscope.process.pid

    async def measure() -> tuple[int, int, int, int]:
        await asyncio.sleep(2)
        base = rss_kib(pid)
        session, sockets = await viewers(podscope, names, 1, session_cookie, token)
        await drain(sockets, 8)
        twenty = rss_kib(pid)
        for ws in sockets:
            await ws.close()
        await session.close()
        await asyncio.sleep(8)
        base2 = rss_kib(pid)
        session, sockets = await viewers(podscope, names[:1], 50, session_cookie, token)
        await drain(sockets, 8)
        fifty = rss_kib(pid)
        for ws in sockets:
            await ws.close()
        await session.close()
        return base, twenty, base2, fifty

    base, twenty, base2, fifty = asyncio.run(measure())
    print("Server memory (daphne RSS):")
    streams, shared = twenty - base, fifty - base2
    print(f"  20 streams (20 pods, one viewer each): +{streams / 1024:.1f} MiB, {streams / 20:.0f} KiB a stream")
    print(f"  50 viewers of one container:           +{shared / 1024:.1f} MiB, {shared / 50:.0f} KiB a viewer\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10_000, help="lines/s for the throughput run")
    parser.add_argument("--seconds", type=float, default=10)
    options = parser.parse_args()
    with sandbox_and_dashboard() as (sandbox, podscope):
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.goto(podscope.login_url("bench", "Viewers"))
            cookie = next(c["value"] for c in context.cookies() if c["name"] == "sessionid")
            # The pod list's socket address carries the token this session's sockets are opened with.
            token = page.eval_on_selector(
                "[ws-connect]", "el => new URL(el.getAttribute('ws-connect'), location).searchParams.get('token')"
            )
            throughput(sandbox, podscope, page, options.rate, options.seconds)
            latency(sandbox, podscope, context.new_page(), 1000, 10)
            browser.close()
        memory(sandbox, podscope, cookie, token)


if __name__ == "__main__":
    main()
