"""How soon an open pod diagram shows a container exiting and restarting, against `kubectl get pods -w`.

    .venv/bin/python bench/diagram_latency.py --pods 8

Starts a sandbox and the dashboard (daphne) in a temporary directory, runs PODS pods whose container exits
when told to, and opens each pod's page in its own tab of headless Chromium. `kubectl get pods -w` watches the
same pods in the same run: it is the baseline, the moment the API server's watch carries the change. The
script then makes every container exit, and records when kubectl printed the exit and the restart, and when
each page's diagram showed them (a MutationObserver in the page, so the time includes the websocket, the
swap and the DOM update). Prints the latencies from the exit command and how much later the diagram was
than kubectl.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import apply, kubectl, one_container_pod, sandbox_and_dashboard
from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.e2e.browser import CHROMIUM, CHROMIUM_ARGS, wait_for

RESTARTABLE = "while [ ! -f /tmp/stop ]; do sleep 0.05; done; rm /tmp/stop; exit 3"
OBSERVE = """() => {
  window.marks = {};
  const seen = () => {
    const text = document.querySelector('#pod-diagram [data-container="worker"]')?.textContent || "";
    if (!window.marks.exit && /CrashLoopBackOff|terminated/.test(text)) window.marks.exit = Date.now() / 1000;
    if (!window.marks.restart && /restarts 1\\b/.test(text)) window.marks.restart = Date.now() / 1000;
  };
  const all = {subtree: true, childList: true, characterData: true};
  new MutationObserver(seen).observe(document.getElementById("main"), all);
}"""


def watch_with_kubectl(sandbox: SandboxProcess, marks: dict[str, dict[str, float]]) -> subprocess.Popen[str]:
    """`kubectl get pods -w`, stamping when each pod is first shown exited and then restarted."""
    process = subprocess.Popen(
        [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), "get", "pods", "-w"],
        stdout=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            now = time.time()
            fields = line.split()
            if len(fields) < 4 or fields[0] not in marks:
                continue
            name, status, restarts = fields[0], fields[2], fields[3]
            if status in ("Error", "CrashLoopBackOff") and "exit" not in marks[name]:
                marks[name]["exit"] = now
            if restarts == "1" and status == "Running" and "restart" not in marks[name]:
                marks[name]["restart"] = now

    threading.Thread(target=read, daemon=True).start()
    return process


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    median = statistics.median(values)
    return f"p50 {median * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=8)
    options = parser.parse_args()
    names = [f"flaky-{i}" for i in range(options.pods)]
    watcher = None
    with sandbox_and_dashboard() as (sandbox, podscope):
        try:
            for name in names:
                apply(sandbox, one_container_pod(name, "worker", "busybox", ["sh", "-c", RESTARTABLE]))
            kubectl(sandbox, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=60s")
            baseline: dict[str, dict[str, float]] = {name: {} for name in names}
            watcher = watch_with_kubectl(sandbox, baseline)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1920, "height": 1080})
                first = context.new_page()
                first.goto(podscope.login_url("bench", "Viewers"))
                pages = {}
                for name in names:
                    page = context.new_page()
                    page.goto(f"{podscope.url}/c/sandbox/ns/default/pods/{name}/")
                    wait_for(page, "document.querySelector('[data-live-state]')?.dataset.state === 'open'")
                    page.evaluate(OBSERVE)
                    pages[name] = page
                started = {}
                for name in names:
                    started[name] = time.time()
                    kubectl(sandbox, "exec", name, "--", "touch", "/tmp/stop")
                deadline = time.monotonic() + 90
                shown: dict[str, dict[str, float]] = {}
                while time.monotonic() < deadline:
                    shown = {name: page.evaluate("window.marks") for name, page in pages.items()}
                    if all(len(m) == 2 for m in shown.values()) and all(len(m) == 2 for m in baseline.values()):
                        break
                    time.sleep(0.5)
                browser.close()
        finally:
            if watcher is not None:
                watcher.kill()
    print(f"{options.pods} pods, one tab each, each container made to exit once (sandbox back-off 10 s)\n")
    for event in ("exit", "restart"):
        done = [n for n in names if event in shown.get(n, {}) and event in baseline[n]]
        if not done:
            print(f"{event}: not seen")
            continue
        kube = [baseline[n][event] - started[n] for n in done]
        diagram = [shown[n][event] - started[n] for n in done]
        lag = [shown[n][event] - baseline[n][event] for n in done]
        print(f"{event} ({len(done)}/{len(names)} seen)")
        print(f"  kubectl get -w, from the exit command:  {summary(kube)}")
        print(f"  Podscope diagram, from the exit command: {summary(diagram)}")
        print(f"  diagram later than kubectl by:          {summary(lag)}")
        print(
            f"  ratio of medians (diagram / kubectl):    {statistics.median(diagram) / statistics.median(kube):.2f}\n"
        )


if __name__ == "__main__":
    main()
