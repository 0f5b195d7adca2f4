"""Keystroke to echo in a terminal through Podscope, against `kubectl exec -it` on the same container, in the same run.

    .venv/bin/python bench/exec_latency.py [--count 300] [--skip-browser]

Starts a sandbox and the dashboard (daphne) in a temporary directory and runs a pod like the tutorial's
multicontainer-pod producer (image ubuntu). Then `sh` is started in that container three ways, and one printable
character at a time is typed into it, each waited for before the next (two characters alternate, so an echo
cannot be mistaken for the one before; a Ctrl-U now and then keeps the line short):

1. `kubectl exec -it POD -c producer -- sh` on a pty of its own (the baseline): from writing the character to
   the pty's master until it is read back.
2. Podscope's terminal socket with aiohttp, as the page uses it: from sending the character in a binary frame
   until an output frame carries it back.
3. Podscope's terminal page in headless Chromium: from the keydown event (stamped in the page) until the
   character is in xterm's buffer. The page is polled once per task through a MessageChannel, so detection
   adds well under a millisecond; also reported is the animation frame that draws it (xterm renders once a frame).

Prints p50, p95 and max of each after WARMUP untimed keystrokes, and each against kubectl's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import aiohttp
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import kubectl, one_container_pod, run_pod, sandbox_and_dashboard
from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.e2e.browser import CHROMIUM, CHROMIUM_ARGS, wait_for
from tests.dashboard.harness import Podscope

POD, CONTAINER, SHELL = "multicontainer-pod", "producer", "sh"
KEYS = "xy"  # typed in turn: each echo differs from the one before it
KILL_LINE = b"\x15"  # Ctrl-U
LINE_LENGTH = 16  # characters typed before a Ctrl-U clears the line
COLS, ROWS = 80, 24
SIZE = "(({cols, rows}) => `${cols}x${rows}`)(document.querySelector('[data-terminal]').terminal.size())"
ECHO_TIMEOUT = 5.0
# In the page: stamp the keydown, then poll xterm's buffer once per task (a MessageChannel message is not clamped
# to 4 ms as nested timers are) until the line ends with what was typed; then wait for the frame that draws it.
MEASURE = """() => {
  const view = document.querySelector("[data-terminal]").terminal;
  const channel = new MessageChannel();
  const bench = (window.bench = { pending: null, result: null });
  let poll = null;
  channel.port1.onmessage = () => poll && poll();
  window.addEventListener("keydown", () => {
    const pending = bench.pending;
    if (!pending) return;
    bench.pending = null;
    const start = performance.now();
    poll = () => {
      if (!view.text().trimEnd().endsWith(pending.want)) return channel.port2.postMessage(0);
      poll = null;
      const echoed = performance.now();
      requestAnimationFrame(() => pending.resolve([echoed - start, performance.now() - start]));
    };
    channel.port2.postMessage(0);
  }, true);
  bench.expect = ([want, timeout]) => {
    bench.result = new Promise((resolve) => {
      bench.pending = { want, resolve };
      setTimeout(() => resolve(null), timeout);
    });
  };
}"""


def producer_pod() -> dict[str, Any]:
    """The tutorial's producer: ubuntu appending a line to a file every 10 seconds."""
    loop = "while true; do echo $(hostname) $(date) >> /var/log/index.html; sleep 10; done"
    return one_container_pod(POD, CONTAINER, "ubuntu", ["/bin/bash", "-c", loop])


def keystrokes(total: int) -> list[str]:
    """What to type: alternating characters, with a Ctrl-U ("") before every LINE_LENGTH of them."""
    keys: list[str] = []
    for n in range(total):
        if n and n % LINE_LENGTH == 0:
            keys.append("")
        keys.append(KEYS[n % len(KEYS)])
    return keys


class KubectlTerminal:
    """`kubectl exec -it` on a pty, in its own session so a Ctrl-C at the bench's terminal does not reach it."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.master, replica = os.openpty()
        fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        command = [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig)]
        command += ["exec", "-it", POD, "-c", CONTAINER, "--", SHELL]
        self.process = subprocess.Popen(
            command, stdin=replica, stdout=replica, stderr=replica, start_new_session=True, close_fds=True
        )
        os.close(replica)

    def read(self, timeout: float) -> bytes:
        """What the pty has within `timeout` seconds (b"" if nothing)."""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.master, 65536)
        except OSError:  # EIO: kubectl ended and the pty closed
            raise RuntimeError("kubectl exec ended before the measurement did") from None

    def settle(self, quiet: float = 0.1, limit: float = 15.0) -> bytes:
        """Read until nothing has come for `quiet` seconds, after something came."""
        seen, deadline = b"", time.monotonic() + limit
        while time.monotonic() < deadline:
            chunk = self.read(quiet if seen else deadline - time.monotonic())
            if not chunk and seen:
                break
            seen += chunk
        return seen

    def echo(self, key: str) -> float:
        """Seconds from writing `key` until it is read back."""
        start = time.perf_counter()
        os.write(self.master, key.encode())
        seen, deadline = b"", start + ECHO_TIMEOUT
        while key.encode() not in seen:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"kubectl exec did not echo {key!r} within {ECHO_TIMEOUT:g} s")
            seen += self.read(deadline - time.perf_counter())
        return time.perf_counter() - start

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        os.close(self.master)


def measure_kubectl(sandbox: SandboxProcess, keys: list[str], warmup: int) -> list[float]:
    terminal = KubectlTerminal(sandbox)
    try:
        if not terminal.settle():
            raise RuntimeError("kubectl exec showed no prompt")
        times = []
        for key in keys:
            if not key:
                os.write(terminal.master, KILL_LINE)
                terminal.settle(quiet=0.05)
                continue
            times.append(terminal.echo(key))
        return times[warmup:]
    finally:
        terminal.close()


async def measure_socket(podscope: Podscope, keys: list[str], warmup: int) -> list[float]:
    query = urlencode({"container": CONTAINER, "command": SHELL, "cols": COLS, "rows": ROWS})
    url = f"{podscope.url.replace('http', 'ws', 1)}/ws/c/sandbox/ns/default/pods/{POD}/exec/?{query}"
    session, token = await podscope.signed_in("bench", "Operators")
    async with session, session.ws_connect(f"{url}&token={token}", headers={"Origin": podscope.url}) as ws:

        async def output(timeout: float) -> bytes | None:
            """The next output frame's bytes, or None after `timeout` seconds without one."""
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    frame = await ws.receive(timeout=left)
                except TimeoutError:
                    return None
                if frame.type == aiohttp.WSMsgType.BINARY:
                    data: bytes = frame.data
                    return data
                if frame.type == aiohttp.WSMsgType.TEXT:
                    message = json.loads(frame.data)
                    if message["type"] in ("error", "exit"):
                        raise RuntimeError(f"the terminal socket said: {message}")
                elif frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise RuntimeError(f"the terminal socket closed ({ws.close_code})")
            return None

        async def settle(quiet: float = 0.1) -> None:
            """Read output until it has been quiet for `quiet` seconds, after something came."""
            if await output(15.0) is None:
                raise RuntimeError("the terminal socket sent no output for 15 s")
            while await output(quiet) is not None:
                pass

        await settle()
        times = []
        for key in keys:
            if not key:
                await ws.send_bytes(KILL_LINE)
                await settle(quiet=0.05)
                continue
            start = time.perf_counter()
            await ws.send_bytes(key.encode())
            seen = b""
            while key.encode() not in seen:
                chunk = await output(ECHO_TIMEOUT)
                if chunk is None:
                    raise RuntimeError(f"the terminal socket did not echo {key!r} within {ECHO_TIMEOUT:g} s")
                seen += chunk
            times.append(time.perf_counter() - start)
        return times[warmup:]


def measure_browser(podscope: Podscope, keys: list[str], warmup: int) -> tuple[list[float], list[float], str]:
    """Seconds to xterm's buffer and to the frame that draws it, and a warning if the terminal resized itself."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.goto(podscope.login_url("bench", "Operators"))
            page.goto(
                f"{podscope.url}/c/sandbox/ns/default/pods/{POD}/terminal/?"
                + urlencode({"container": CONTAINER, "command": SHELL})
            )
            try:
                wait_for(
                    page, "document.querySelector('[data-terminal-status]').dataset.state === 'open'", timeout=15_000
                )
            except PlaywrightTimeout:
                shown = page.locator("[data-terminal]").inner_text()
                raise RuntimeError(f"the terminal page did not connect; it shows:\n{shown}") from None
            wait_for(page, "document.querySelector('[data-terminal]').terminal.text().trim() !== ''")
            page.locator(".xterm-helper-textarea").focus()
            page.evaluate(MEASURE)
            before = page.evaluate(SIZE)
            echoed, drawn = type_in_page(page, keys, warmup)
            after = page.evaluate(SIZE)
        finally:
            browser.close()
    warning = ""
    if after != before:
        # Every resize goes to the server and the shell, and xterm lays the screen out again: the figures pay for it.
        warning = (
            f"  Warning: the page's terminal changed size from {before} to {after} while the window kept its size;\n"
            "  the resizes it sent during the run are included in the Chromium figures."
        )
    return echoed, drawn, warning


def type_in_page(page: Page, keys: list[str], warmup: int) -> tuple[list[float], list[float]]:
    """Type `keys` into the page's terminal; the seconds to the buffer and to the frame, after `warmup`."""
    echoed, drawn, typed = [], [], ""
    for key in keys:
        if not key:
            page.keyboard.press("Control+u")
            wait_for(
                page,
                "(keys) => !keys.includes(document.querySelector('[data-terminal]').terminal.text().trimEnd().at(-1))",
                arg=KEYS,
            )
            page.wait_for_timeout(50)
            typed = ""
            continue
        typed += key
        page.evaluate("(args) => window.bench.expect(args)", [typed, ECHO_TIMEOUT * 1000])
        page.keyboard.press(key)
        result = page.evaluate("window.bench.result")
        if result is None:
            raise RuntimeError(f"the page did not show {key!r} within {ECHO_TIMEOUT:g} s")
        echoed.append(result[0] / 1000)
        drawn.append(result[1] / 1000)
    return echoed[warmup:], drawn[warmup:]


def stats(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max, in milliseconds."""
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return statistics.median(values) * 1000, p95 * 1000, values[-1] * 1000


def report(rows: list[tuple[str, list[float]]], count: int, warmup: int, warning: str) -> None:
    print(f"Keystroke to echo, `{SHELL}` in {POD} -c {CONTAINER} (ubuntu), {count} keystrokes after {warmup} warm-up:")
    print(f"  {'':<34} {'p50':>8} {'p95':>8} {'max':>8}   {'Podscope / kubectl':>26}")
    print(f"  {'':<34} {'ms':>8} {'ms':>8} {'ms':>8}   {'p50':>8} {'p95':>8} {'max':>8}")
    baseline = stats(rows[0][1])
    for label, values in rows:
        figures = stats(values)
        line = f"  {label:<34} {figures[0]:8.2f} {figures[1]:8.2f} {figures[2]:8.2f}"
        if values is not rows[0][1]:
            line += "   " + " ".join(f"{mine / base:8.2f}" for mine, base in zip(figures, baseline, strict=True))
        print(line)
    print()
    print("  kubectl: write to the pty's master until read back from it (kubectl holds the pty in raw mode).")
    print("  socket: aiohttp sends a binary frame to daphne until an output frame carries the character.")
    if len(rows) > 2:
        print("  Chromium: in-page performance.now() from keydown until xterm's buffer holds the character, the buffer")
        print("  polled once per task (MessageChannel, < 1 ms); 'drawn' adds the wait for the frame that renders it.")
    if warning:
        print(warning)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="timed keystrokes on each path")
    parser.add_argument("--warmup", type=int, default=20, help="untimed keystrokes before them")
    parser.add_argument("--skip-browser", action="store_true", help="measure kubectl and the websocket only")
    options = parser.parse_args()
    if options.count < 1 or options.warmup < 0:
        parser.error("--count must be at least 1 and --warmup at least 0")
    # A Ctrl-C at the terminal also reaches Playwright's driver, which then dies first: what surfaces may be its
    # error rather than KeyboardInterrupt. Either way the context managers below stop everything this started.
    interrupted = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, interrupt)
    try:
        run(options)
    except BaseException:
        if not interrupted:
            raise
        print("Interrupted; the pod, the dashboard and the sandbox were stopped.", file=sys.stderr, flush=True)
        # Everything is stopped; leave without the dead driver's unretrieved futures being reported at shutdown.
        os._exit(130)


def run(options: argparse.Namespace) -> None:
    keys = keystrokes(options.warmup + options.count)
    rows: list[tuple[str, list[float]]] = []
    warning = ""
    with sandbox_and_dashboard() as (sandbox, podscope):
        try:
            run_pod(sandbox, producer_pod())
            rows.append(("kubectl exec -it (pty)", measure_kubectl(sandbox, keys, options.warmup)))
            rows.append(("Podscope socket (aiohttp)", asyncio.run(measure_socket(podscope, keys, options.warmup))))
            if not options.skip_browser:
                echoed, drawn, warning = measure_browser(podscope, keys, options.warmup)
                rows += [("Podscope in Chromium, in buffer", echoed), ("Podscope in Chromium, drawn", drawn)]
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                kubectl(sandbox, "delete", "pod", POD, "--grace-period=1", "--wait=false", "--ignore-not-found")
    report(rows, options.count, options.warmup, warning)


if __name__ == "__main__":
    main()
