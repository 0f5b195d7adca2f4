"""The container runtime on this machine: real namespaces, overlays, cgroups and veths (needs root).

Every test gets its own sandbox instance; the fixtures stop it and sweep its state directory with `cleanup()`
whatever happens, and `test_stop_*`/`test_cleanup_*` check that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.runtime import cgroups, images, network
from sandbox.runtime.runtime import (
    REPO,
    ContainerError,
    ContainerHandle,
    ContainerSpec,
    ExitStatus,
    ImageError,
    Mount,
    PodSandbox,
    Runtime,
    cleanup,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="containers need Linux and root")

WAIT = 30.0


def leftovers(state_dir: Path) -> list[str]:
    """Everything of this sandbox that still exists on the host: netns, mounts, cgroups, shim processes."""
    iid = network.instance_id(state_dir)
    found = [f"netns {name}" for name in network.list_netns(iid)]
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=True).stdout
    found += [
        f"mount {m}" for m in mounts.split() if m.startswith(str(state_dir)) or m.startswith(f"/run/netns/ps-{iid}")
    ]
    found += [f"cgroup {d}" for d in cgroups.Cgroup(f"podscope/{iid}").dirs if d.exists()]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"sandbox.runtime.shim" in cmdline and str(state_dir).encode() in cmdline:
                found.append(f"process {proc.name}")
    return found


def exists(path: str) -> bool:
    """Whether `path` exists on the host."""
    return os.path.exists(path)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A fresh state directory outside /tmp (which containers see empty anyway), swept however the test ends."""
    path = Path("/var/lib") / f"podscope-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        cleanup(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def runtime(state_dir: Path) -> AsyncIterator[Runtime]:
    """A started Runtime; stopped after the test."""
    rt = Runtime(state_dir)
    reason = rt.unavailable_reason()
    if reason:
        pytest.skip(reason)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@dataclass
class Pod:
    runtime: Runtime
    uid: str
    sandbox: PodSandbox

    def spec(self, name: str, image: str, command: list[str] | None = None, **fields: object) -> ContainerSpec:
        """A container spec for this pod with the usual defaults."""
        values: dict[str, object] = {
            "pod_uid": self.uid,
            "name": name,
            "attempt": 0,
            "image": image,
            "command": command,
            "args": None,
            "env": {},
            "working_dir": None,
            "mounts": [],
            "hostname": "web-1",
        }
        values.update(fields)
        return ContainerSpec(**values)  # type: ignore[arg-type]

    async def start(self, name: str, image: str, command: list[str] | None = None, **fields: object) -> ContainerHandle:
        """Start a container of this pod."""
        return await self.runtime.start_container(self.spec(name, image, command, **fields))

    async def run(
        self, name: str, image: str, command: list[str] | None = None, **fields: object
    ) -> tuple[str, str, ExitStatus]:
        """Run a container to completion: its stdout, stderr and exit status."""
        handle = await self.start(name, image, command, **fields)
        out, err = await asyncio.wait_for(asyncio.gather(handle.stdout.read(), handle.stderr.read()), WAIT)
        status = await asyncio.wait_for(handle.wait(), WAIT)
        return out.decode(), err.decode(), status


@pytest.fixture
async def pod(runtime: Runtime) -> Pod:
    """A pod sandbox (network namespace with an IP) on the runtime."""
    uid = str(uuid.uuid4())
    return Pod(runtime, uid, await runtime.create_pod_sandbox(uid, "web-1"))


def needs_profile(image: str) -> None:
    """Skip when the host lacks the Debian packages of the image's profile."""
    profile = images.resolve(image)
    assert profile is not None
    missing = profile.missing()
    if missing:
        pytest.skip(missing)


async def exec_in(handle: ContainerHandle, argv: list[str]) -> tuple[int, str]:
    """Run argv inside a running container as exec does: exit code and combined output."""
    host_argv, env, preexec = handle.exec_command(argv, False)
    process = await asyncio.create_subprocess_exec(
        *host_argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=preexec,
    )
    output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_busybox_prints_hostname_and_id(pod: Pod) -> None:
    needs_profile("busybox")
    out, err, status = await pod.run("c", "busybox:1.36", ["sh", "-c", "hostname; id"])
    assert (out, err, status.exit_code) == ("web-1\nuid=0(root) gid=0(root) groups=0(root)\n", "", 0)


async def test_run_as_user_and_group(pod: Pod) -> None:
    needs_profile("busybox")
    out, _, status = await pod.run(
        "c", "busybox", ["sh", "-c", "id -u; id -g; pwd"], run_as_user=4321, run_as_group=8765, working_dir="/work/x"
    )
    assert (out, status.exit_code) == ("4321\n8765\n/work/x\n", 0)


async def test_containers_of_a_pod_share_localhost_and_ip(pod: Pod) -> None:
    needs_profile("busybox")
    server = await pod.start(
        "server", "busybox", ["sh", "-c", "ip -4 -o addr show eth0; echo hello-from-server | nc -l -p 8080"]
    )
    address_line = (await asyncio.wait_for(server.stdout.readline(), WAIT)).decode()
    assert f"inet {pod.sandbox.ip}/24" in address_line
    out, _, status = await pod.run(
        "client",
        "busybox",
        [
            "sh",
            "-c",
            "ip -4 -o addr show eth0; for i in 1 2 3 4 5 6 7 8 9 10; do nc localhost 8080 && break; sleep 0.2; done",
        ],
    )
    assert status.exit_code == 0
    assert f"inet {pod.sandbox.ip}/24" in out
    assert "hello-from-server" in out
    assert (await asyncio.wait_for(server.wait(), WAIT)).exit_code == 0


async def test_pods_get_their_own_addresses_and_route_via_the_node(runtime: Runtime, pod: Pod) -> None:
    needs_profile("busybox")
    other_uid = str(uuid.uuid4())
    other = await runtime.create_pod_sandbox(other_uid, "other")
    assert other.ip != pod.sandbox.ip
    assert (await runtime.create_pod_sandbox(other_uid, "other")) == other
    out, _, status = await pod.run("c", "busybox", ["sh", "-c", f"ip route; ping -c 1 -W 2 {other.ip} >/dev/null"])
    assert "default via 10.244.0.1 dev eth0" in out
    assert status.exit_code == 0
    await runtime.remove_pod_sandbox(other_uid)
    assert network.pod_netns(runtime.iid, other_uid) not in network.list_netns(runtime.iid)


async def test_writing_etc_stays_inside_the_container(pod: Pod) -> None:
    needs_profile("busybox")
    name = f"podscope-{uuid.uuid4().hex[:8]}"
    writer = await pod.start("writer", "busybox", ["sh", "-c", f"echo mine > /etc/{name}; cat /etc/{name}; sleep 60"])
    assert await asyncio.wait_for(writer.stdout.readline(), WAIT) == b"mine\n"
    try:
        assert not exists(f"/etc/{name}")
        out, _, _ = await pod.run("reader", "busybox", ["sh", "-c", f"cat /etc/{name} || echo absent"])
        assert "absent" in out
    finally:
        await writer.kill()


async def test_host_secrets_are_masked(pod: Pod, state_dir: Path) -> None:
    needs_profile("busybox")
    (state_dir / "token").write_text("s3cret")
    script = f"ls -A {state_dir} {REPO / 'var'} /root; cat {state_dir}/token; cut -d: -f2 /etc/shadow | sort -u"
    out, err, _ = await pod.run("c", "busybox", ["sh", "-c", script])
    assert "s3cret" not in out
    assert "token" not in out
    assert out.endswith(":\n*\n")
    assert "No such file" in err


async def test_container_sees_only_its_own_processes(pod: Pod) -> None:
    needs_profile("busybox")
    out, _, _ = await pod.run("c", "busybox", ["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"])
    pid1, count = out.split()
    assert pid1 == "1"
    assert int(count) <= 3


async def test_readonly_mount_refuses_writes(pod: Pod, state_dir: Path) -> None:
    needs_profile("busybox")
    volume = state_dir / "volume"
    volume.mkdir()
    (volume / "data.txt").write_text("from the volume\n")
    mounts = [
        Mount(volume, "/mnt/ro", readonly=True),
        Mount(volume, "/mnt/rw"),
        Mount(volume / "data.txt", "/etc/app/data.txt", readonly=True),
    ]
    script = "touch /mnt/ro/x; echo rc=$?; touch /mnt/rw/y; cat /etc/app/data.txt; echo more >> /etc/app/data.txt"
    out, err, _ = await pod.run("c", "busybox", ["sh", "-c", script], mounts=mounts)
    assert "rc=1" in out
    assert "Read-only file system" in err
    assert "from the volume" in out
    assert (volume / "y").exists()
    assert not (volume / "x").exists()
    assert (volume / "data.txt").read_text() == "from the volume\n"


async def test_memory_limit_oom_kills(pod: Pod) -> None:
    needs_profile("python")
    _, _, status = await pod.run(
        "hog", "python", ["python3", "-c", "b = bytearray(512 * 1024 * 1024); print(len(b))"], memory_limit=64 << 20
    )
    assert (status.oom_killed, status.exit_code, status.signal) == (True, 137, signal.SIGKILL)


async def test_exec_command_runs_inside(pod: Pod) -> None:
    needs_profile("busybox")
    handle = await pod.start("c", "busybox", ["sleep", "60"], run_as_user=1234, working_dir="/srv/app")
    try:
        assert await exec_in(handle, ["cat", "/etc/hostname"]) == (0, "web-1\n")
        code, output = await exec_in(
            handle, ["sh", "-c", "id -u; pwd; tr '\\0' ' ' < /proc/1/cmdline; echo; grep CapEff /proc/self/status"]
        )
        assert code == 0
        assert output.splitlines()[:3] == ["1234", "/srv/app", "sleep 60 "]
        assert output.splitlines()[3].split()[1] == "0000000000000000"
    finally:
        await handle.kill()


async def test_exec_of_a_missing_command_is_refused_like_runc(pod: Pod) -> None:
    needs_profile("busybox")
    handle = await pod.start("c", "busybox", ["sleep", "60"])
    try:
        with pytest.raises(ContainerError) as caught:
            handle.exec_command(["no-such-tool"], False)
        assert 'exec: "no-such-tool": executable file not found in $PATH' in caught.value.message
    finally:
        await handle.kill()
    with pytest.raises(ContainerError):
        handle.exec_command(["sh"], False)


async def test_start_error_reads_like_runc(pod: Pod) -> None:
    needs_profile("busybox")
    with pytest.raises(ContainerError) as caught:
        await pod.start("c", "busybox", ["no-such-tool"])
    assert caught.value.reason == "StartError"
    assert caught.value.exit_code == 128
    assert caught.value.message.endswith(
        'unable to start container process: exec: "no-such-tool": executable file not found in $PATH: unknown'
    )


async def test_unknown_image_raises_image_error(pod: Pod) -> None:
    with pytest.raises(ImageError) as caught:
        await pod.start("c", "myapp:latest")
    assert caught.value.reason == "ErrImagePull"
    assert "busybox" in caught.value.message


async def test_nginx_serves_the_welcome_page(pod: Pod) -> None:
    needs_profile("nginx")
    handle = await pod.start("web", "nginx:latest")
    try:
        response = await asyncio.to_thread(http_get, pod, 80)
        assert response.startswith(b"HTTP/1.1 200 OK")
        assert b"<title>Welcome to nginx!</title>" in response
        handle.signal(handle.stop_signal)
        status = await asyncio.wait_for(handle.wait(), WAIT)
    finally:
        await handle.kill()
    assert status.exit_code == 0
    stdout = (await handle.stdout.read()).decode()
    assert stdout.startswith(
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration\n"
    )
    assert "/docker-entrypoint.sh: Configuration complete; ready for start up\n" in stdout
    assert f"{pod.sandbox.ip} - - [" in stdout
    assert '"GET / HTTP/1.0" 200 615' in stdout
    assert "start worker processes" in (await handle.stderr.read()).decode()


def http_get(pod: Pod, port: int) -> bytes:
    """GET / from the pod through Runtime.connect, retrying while the server comes up (blocking)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            sock = pod.runtime.connect(pod.uid, port, timeout=2)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        with sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


async def test_signal_reaches_pid_1(pod: Pod) -> None:
    needs_profile("busybox")
    script = "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.1; done"
    handle = await pod.start("c", "busybox", ["sh", "-c", script])
    try:
        assert await asyncio.wait_for(handle.stdout.readline(), WAIT) == b"ready\n"
        handle.signal(signal.SIGTERM)
        status = await asyncio.wait_for(handle.wait(), WAIT)
    finally:
        await handle.kill()
    assert (status.exit_code, status.signal, status.oom_killed) == (3, None, False)
    assert await handle.stdout.read() == b"got TERM\n"


async def test_exec_relay_may_finish_after_pid_1_exits(pod: Pod) -> None:
    """An exec relay (in the container's cgroup, outside its PID namespace) still busy when PID 1 exits is let be:
    killing it would report 137 for a command that ended by itself."""
    needs_profile("busybox")
    script = "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    handle = await pod.start("c", "busybox", ["sh", "-c", script])
    try:
        assert await asyncio.wait_for(handle.stdout.readline(), WAIT) == b"ready\n"
        relay = await asyncio.create_subprocess_exec("sleep", "0.3", preexec_fn=handle.join_cgroup)
        handle.signal(signal.SIGTERM)
        status = await asyncio.wait_for(handle.wait(), WAIT)
    finally:
        await handle.kill()
    assert status.exit_code == 0
    assert await relay.wait() == 0


async def test_kill_leaves_no_process(pod: Pod, runtime: Runtime) -> None:
    needs_profile("busybox")
    handle = await pod.start("c", "busybox", ["sh", "-c", "sleep 300 & sleep 300 & echo ready; wait"])
    assert await asyncio.wait_for(handle.stdout.readline(), WAIT) == b"ready\n"
    cgroup = cgroups.Cgroup(f"podscope/{runtime.iid}/{pod.uid}/c.0")
    pids = cgroup.pids()
    assert handle.pid in pids
    assert len(pids) >= 3
    await asyncio.wait_for(handle.kill(), WAIT)
    assert [pid for pid in pids if exists(f"/proc/{pid}")] == []
    assert not any(d.exists() for d in cgroup.dirs)
    status = await handle.wait()
    assert (status.exit_code, status.signal) == (137, signal.SIGKILL)


async def test_tty_container_has_its_own_terminal(pod: Pod) -> None:
    needs_profile("busybox")
    handle = await pod.start("c", "busybox", ["sh", "-c", "read line; tty; echo got $line"], tty=True, stdin=True)
    assert handle.stdin is not None
    handle.stdin.write(b"hello\n")
    await handle.stdin.drain()
    output = await asyncio.wait_for(handle.stdout.read(), WAIT)
    assert output.replace(b"\r\n", b"\n") == b"hello\n/dev/pts/0\ngot hello\n"
    assert (await asyncio.wait_for(handle.wait(), WAIT)).exit_code == 0


async def test_stop_leaves_no_netns_mount_cgroup_or_process(state_dir: Path) -> None:
    needs_profile("busybox")
    rt = Runtime(state_dir)
    if rt.unavailable_reason():
        pytest.skip(rt.unavailable_reason())
    await rt.start()
    try:
        uid = str(uuid.uuid4())
        pod = Pod(rt, uid, await rt.create_pod_sandbox(uid, "web-1"))
        volume = state_dir / "volume"
        volume.mkdir()
        await pod.start("a", "busybox", ["sleep", "300"], mounts=[Mount(volume, "/data")], memory_limit=64 << 20)
        await pod.start("b", "busybox", ["sh", "-c", "sleep 300 & sleep 300"])
        assert leftovers(state_dir) != []
    finally:
        await rt.stop()
    assert leftovers(state_dir) == []


async def test_cleanup_removes_what_a_crashed_sandbox_left(state_dir: Path) -> None:
    needs_profile("busybox")
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from pathlib import Path
        from sandbox.runtime.runtime import Runtime

        async def main():
            rt = Runtime(Path({str(state_dir)!r}))
            await rt.start()
            await rt.create_pod_sandbox("0123456789abcdef", "crash")
            spec = dict(pod_uid="0123456789abcdef", name="c", attempt=0, image="busybox", args=None, env={{}},
                        working_dir=None, mounts=[], hostname="crash")
            from sandbox.runtime.runtime import ContainerSpec
            await rt.start_container(ContainerSpec(command=["sleep", "300"], **spec))
            print("ready", flush=True)
            await asyncio.sleep(300)

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        assert line == b"ready\n"
    finally:
        process.kill()
        await process.communicate()
    assert any(item.startswith("process") for item in leftovers(state_dir))
    await asyncio.to_thread(cleanup, state_dir)
    assert leftovers(state_dir) == []


def test_cgroup_v2_join_kill_and_remove() -> None:
    root = Path("/sys/fs/cgroup/unified")
    if cgroups.version() == 2:
        root = cgroups.ROOT
    if cgroups.version(root) != 2:
        pytest.skip("no cgroup v2 hierarchy on this host")
    cgroup = cgroups.Cgroup(f"podscope/test-{uuid.uuid4().hex[:8]}/c.0", root=root)
    cgroup.create()
    process = subprocess.Popen(["sleep", "300"], preexec_fn=cgroup.join)
    try:
        assert cgroup.pids() == {process.pid}
        assert cgroup.kill()
        assert process.wait(WAIT) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()
        test_root = cgroups.Cgroup(cgroup.relpath.rsplit("/", 1)[0], root=root)
        test_root.remove()
        with contextlib.suppress(OSError):
            (root / "podscope").rmdir()
    assert not (root / cgroup.relpath).exists()
