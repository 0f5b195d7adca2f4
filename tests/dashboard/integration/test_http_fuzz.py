"""Generated bad input on every route of the real server (python -m dashboard.server), as three people: an
administrator, a Viewer and someone signed out. Whatever comes (bad names, traversal, unicode and control bytes,
huge and nested bodies, alias bombs, wrong methods and charsets, forged tokens), the answer is never a 5xx and
the server logs no traceback.

The default run sends FUZZ_REQUESTS (60) requests per route, about 10 s; set
PODSCOPE_FUZZ_REQUESTS=10000 for the full run.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from yarl import URL

from tests.dashboard.harness import Podscope

FUZZ_REQUESTS = int(os.environ.get("PODSCOPE_FUZZ_REQUESTS") or 60)
# The full run takes longer than the suite's two minutes a test.
pytestmark = pytest.mark.timeout(120 + FUZZ_REQUESTS * 0.5)
AT_ONCE = 8
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
# An alias bomb's levels: each anchor repeats the one before nine times.
PAIRS = list(zip("abcdefgh", "bcdefghi", strict=True))


# --- inputs ---------------------------------------------------------------------------------------------------------


def name(rng: random.Random) -> str:
    """A path segment: mostly names Kubernetes would refuse, sometimes ones it would take (no such object)."""
    choices: list[Callable[[], str]] = [
        lambda: "x" + "".join(rng.choice(string.ascii_lowercase + "-") for _ in range(rng.randrange(1, 20))) + "z",
        lambda: "a" * rng.choice([63, 64, 253, 254, 300, 5000]),
        lambda: "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 30))),
        lambda: rng.choice(["..", ".", "../../etc/passwd", "%2e%2e", "default/../kube-system", "Default", "-a", "a-"]),
        lambda: "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 12))),
        lambda: rng.choice(["\x00", "\n", "\r\n", "\t", "\u202e", "\ufeff", "\U0001f600", "é"]) + "x",
        lambda: rng.choice(["sandbox", "default", "kube-system", "web"]),
    ]
    return rng.choice(choices)()


def segment(rng: random.Random) -> str:
    """A path segment as it would be sent: percent-encoded, now and then with raw or broken escapes."""
    text = name(rng)
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(["%FF", "%C3%28", "%E2%82", "%", "%zz", "%00"]) + "x"
    if roll < 0.15:
        return quote(text, safe="/:@!$&'()*+,;=")  # slashes as they are: traversal through the path itself
    return quote(text, safe="")


def value(rng: random.Random) -> str:
    return rng.choice(
        [
            "",
            name(rng),
            "1",
            "-1",
            "9" * 5000,
            "all",
            "5m",
            "app in (",
            "a=b,c!=d",
            "x" * rng.choice([100, 3000, 20000]),
            "\x00\x01\x02",
            "{}",
            "<script>alert(1)</script>",
            "' OR 1=1 --",
        ]
    )


def query(rng: random.Random, keys: list[str]) -> str:
    pairs = [(rng.choice([*keys, name(rng)]), value(rng)) for _ in range(rng.randrange(0, 5))]
    return urlencode(pairs, safe="") if pairs else ""


def manifest(rng: random.Random) -> str:
    """What people (and attackers) paste: broken YAML, bombs, deep nesting, huge text, almost-valid objects."""
    pod = {
        "apiVersion": "v1",
        "kind": rng.choice(["Pod", "Deployment", "List", "", "CronJob", 7]),
        "metadata": rng.choice([{"name": name(rng)}, {}, None, "x", {"name": ["a"]}]),
        "spec": rng.choice([{"containers": [{"name": "c", "image": "busybox"}]}, {"containers": "x"}, [], None]),
    }
    choices: list[Callable[[], str]] = [
        lambda: json.dumps(pod),
        lambda: "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in PAIRS),
        lambda: "[" * rng.choice([100, 1000, 50000]) + "]" * rng.choice([0, 100, 50000]),
        lambda: "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, rng.choice([50, 500, 2000]))),
        lambda: "---\n".join("kind: Pod\n" for _ in range(rng.choice([2, 1001, 3000]))),
        lambda: "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 3000))),
        lambda: "x" * rng.choice([1024 * 1024 + 1, 2 * 1024 * 1024]),
        lambda: "\t\x00\x7f: [}",
        lambda: "",
    ]
    return rng.choice(choices)()


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    persona: str


def body_and_type(rng: random.Random, fields: dict[str, str]) -> tuple[bytes, str]:
    charset = rng.choice(["", "", "; charset=utf-8", "; charset=utf-7", "; charset=latin-1", "; charset=nope"])
    roll = rng.random()
    if roll < 0.5:
        return urlencode(fields).encode(), "application/x-www-form-urlencoded" + charset
    if roll < 0.7:
        boundary = "fuzz" + str(rng.randrange(10**6))
        parts = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()
        )
        if rng.random() < 0.5:
            parts += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.yaml"\r\n\r\n'
            parts += manifest(rng) + "\r\n"
        return (parts + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}" + charset
    if roll < 0.85:
        return json.dumps(fields).encode(), "application/json"
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2000))), rng.choice(
        ["application/octet-stream", "text/plain", "multipart/form-data", "multipart/form-data; boundary="]
    )


# Each route: (a label, a function making one request's method, path and form fields).
def routes(namespace: str) -> dict[str, Callable[[random.Random], tuple[str, str, dict[str, str]]]]:
    def cluster(rng: random.Random) -> str:
        return "sandbox" if rng.random() < 0.7 else segment(rng)

    def ns(rng: random.Random) -> str:
        return namespace if rng.random() < 0.3 else segment(rng)

    def pod_base(rng: random.Random) -> str:
        return f"/c/{cluster(rng)}/ns/{ns(rng)}/pods/{segment(rng)}/"

    def get(path: Callable[[random.Random], str], keys: list[str]) -> Callable[[random.Random], Any]:
        def make(rng: random.Random) -> tuple[str, str, dict[str, str]]:
            q = query(rng, keys)
            return rng.choice(["GET"] * 4 + METHODS), path(rng) + ("?" + q if q else ""), {}

        return make

    def post(path: Callable[[random.Random], str], fields: Callable[[random.Random], dict[str, str]]) -> Any:
        def make(rng: random.Random) -> tuple[str, str, dict[str, str]]:
            return rng.choice(["POST"] * 4 + METHODS), path(rng), fields(rng)

        return make

    return {
        "home": get(lambda r: "/", ["cluster"]),
        "cluster-home": get(lambda r: f"/c/{cluster(r)}/", []),
        "pod-list": get(lambda r: f"/c/{cluster(r)}/ns/{ns(r)}/pods/", ["q", "selector", "page"]),
        "pod-detail": get(pod_base, ["projector"]),
        "pod-diagram": get(lambda r: pod_base(r) + "diagram/", []),
        "pod-delete": post(lambda r: pod_base(r) + "delete/", lambda r: {"x": value(r)}),
        "pod-log": get(lambda r: pod_base(r) + "log/", ["container", "since", "previous", "timestamps"]),
        "pod-terminal": get(lambda r: pod_base(r) + "terminal/", ["container", "command", "projector"]),
        "pod-port-open": get(lambda r: pod_base(r) + f"port/{r.choice([0, 1, 80, 65535, 65536, 10**20])}/", []),
        "pod-port": post(
            lambda r: pod_base(r) + f"port/{r.choice([80, 8080, 0, 99999])}/{segment(r)}/{segment(r)}/{segment(r)}",
            lambda r: {"a": value(r)},
        ),
        "preview": post(
            lambda r: f"/c/{cluster(r)}/preview/" + r.choice(["", "?example=" + quote(name(r), safe="")]),
            lambda r: {
                "manifest": manifest(r),
                "namespace": r.choice(["", name(r), "zz-none"]),
                "action": r.choice(["", "apply", "x"]),
            },
        ),
        "example-list": get(lambda r: f"/c/{cluster(r)}/examples/", ["namespace"]),
        "example-apply": post(
            lambda r: f"/c/{cluster(r)}/examples/{r.choice(['sidecar', 'adapter', segment(r)])}/apply/",
            lambda r: {"namespace": r.choice([name(r), "zz-none-" + str(r.randrange(10**6))])},
        ),
        "audit-list": get(
            lambda r: "/audit/", ["user", "kind", "cluster", "namespace", "pod", "outcome", "page", "since"]
        ),
        "audit-replay": get(lambda r: f"/audit/{r.choice([0, 1, 2**31, 2**70])}/replay/", []),
        "audit-cast": get(lambda r: f"/audit/{r.choice([0, 1, 2**31, 2**70])}/cast", []),
        "login": post(
            lambda r: "/accounts/login/" + r.choice(["", "?next=" + quote(value(r), safe="")]),
            lambda r: {"username": value(r), "password": value(r)},
        ),
        "login-token": get(lambda r: f"/accounts/login/{segment(r)}/", ["next"]),
        "admin": get(
            lambda r: "/admin/" + r.choice(["", "auth/user/", "dashboard/sessionrecord/", segment(r) + "/"]),
            ["q", "o", "p", "e", "all"],
        ),
        "static": get(
            lambda r: (
                "/static/"
                + r.choice(["css/podscope.css", "img/logo.svg", "css/" + segment(r), "../" + segment(r), segment(r)])
            ),
            ["v"],
        ),
    }


# --- the run -----------------------------------------------------------------------------------------------------


def client() -> aiohttp.ClientSession:
    # Redirects to sign in carry the whole address asked for: a long one makes a Location header of many KiB.
    jar = aiohttp.CookieJar(unsafe=True)
    return aiohttp.ClientSession(cookie_jar=jar, max_line_size=64 * 1024, max_field_size=64 * 1024)


async def personas(served: Podscope) -> dict[str, tuple[aiohttp.ClientSession, str]]:
    """Sessions of an administrator and a Viewer, each with the CSRF token its pages carry, and of nobody."""
    found = {}
    for persona, groups, superuser in (("admin", (), True), ("viewer", ("Viewers",), False)):
        session = client()
        async with session.get(served.login_url(persona, *groups, superuser=superuser)) as response:
            html = await response.text()
        token = re.search(r'"X-CSRFToken": "([^"]+)"', html)
        found[persona] = (session, token.group(1) if token else "")
    found["nobody"] = (client(), "")
    return found


async def send(served: Podscope, session: aiohttp.ClientSession, csrf: str, rng: random.Random, made: Any) -> Any:
    """One request, sent byte for byte as made (no re-quoting); its status, or the transport's error."""
    method, path, fields = made
    headers = {"Origin": served.url} if rng.random() < 0.8 else {"Origin": rng.choice(["null", "http://evil.example"])}
    if csrf and rng.random() < 0.7:
        headers["X-CSRFToken"] = csrf
    data = None
    if fields or method not in ("GET", "HEAD", "OPTIONS"):
        data, headers["Content-Type"] = body_and_type(rng, fields)
    url = URL(served.url + path, encoded=True)
    body = io.BytesIO(data) if data is not None else None
    async with session.request(method, url, data=body, headers=headers, allow_redirects=False) as response:
        await response.read()
        return response.status


async def test_no_route_answers_5xx_to_generated_bad_input(served: Podscope, namespace: str) -> None:
    rng = random.Random(11)
    people = await personas(served)
    failures: list[tuple[str, str, str, Any]] = []
    counts: dict[str, dict[int, int]] = {}
    try:
        semaphore = asyncio.Semaphore(AT_ONCE)

        async def one(route: str, made: Any, persona: str, seed: int) -> None:
            session, csrf = people[persona]
            async with semaphore:
                try:
                    status = await send(served, session, csrf, random.Random(seed), made)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = f"no answer: {type(exc).__name__}: {exc}"
            if not isinstance(status, int) or status >= 500:
                failures.append((route, persona, f"{made[0]} {made[1][:300]}", str(status)[:300]))
            elif isinstance(status, int):
                counts.setdefault(route, {}).setdefault(status, 0)
                counts[route][status] += 1

        jobs = []
        for route, make in routes(namespace).items():
            for _ in range(FUZZ_REQUESTS):
                # Signing out would end the session the next requests use: only nobody signs out.
                persona = rng.choice(["admin", "admin", "viewer", "nobody"])
                jobs.append(one(route, make(rng), persona, rng.randrange(2**32)))
        await asyncio.gather(*jobs)
    finally:
        for session, _ in people.values():
            await session.close()
    log = served.log.read_text(errors="replace")
    assert failures == [], failures[:10]
    # What Django and daphne log for an answer of 500, or an exception that escaped the application.
    for sign in ("Internal Server Error", "Exception inside application"):
        assert sign not in log, log[log.index(sign) : log.index(sign) + 4000]
    # Each route was reached past its front door at least once (not everything answered by one refusal).
    assert {route: statuses for route, statuses in counts.items() if len(statuses) < 2} == {}
