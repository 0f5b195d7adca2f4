"""A page on another port of the same host, in the same browser as a signed-in Operator, tries to act as them.

Browsers send a host's cookies to all its ports, so this is the attack a pod's page opened with
`kubectl port-forward` (the tutorial's own step) could make. It must get nothing: no socket opens or says a word,
and no request reaches a pod through the port proxy.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.e2e.helpers import POD, open_pod_page, run_tutorial_pod
from tests.dashboard.harness import Podscope

ATTACK = """<!doctype html><title>Another page on this host</title><body><p id="state">working</p><script>
const podscope = "%(podscope)s", ws = podscope.replace("http", "ws");
const pod = "/ws/c/sandbox/ns/%(namespace)s/pods/%(pod)s/";
const results = window.results = {};
function attempt(name, url, first) {
  return new Promise((resolve) => {
    const r = results[name] = {opened: false, messages: [], code: null};
    const socket = new WebSocket(url);
    socket.onopen = () => { r.opened = true; if (first) socket.send(first); };
    socket.onmessage = (event) => r.messages.push(String(event.data).slice(0, 300));
    socket.onclose = (event) => { r.code = event.code; resolve(); };
  });
}
const guessed = "0".repeat(32);
Promise.all([
  attempt("pods", ws + "/ws/c/sandbox/ns/%(namespace)s/pods/"),
  attempt("pod", ws + pod),
  attempt("logs", ws + pod + "logs/", JSON.stringify({type: "start", container: "", tail: 100})),
  attempt("exec", ws + pod + "exec/?container=producer&command=env"),
  attempt("exec-guess", ws + pod + "exec/?token=" + guessed + "&container=producer&command=env"),
  // Requests into the pod through Podscope's port proxy, as the signed-in user: cookies go along.
  fetch(podscope + "/c/sandbox/ns/%(namespace)s/pods/%(pod)s/port/80/", {credentials: "include", mode: "no-cors"}),
  fetch(podscope + "/c/sandbox/ns/%(namespace)s/pods/%(pod)s/port/80/" + guessed + "/index.html?by=attacker",
        {credentials: "include", mode: "no-cors"}),
  fetch(podscope + "/c/sandbox/ns/%(namespace)s/pods/%(pod)s/port/80/x/?by=attacker", {
    credentials: "include", mode: "no-cors", method: "POST", body: "by=attacker"}),
  new Promise((resolve) => {
    const image = new Image();
    image.onload = image.onerror = resolve;
    image.src = podscope + "/c/sandbox/ns/%(namespace)s/pods/%(pod)s/port/80/" + guessed + "/img?by=attacker";
  }),
]).finally(() => { document.getElementById("state").textContent = "done"; });
</script></body>"""


@pytest.fixture
def attacker(podscope: Podscope, namespace: str) -> Iterator[str]:
    """A page served on another port of 127.0.0.1 that tries every socket and the port proxy; its URL."""
    html = ATTACK % {"podscope": podscope.url, "namespace": namespace, "pod": POD}

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def nginx_log(sandbox: SandboxProcess, namespace: str) -> str:
    kubectl = [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig)]
    done = subprocess.run(
        [*kubectl, "logs", "-n", namespace, POD, "-c", "consumer"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_page_on_another_port_gets_nothing_as_the_signed_in_operator(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str, attacker: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    # The operator works in Podscope: its own page's sockets open as usual.
    open_pod_page(page, podscope, namespace, "operator", "Operators")
    expect(page.locator(".live-dot[data-live-state]")).to_have_attribute("data-state", "open")
    served = nginx_log(sandbox, namespace)

    other = page.context.new_page()
    other.goto(attacker)
    expect(other.locator("#state")).to_have_text("done", timeout=20_000)
    results = other.evaluate("window.results")
    other.close()
    for name, result in results.items():
        assert not result["opened"], (name, result)
        assert result["messages"] == [], (name, result)
    # Nothing reached the pod: nginx, which logs every request it serves, logged no new one.
    assert nginx_log(sandbox, namespace) == served
    # And the operator's own page is still live.
    expect(page.locator(".live-dot[data-live-state]")).to_have_attribute("data-state", "open")
