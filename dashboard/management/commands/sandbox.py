"""`manage.py sandbox`: run the sandbox cluster in the foreground."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.server import DEFAULT_PORT, main


class Command(BaseCommand):
    help = "Run the Podscope sandbox cluster (a local Kubernetes API) until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: loopback only)")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on; 0 picks a free one")
        parser.add_argument(
            "--state-dir",
            default=str(settings.STATE_DIR / "sandbox"),
            help="objects, certificates, kubeconfig",
        )
        parser.add_argument("--token", default=None, help="bearer token to accept (default: a random one, kept)")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = [
            "--host",
            options["host"],
            "--port",
            str(options["port"]),
            "--state-dir",
            options["state_dir"],
        ]
        if options["token"]:
            argv += ["--token", options["token"]]
        code = main(argv)
        if code:
            raise SystemExit(code)
