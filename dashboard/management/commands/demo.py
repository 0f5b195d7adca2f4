"""`manage.py demo`: the sandbox cluster and the dashboard together, ready for a classroom."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.management.commands.login_url import login_url
from sandbox.server import DEFAULT_PORT

DEMO_USER = "demo"


class Command(BaseCommand):
    help = "Start the sandbox cluster and the Podscope dashboard on loopback, with a demo login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="dashboard address (default: loopback only)")
        parser.add_argument("--port", type=int, default=8000, help="dashboard port (default: 8000)")
        parser.add_argument("--sandbox-port", type=int, default=DEFAULT_PORT, help="sandbox API port (default: 6443)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        password = self._demo_user()
        state_dir = settings.STATE_DIR / "sandbox"
        sandbox = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                str(options["sandbox_port"]),
                "--state-dir",
                str(state_dir),
                # The tutorials' pods, running when the class starts; crash loops shown at a classroom pace.
                "--preload",
                str(settings.BASE_DIR / "examples"),
                "--backoff-base",
                "2",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = self._wait_for_sandbox(sandbox)
        kubeconfig = state_dir / "kubeconfig"
        env = {**os.environ, "PODSCOPE_SANDBOX_KUBECONFIG": str(kubeconfig)}
        dashboard = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashboard.server",
                "-b",
                options["host"],
                "-p",
                str(options["port"]),
                "dashboard.asgi:application",
            ],
            env=env,
        )
        # The link is printed once the dashboard answers, so the first click on it cannot be refused.
        self._wait_for_port(options["host"], options["port"], dashboard)
        host = f"[{options['host']}]" if ":" in options["host"] else options["host"]
        base = f"http://{host}:{options['port']}"
        link = login_url(get_user_model().objects.get(username=DEMO_USER), base)
        self.stdout.write(
            self.style.SUCCESS("\nPodscope demo is running.\n")
            + f"  open:       {link}\n"
            + "              (signs you in once; after that use the password)\n"
            + f"  dashboard:  {base}/   (user {DEMO_USER}, password {password})\n"
            + f"  sandbox:    {url}\n"
            + f"  kubectl:    kubectl --kubeconfig {kubeconfig} get pods\n"
            + "  stop:       Ctrl+C\n"
        )
        self._run_until_stopped(sandbox, dashboard)

    def _demo_user(self) -> str:
        """Create or reset the demo account with a fresh password, printed once."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USER)
        user.set_password(password)
        # The teacher running the demo may do everything, including the admin's audit pages.
        user.is_staff = user.is_superuser = True
        user.save()
        return password

    def _wait_for_sandbox(self, sandbox: subprocess.Popen[str]) -> str:
        assert sandbox.stdout is not None
        seen = []
        for line in sandbox.stdout:
            seen.append(line)
            found = re.match(r"sandbox: serving on (\S+)", line)
            if found:
                # Keep echoing the sandbox's log so problems stay visible.
                threading.Thread(target=self._echo, args=(sandbox.stdout,), daemon=True).start()
                return found.group(1)
        raise CommandError("the sandbox cluster did not start:\n" + "".join(seen))

    def _wait_for_port(self, host: str, port: int, process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise CommandError(f"the dashboard did not start listening on {host}:{port}")

    def _echo(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.write(line.rstrip("\n"))

    def _run_until_stopped(self, *children: subprocess.Popen[Any]) -> None:
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        try:
            while not stopping.wait(0.5):
                if any(child.poll() is not None for child in children):
                    break
        except KeyboardInterrupt:
            pass
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=20)
            if child.poll() is None:
                child.kill()
