"""The dashboard as a real server process (python -m dashboard.server) for the tests and benchmarks that need one."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.clusters import ROOT, SandboxProcess


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Podscope:
    """The dashboard running under daphne as a child process, with the environment it was started with."""

    state_dir: Path
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.state_dir / "daphne.log"

    def manage(self, *args: str, timeout: float = 60.0) -> str:
        """Run a management command in the dashboard's environment; return its stdout, fail with its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done.stdout

    def login_url(self, username: str, *groups: str, superuser: bool = False) -> str:
        """A one-time URL that signs `username` in, creating the user (in `groups`) if missing."""
        args = ["login_url", username, "--base", self.url]
        for group in groups:
            args += ["--group", group]
        if superuser:
            args.append("--superuser")
        return self.manage(*args).strip().splitlines()[-1]

    async def signed_in(self, username: str, *groups: str) -> tuple[aiohttp.ClientSession, str]:
        """An aiohttp session signed in as `username` through a one-time link, and the socket token its pages carry.

        What a browser has after following the link: the session cookie, and the first page (the pod list), from
        which a page's scripts take the token they open sockets with.
        """
        # The dashboard listens on 127.0.0.1; aiohttp's cookie jar keeps cookies of an IP address only when unsafe.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get(self.login_url(username, *groups)) as response:
            response.raise_for_status()
            html = await response.text()
        found = re.search(r"[?&](?:amp;)?token=([0-9a-f]{32})", html)
        if found is None:
            await session.close()
            raise AssertionError(f"no socket token in the page after signing in:\n{html[:2000]}")
        return session, found.group(1)

    def create_user(self, username: str, password: str, *groups: str) -> None:
        """Create a user who signs in through the login form, as a member of existing `groups`."""
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User\n"
            f"user = User.objects.create_user({username!r}, password={password!r})\n"
            f"user.groups.add(*(Group.objects.get(name=name) for name in {list(groups)!r}))\n",
        )

    def start(self, timeout: float = 30.0) -> None:
        self.manage("migrate", "--noinput")
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        # Output goes to a file, not a pipe: nobody would drain a pipe, and a full one stalls the server.
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dashboard.server", "-b", "127.0.0.1", "-p", port, "dashboard.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the dashboard did not answer on {self.url} within {timeout}s:\n{self.log.read_text()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/accounts/login/", timeout=2):
                return True
        except urllib.error.HTTPError as error:
            error.close()
            return True  # any HTTP answer means daphne is serving
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole process group if daphne has not ended within 10 seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


def start_dashboard(sandbox: SandboxProcess, state_dir: Path) -> Podscope:
    """The dashboard as `bin/demo` serves it (python -m dashboard.server), against `sandbox`, started."""
    env = {
        **os.environ,
        "PODSCOPE_STATE_DIR": str(state_dir),
        "PODSCOPE_SANDBOX_KUBECONFIG": str(sandbox.kubeconfig),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
    }
    server = Podscope(state_dir, env)
    state_dir.mkdir()
    server.start()
    return server
