"""The container runtime the sandbox kubelet drives: pod sandboxes (network namespaces) and containers.

A container is started by the shim (`python -m sandbox.runtime.shim SPEC.json`), which forks its PID 1 into fresh
namespaces on an overlay of the host's root. This module prepares the overlay's upper directory (the image
profile's layer, fresh /tmp and /run), the cgroup and the spec; it then watches the shim and turns its exit into an
ExitStatus. Every name it creates carries the sandbox's instance id, so `cleanup()` can find and remove all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import ipaddress
import json
import os
import shutil
import signal as signals
import socket
import stat
import struct
import sys
import termios
import time
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.runtime import cgroups, images, linux, network, shim
from sandbox.runtime.cgroups import Cgroup

REPO = Path(__file__).resolve().parents[2]
NODE_IP = network.NODE_IP
SHIM_TIMEOUT = 60.0
# How long exec relays may take to exit once the container's PID 1 is gone, before they are killed with the rest.
EXEC_RELAY_GRACE = 1.0
SETSID = "/usr/bin/setsid"
NSENTER = shutil.which("nsenter") or "/usr/bin/nsenter"
SETPRIV = "/usr/bin/setpriv"
RUNC_EXEC_PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "
# Directories an image starts with empty; the host's contents there are none of a container's business.
FRESH_DIRS = {"/tmp": 0o1777, "/var/tmp": 0o1777, "/run": 0o755, "/home": 0o755, "/mnt": 0o755, "/media": 0o755}
OVERLAY_OPAQUE = "trusted.overlay.opaque"
# Host credentials a container, root inside, could otherwise read through the overlay of the host's root.
PASSWORD_FILES = ("/etc/shadow", "/etc/gshadow")
HOST_KEYS = "/etc/ssh/ssh_host_*_key"


@dataclass(frozen=True)
class Mount:
    """One bind mount into the container rootfs; a file source makes a file bind."""

    source: Path
    target: str
    readonly: bool = False
    propagation: str = "private"  # private, rslave (HostToContainer) or rshared (Bidirectional)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the runtime needs to start one container instance."""

    pod_uid: str
    name: str
    attempt: int
    image: str
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    working_dir: str | None
    mounts: list[Mount]
    hostname: str
    run_as_user: int | None = None
    run_as_group: int | None = None
    memory_limit: int | None = None
    cpu_limit_millis: int | None = None
    tty: bool = False
    stdin: bool = False


@dataclass(frozen=True)
class PodSandbox:
    ip: str
    netns: Path


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    signal: int | None
    oom_killed: bool
    finished_at: datetime


@dataclass(frozen=True)
class ContainerStats:
    cpu_usage_ns: int
    memory_working_set_bytes: int


class ImageError(Exception):
    """The image cannot be had: no profile for it, or the host lacks the profile's packages."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ContainerError(Exception):
    """The container could not be created or its process could not be started."""

    def __init__(self, reason: str, message: str, exit_code: int = 128) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.exit_code = exit_code


def container_argv(profile: images.Profile, command: list[str] | None, args: list[str] | None) -> list[str]:
    """Kubernetes' command/args over the image's entrypoint/cmd."""
    if command:
        return [*command, *(args or [])]
    if args:
        return [*profile.entrypoint, *args]
    return [*profile.entrypoint, *profile.cmd]


def container_env(profile: images.Profile, spec: ContainerSpec) -> dict[str, str]:
    """The process environment: the image's, the kubelet's over it, and what every runtime adds."""
    env = {"PATH": images.DEFAULT_PATH, **profile.env, "HOSTNAME": spec.hostname, **spec.env}
    if spec.tty:
        env.setdefault("TERM", "xterm")
    return env


def _cgroup_path(iid: str, pod_uid: str | None = None, name: str | None = None, attempt: int | None = None) -> str:
    path = f"podscope/{iid}"
    if pod_uid is not None:
        path += f"/{pod_uid}"
    if name is not None:
        path += f"/{name}.{attempt}"
    return path


class ContainerHandle:
    """A running container: its PID 1, output streams, exit status, signals, stats and exec."""

    def __init__(
        self,
        *,
        spec: ContainerSpec,
        profile: images.Profile,
        process: asyncio.subprocess.Process,
        pid: int,
        cgroup: Cgroup,
        env: dict[str, str],
        cwd: str,
        credentials: dict[str, Any],
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
        stdin: asyncio.StreamWriter | None,
        console: _Console | None,
        on_exit: Callable[[ContainerHandle], None],
    ) -> None:
        self.spec = spec
        self.profile = profile
        self.pid = pid
        self.started_at = datetime.now(UTC)
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.stop_signal = int(signals.Signals[profile.stop_signal])
        self._process = process
        self._cgroup = cgroup
        self._env = env
        self._cwd = cwd
        self._credentials = credentials
        self._console = console
        self._on_exit = on_exit
        self._status: ExitStatus | None = None
        self._done = asyncio.get_running_loop().create_task(self._monitor())

    def __repr__(self) -> str:
        return f"<ContainerHandle {self.spec.pod_uid}/{self.spec.name}#{self.spec.attempt} pid={self.pid}>"

    @property
    def running(self) -> bool:
        """True until PID 1 has exited and the container is cleaned up."""
        return self._status is None

    async def _monitor(self) -> None:
        returncode = await self._process.wait()
        finished = datetime.now(UTC)
        oom = await asyncio.to_thread(self._cgroup.oom_kills)
        # The kernel ends every process of the container's PID namespace before its PID 1 is reaped, so what the
        # cgroup may still hold are exec relays (nsenter lives outside that namespace) passing on the status they
        # just collected. Killing one now would report 137 for a command that ended by itself.
        await asyncio.to_thread(self._cgroup.wait_empty, EXEC_RELAY_GRACE)
        await asyncio.to_thread(self._cgroup.remove)
        if returncode < 0:
            sig: int | None = -returncode
            code = 128 + -returncode
        else:
            sig, code = None, returncode
        if self._console is not None:
            self._console.close_input()
        self._status = ExitStatus(exit_code=code, signal=sig, oom_killed=oom > 0, finished_at=finished)
        self._on_exit(self)

    async def wait(self) -> ExitStatus:
        """Wait for PID 1 to exit; every process of the container is gone when this returns."""
        await asyncio.shield(self._done)
        assert self._status is not None
        return self._status

    def signal(self, sig: int) -> None:
        """Send `sig` to the container's PID 1 (which, as any PID 1, ignores signals it has no handler for)."""
        if self._status is None:
            os.kill(self.pid, sig)

    async def kill(self) -> None:
        """SIGKILL every process of the container and wait for it to be gone."""
        if self._status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signals.SIGKILL)
            await asyncio.to_thread(self._cgroup.kill)
        await self.wait()

    def stats(self) -> ContainerStats | None:
        """CPU time and working-set memory from the container's cgroup; None once it has ended."""
        if self._status is not None:
            return None
        found = self._cgroup.stats()
        return ContainerStats(found.cpu_usage_ns, found.memory_working_set_bytes) if found else None

    def join_cgroup(self) -> None:
        """Move the calling process into the container's cgroup (use as preexec_fn)."""
        cgroups.join_files(self._cgroup.procs_files())

    def exec_command(self, argv: list[str], tty: bool) -> tuple[list[str], dict[str, str], Callable[[], None]]:
        """How to run `argv` inside the container: host argv (nsenter), its env, and a preexec_fn for the cgroup.

        Raises ContainerError, worded like runc's, when the container has ended or `argv[0]` is not there.
        """
        if self._status is not None or not argv:
            raise ContainerError("ExecError", f"{RUNC_EXEC_PREFIX}container is not running: unknown")
        env = dict(self._env)
        env.setdefault("HOME", self._credentials.get("home", "/root"))
        if tty:
            env.setdefault("TERM", "xterm")
        root = f"/proc/{self.pid}/root"
        try:
            shim.find_executable(argv[0], env.get("PATH", ""), root=root, cwd=self._cwd)
        except shim.StartError as exc:
            raise ContainerError("ExecError", f"{RUNC_EXEC_PREFIX}{exc}: unknown") from exc
        host_argv = [
            NSENTER,
            f"--target={self.pid}",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--cgroup",
            "--root",
            f"--wd={root}{self._cwd}",
            "--",
        ]
        if tty and os.path.exists(shim.secure_join(root, SETSID)):
            # The terminal's session must live inside the container's PID namespace, or job control
            # (a shell restoring its process group on exit) fails there and the exit status with it.
            # It runs before setpriv: taking over the terminal needs the capabilities setpriv drops.
            host_argv += [SETSID, "--ctty", "--wait", "--"]
        # setpriv runs inside, after the chroot: it gives the process the container's user and capability bound.
        if os.path.exists(shim.secure_join(root, SETPRIV)):
            uid, gid = self._credentials["uid"], self._credentials["gid"]
            groups = ",".join(str(g) for g in self._credentials.get("groups") or [gid])
            host_argv += [SETPRIV, f"--reuid={uid}", f"--regid={gid}", f"--groups={groups}"]
            host_argv += [f"--bounding-set=-all,{shim.KEPT_CAPABILITY_NAMES}", "--"]
        return [*host_argv, *argv], env, self.join_cgroup

    def resize(self, columns: int, rows: int) -> None:
        """Set the terminal size of a tty container."""
        if self._console is not None:
            self._console.resize(columns, rows)


class _Console:
    """The master side of a tty container's terminal: output as a StreamReader, optional input, resizing."""

    def __init__(self, master_fd: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = master_fd
        self.reader = asyncio.StreamReader()
        self.writer: asyncio.StreamWriter | None = None
        os.set_blocking(master_fd, False)
        self._loop.add_reader(master_fd, self._readable)

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            # EIO: the last process holding the terminal is gone.
            data = b""
        if data:
            self.reader.feed_data(data)
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
        self.reader.feed_eof()

    async def open_input(self) -> asyncio.StreamWriter:
        """A writer for the terminal's input (on its own descriptor, so closing one side leaves the other)."""
        assert self._fd is not None
        transport, protocol = await self._loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(os.dup(self._fd), "wb", buffering=0)
        )
        self.writer = asyncio.StreamWriter(transport, protocol, None, self._loop)
        return self.writer

    def resize(self, columns: int, rows: int) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def close_input(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _receive(sock: socket.socket, limit: float) -> tuple[bytes, list[int]]:
    """Everything the shim says on the status socket until it closes, with the descriptors it passed."""
    sock.settimeout(limit)
    data, fds = b"", []
    while True:
        chunk, received, _flags, _address = socket.recv_fds(sock, 65536, 4)
        for fd in received:
            os.set_inheritable(fd, False)
        fds.extend(received)
        if not chunk and not received:
            return data, fds
        data += chunk


def _upper_dir(upper: Path, path: str) -> Path:
    """`path` as a directory in an overlay upper dir, its new parents carrying the host's modes and owners."""
    current, host = upper, Path("/")
    for part in Path(path).parts[1:]:
        current, host = current / part, host / part
        if not current.exists():
            current.mkdir()
            with contextlib.suppress(OSError):
                st = host.stat()
                current.chmod(st.st_mode & 0o7777)
                os.chown(current, st.st_uid, st.st_gid)
    return current


def _fresh_dir(upper: Path, path: str, mode: int) -> None:
    """An empty directory in the container that hides the host's (an opaque overlay directory)."""
    current = _upper_dir(upper, path)
    current.chmod(mode)
    # Without trusted xattrs the host's files simply stay visible there.
    with contextlib.suppress(OSError):
        os.setxattr(current, OVERLAY_OPAQUE, b"y")


def _hide_host_secrets(upper: Path) -> None:
    """Locked copies of the password files and no SSH host keys, as in an image built from scratch."""
    for path in PASSWORD_FILES:
        target = _upper_dir(upper, os.path.dirname(path)) / os.path.basename(path)
        try:
            st = os.stat(path)
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        if target.exists():
            continue
        fields = [line.split(":") for line in lines]
        target.write_text("".join(":".join([f[0], "*", *f[2:]]) + "\n" if len(f) > 2 else "" for f in fields))
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.chown(target, st.st_uid, st.st_gid)
    for key in glob.glob(HOST_KEYS):
        target = _upper_dir(upper, os.path.dirname(key)) / os.path.basename(key)
        if not target.exists():
            # A whiteout: the overlay shows no file here.
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))


class Runtime:
    """The sandbox node's container runtime (a small CRI)."""

    node_ip: str = NODE_IP

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.node_dir = self.state_dir / "node"
        self.iid = network.instance_id(self.state_dir)
        self._pods: dict[str, PodSandbox] = {}
        self._containers: dict[tuple[str, str, int], ContainerHandle] = {}
        self._lock = asyncio.Lock()
        self._layer_lock = asyncio.Lock()
        self._reason: str | None = None
        self._checked = False

    # --- availability ---------------------------------------------------------------------------------------------

    def unavailable_reason(self) -> str | None:
        """None when containers can run here, else one sentence saying why not (for the pod condition)."""
        if not self._checked:
            self._reason = _check_host()
            self._checked = True
        return self._reason

    # --- node -----------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Sweep what a crashed previous run left, then create the node namespace and the pod bridge."""
        await asyncio.to_thread(cleanup, self.state_dir)
        await asyncio.to_thread(network.setup_node, self.iid)
        await asyncio.to_thread(Cgroup(_cgroup_path(self.iid)).create)

    async def stop(self) -> None:
        """Kill every container and remove every namespace, mount, cgroup and scratch directory of this sandbox."""
        await asyncio.gather(*(h.kill() for h in list(self._containers.values())), return_exceptions=True)
        for uid in list(self._pods):
            await self.remove_pod_sandbox(uid)
        await asyncio.to_thread(cleanup, self.state_dir)

    # --- pods -----------------------------------------------------------------------------------------------------

    async def create_pod_sandbox(self, pod_uid: str, hostname: str, ip: str | None = None) -> PodSandbox:
        """The pod's network namespace with its own IP on the bridge; idempotent for the same uid."""
        async with self._lock:
            existing = self._pods.get(pod_uid)
            if existing is not None and network.netns_path(network.pod_netns(self.iid, pod_uid)).exists():
                return existing
            address = self._allocate(pod_uid, ip)
            path = await asyncio.to_thread(network.create_pod, self.iid, pod_uid, address)
            sandbox = PodSandbox(ip=address, netns=path)
            self._pods[pod_uid] = sandbox
            return sandbox

    def _allocate(self, pod_uid: str, wanted: str | None) -> str:
        used = {s.ip for uid, s in self._pods.items() if uid != pod_uid} | {NODE_IP}
        if wanted and wanted not in used and _in_subnet(wanted):
            return wanted
        for host in network.SUBNET.hosts():
            if str(host) not in used:
                return str(host)
        raise ContainerError("CreatePodSandboxError", f"no free address left in {network.SUBNET}")

    async def remove_pod_sandbox(self, pod_uid: str) -> None:
        """Remove the pod's network namespace, cgroup and container scratch directories."""
        leftovers = [h for key, h in self._containers.items() if key[0] == pod_uid]
        await asyncio.gather(*(h.kill() for h in leftovers), return_exceptions=True)
        async with self._lock:
            self._pods.pop(pod_uid, None)
            await asyncio.to_thread(network.delete_pod, self.iid, pod_uid)
        await asyncio.to_thread(Cgroup(_cgroup_path(self.iid, pod_uid)).remove)
        await asyncio.to_thread(_remove_scratch, _instances(self.node_dir / "pods" / pod_uid / "containers"))

    def connect(self, pod_uid: str, port: int, timeout: float = 5.0, *, local: bool = False) -> socket.socket:
        """A TCP socket connected to <pod ip>:port, made inside the pod's network namespace (blocking).

        With `local`, it dials localhost instead, as a CRI runtime does for port-forward, so servers
        see the connection coming from 127.0.0.1.
        """
        sandbox = self._pods.get(pod_uid)
        if sandbox is None:
            raise ConnectionRefusedError(f"pod {pod_uid} has no network sandbox on this node")
        return network.connect(sandbox.netns, "127.0.0.1" if local else sandbox.ip, port, timeout)

    # --- containers -----------------------------------------------------------------------------------------------

    async def start_container(self, spec: ContainerSpec) -> ContainerHandle:
        """Start one container; ImageError when its image cannot be had, ContainerError when it cannot start."""
        reason = self.unavailable_reason()
        if reason:
            raise ContainerError("CreateContainerError", reason)
        profile = images.resolve(spec.image)
        if profile is None:
            raise ImageError("ErrImagePull", images.unknown_image_message(spec.image))
        missing = profile.missing()
        if missing:
            raise ImageError("ErrImagePull", missing)
        sandbox = self._pods.get(spec.pod_uid)
        if sandbox is None:
            raise ContainerError("CreateContainerError", f"pod sandbox for {spec.pod_uid} does not exist")
        async with self._layer_lock:
            layer = await asyncio.to_thread(images.build_layer, profile, self.node_dir / "layers")
        directory = self.node_dir / "pods" / spec.pod_uid / "containers" / spec.name / str(spec.attempt)
        await asyncio.to_thread(self._prepare_scratch, directory, layer, spec)
        cgroup = Cgroup(_cgroup_path(self.iid, spec.pod_uid, spec.name, spec.attempt))
        try:
            await asyncio.to_thread(self._prepare_cgroup, cgroup, spec)
        except OSError as exc:
            await asyncio.to_thread(cgroup.remove)
            raise ContainerError("CreateContainerError", f"cgroup {cgroup.relpath}: {exc}") from exc
        env = container_env(profile, spec)
        cwd = spec.working_dir or profile.working_dir or "/"
        try:
            return await self._spawn(spec, profile, sandbox, directory, cgroup, env, cwd)
        except BaseException:
            await asyncio.to_thread(cgroup.remove)
            raise

    def _prepare_scratch(self, directory: Path, layer: Path, spec: ContainerSpec) -> None:
        older = [i for i in _instances(directory.parent.parent) if i.parent.name == spec.name]
        _remove_scratch([i for i in older if int(i.name) < spec.attempt - 1])
        for name in ("upper", "work", "rootfs"):
            shutil.rmtree(directory / name, ignore_errors=True)
            (directory / name).mkdir(parents=True)
        images.apply_layer(layer, directory / "upper")
        for path, mode in FRESH_DIRS.items():
            _fresh_dir(directory / "upper", path, mode)
        _hide_host_secrets(directory / "upper")
        # What the image would say until the kubelet mounts its own /etc/hostname over it.
        (_upper_dir(directory / "upper", "/etc") / "hostname").write_text(spec.hostname + "\n")

    @staticmethod
    def _prepare_cgroup(cgroup: Cgroup, spec: ContainerSpec) -> None:
        cgroup.create()
        cgroup.set_limits(spec.memory_limit, spec.cpu_limit_millis)

    def _masks(self) -> list[list[Any]]:
        return [[str(self.state_dir), True], [str(REPO / "var"), True], ["/root", False]]

    async def _spawn(
        self,
        spec: ContainerSpec,
        profile: images.Profile,
        sandbox: PodSandbox,
        directory: Path,
        cgroup: Cgroup,
        env: dict[str, str],
        cwd: str,
    ) -> ContainerHandle:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        user = str(spec.run_as_user) if spec.run_as_user is not None else profile.user
        # Deeper targets last, so that /var/log never hides /var/log/nginx (containerd sorts the same way).
        mounts = sorted(spec.mounts, key=lambda m: len(Path(m.target).parts))
        shim_spec = {
            "netns": str(sandbox.netns),
            "rootfs": str(directory / "rootfs"),
            "upper": str(directory / "upper"),
            "work": str(directory / "work"),
            "hostname": spec.hostname,
            "argv": container_argv(profile, spec.command, spec.args),
            "env": env,
            "cwd": cwd,
            "user": user,
            "group": spec.run_as_group,
            "mounts": [
                {"source": str(m.source), "target": m.target, "readonly": m.readonly, "propagation": m.propagation}
                for m in mounts
            ],
            "masks": self._masks(),
            "cgroup_procs": cgroup.procs_files(),
            "tty": spec.tty,
            "status_fd": theirs.fileno(),
        }
        spec_path = directory / "spec.json"
        spec_path.write_text(json.dumps(shim_spec, indent=1))
        if spec.tty:
            # PID 1 allocates its terminal inside the container and hands the master over the status socket.
            stdio: dict[str, Any] = {"stdin": DEVNULL, "stdout": DEVNULL, "stderr": PIPE}
        else:
            stdio = {"stdin": PIPE if spec.stdin else DEVNULL, "stdout": PIPE, "stderr": PIPE}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sandbox.runtime.shim",
                str(spec_path),
                **stdio,
                pass_fds=(theirs.fileno(),),
                env={"PATH": os.environ.get("PATH", images.DEFAULT_PATH), "PYTHONPATH": str(REPO)},
                cwd=str(REPO),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            messages, fds = await asyncio.to_thread(_receive, ours, SHIM_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ContainerError("StartError", "the container did not start within a minute") from None
        finally:
            ours.close()
        master_fd = fds[0] if fds else None
        for extra in fds[1:]:
            os.close(extra)
        status: dict[str, Any] = {}
        for line in messages.decode(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                status.update(json.loads(line))
        if "error" in status or "pid" not in status or "uid" not in status:
            await process.wait()
            if master_fd is not None:
                os.close(master_fd)
            message = status.get("error") or await _shim_failure(process)
            raise ContainerError("StartError", message)
        pid = int(status["pid"])
        (directory / "pid").write_text(f"{pid}\n")
        console = None
        if master_fd is not None:
            console = _Console(master_fd)
            stdout = console.reader
            stderr = asyncio.StreamReader()
            stderr.feed_eof()
            stdin_writer = await console.open_input() if spec.stdin else None
        else:
            assert process.stdout is not None
            assert process.stderr is not None
            stdout, stderr, stdin_writer = process.stdout, process.stderr, process.stdin
        handle = ContainerHandle(
            spec=spec,
            profile=profile,
            process=process,
            pid=pid,
            cgroup=cgroup,
            env=env,
            cwd=cwd,
            credentials={k: status[k] for k in ("uid", "gid", "groups", "home")},
            stdout=stdout,
            stderr=stderr,
            stdin=stdin_writer,
            console=console,
            on_exit=self._forget,
        )
        self._containers[(spec.pod_uid, spec.name, spec.attempt)] = handle
        return handle

    def _forget(self, handle: ContainerHandle) -> None:
        key = (handle.spec.pod_uid, handle.spec.name, handle.spec.attempt)
        if self._containers.get(key) is handle:
            del self._containers[key]


async def _shim_failure(process: asyncio.subprocess.Process) -> str:
    """A message for a shim that died before reporting anything (its stderr, if it had one)."""
    detail = b""
    if process.stderr is not None:
        with contextlib.suppress(Exception):
            detail = await asyncio.wait_for(process.stderr.read(), 5)
    lines = detail.decode(errors="replace").strip().splitlines()
    return f"the container shim exited with code {process.returncode}" + (f": {lines[-1]}" if lines else "")


def _in_subnet(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in network.SUBNET
    except ValueError:
        return False


def _instances(containers_dir: Path) -> list[Path]:
    """Every container instance directory (containers/<name>/<attempt>) of a pod."""
    if not containers_dir.is_dir():
        return []
    return [i for c in containers_dir.iterdir() if c.is_dir() for i in c.iterdir() if i.name.isdigit()]


def _remove_scratch(instances: list[Path]) -> None:
    """Remove the overlay scratch (upper, work, rootfs) of container instances.

    The instance directories themselves stay: the kubelet keeps its termination-log there.
    """
    for instance in instances:
        for name in ("upper", "work", "rootfs"):
            shutil.rmtree(instance / name, ignore_errors=True)


def _check_host() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"The sandbox node runs containers only on Linux; this host is {sys.platform}."
    if os.geteuid() != 0:
        return (
            "The sandbox node needs root to create namespaces, mounts and cgroups; "
            f"the sandbox runs as uid {os.geteuid()}."
        )
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"The sandbox node needs the {tool} command (Debian package {package})."
    for ns in ("net", "pid", "mnt", "uts", "ipc"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"This kernel has no {ns} namespaces, which the sandbox node needs."
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "overlay" not in filesystems:
        return "This kernel has no overlay filesystem (try: modprobe overlay), which container roots need."
    if not cgroups.available():
        return "The sandbox node found no writable cgroup hierarchy with a memory controller under /sys/fs/cgroup."
    return None


def _own_shims(node_dir: Path) -> list[int]:
    """Shim processes started for this state directory (found through their spec path)."""
    prefix = str(node_dir) + "/"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sandbox.runtime.shim" in args and any(a.decode(errors="replace").startswith(prefix) for a in args):
            found.append(int(entry.name))
    return found


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    prefix = str(path)
    points = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(set(points), key=len, reverse=True)


def cleanup(state_dir: Path) -> None:
    """Remove every process, cgroup, network namespace, mount and overlay scratch left by this state dir's sandbox."""
    state_dir = Path(state_dir).resolve()
    node_dir = state_dir / "node"
    iid = network.instance_id(state_dir)
    for pid in _own_shims(node_dir):
        # PID 1 of each container dies with its shim (parent-death signal); the cgroup sweep catches the rest.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signals.SIGKILL)
    root = Cgroup(_cgroup_path(iid))
    root.remove()
    for parent in {d.parent for d in root.dirs}:
        # Shared by every sandbox on the host: removed only once the last one is gone.
        with contextlib.suppress(OSError):
            parent.rmdir()
    deadline = time.monotonic() + 5
    while _own_shims(node_dir) and time.monotonic() < deadline:
        time.sleep(0.02)
    network.teardown(iid)
    for point in _mounts_under(state_dir):
        with contextlib.suppress(OSError):
            linux.umount(point, linux.MNT_DETACH)
    pods = node_dir / "pods"
    if pods.is_dir():
        for pod in pods.iterdir():
            _remove_scratch(_instances(pod / "containers"))
