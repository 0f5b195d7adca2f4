"""Starts one container: `python -m sandbox.runtime.shim SPEC.json`.

The shim joins the pod's network namespace and forks the container's PID 1 into new PID, mount, UTS and IPC
namespaces. PID 1 builds the container's root (overlay, /proc, /dev, /sys, volumes, masks), pivots into it,
drops privileges and execs the program. The shim stays outside as its parent: it forwards termination signals,
waits, and ends the way PID 1 ended (same exit code, or the same fatal signal).

The status socket (fd `status_fd` in the spec, a Unix stream socket) carries JSON lines to the runtime: {"pid": N}
from the shim once PID 1 exists; from PID 1 either {"error": "..."} or, right before exec, its credentials, preceded
for a tty container by {"console": true} with the pty master attached. It closes on a successful exec.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import resource
import signal
import socket
import sys
import termios
from pathlib import Path
from typing import Any, NoReturn

from sandbox.runtime import linux

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
EXIT_START_FAILED = 128
RUNC_PREFIX = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: "
)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
    "core": "/proc/kcore",
}
# What runc hides or freezes in /proc by default.
PROC_NULLED = ("kcore", "keys", "timer_list", "sched_debug", "latency_stats")
PROC_READONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs", "asound")
# Docker's default capability set; everything else leaves the bounding set before exec.
KEPT_CAPABILITIES = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31})
KEPT_CAPABILITY_NAMES = (
    "+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,"
    "+net_bind_service,+net_raw,+sys_chroot,+mknod,+audit_write,+setfcap"
)
PROPAGATION = {"private": linux.MS_PRIVATE, "rslave": linux.MS_SLAVE, "rshared": linux.MS_SHARED}


class StartError(Exception):
    """The container process could not be started; the message reads like runc's."""


def send(fd: int, message: dict[str, Any], pass_fd: int | None = None) -> None:
    """Write one JSON line on the status socket, optionally with a file descriptor attached."""
    data = (json.dumps(message) + "\n").encode()
    if pass_fd is not None:
        with socket.socket(fileno=os.dup(fd)) as sock:
            socket.send_fds(sock, [data], [pass_fd])
        return
    while data:
        data = data[os.write(fd, data) :]


def open_console(status_fd: int, uid: int) -> None:
    """Make a pty of the container's own devpts its stdio and controlling terminal; the master goes to the runtime.

    Allocated inside the container (as runc does with its console socket) so that ttyname() and `tty` work there.
    """
    master, slave = os.openpty()
    os.fchown(slave, uid, -1)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    send(status_fd, {"console": True}, pass_fd=master)
    os.close(master)


def secure_join(root: str, path: str) -> str:
    """`path` inside `root`, following symlinks as if `root` were / so that no link can point outside it."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise StartError(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _overlay_escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _bind_readonly(target: str) -> None:
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY
    # A remount must keep the flags the bind inherited (nosuid, nodev, noexec) or the kernel may refuse it.
    vfs = os.statvfs(target).f_flag
    for st_flag, ms_flag in (
        (os.ST_NOSUID, linux.MS_NOSUID),
        (os.ST_NODEV, linux.MS_NODEV),
        (os.ST_NOEXEC, linux.MS_NOEXEC),
    ):
        if vfs & st_flag:
            flags |= ms_flag
    linux.mount(None, target, None, flags)


def mount_dev(rootfs: str) -> None:
    """A minimal /dev: a few host device nodes, a private devpts, /dev/shm and the usual links."""
    dev = os.path.join(rootfs, "dev")
    os.makedirs(dev, exist_ok=True)
    linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID, "mode=755,size=65536k")
    for name in DEVICES:
        target = os.path.join(dev, name)
        _touch(target)
        linux.mount(f"/dev/{name}", target, None, linux.MS_BIND)
    os.mkdir(os.path.join(dev, "pts"))
    linux.mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        linux.MS_NOSUID | linux.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    os.mkdir(os.path.join(dev, "shm"))
    shm_flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", shm_flags, "mode=1777,size=65536k")
    os.mkdir(os.path.join(dev, "mqueue"))
    try:
        linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", shm_flags)
    except OSError:
        os.rmdir(os.path.join(dev, "mqueue"))
    for name, target in DEV_LINKS.items():
        os.symlink(target, os.path.join(dev, name))


def mount_proc_and_sys(rootfs: str) -> None:
    """A /proc of the container's own PID namespace with runc's masks, and a read-only /sys."""
    proc = os.path.join(rootfs, "proc")
    os.makedirs(proc, exist_ok=True)
    linux.mount("proc", proc, "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    for name in PROC_NULLED:
        target = os.path.join(proc, name)
        if os.path.isfile(target):
            linux.mount("/dev/null", target, None, linux.MS_BIND)
    for name in PROC_READONLY:
        target = os.path.join(proc, name)
        if os.path.exists(target):
            linux.mount(target, target, None, linux.MS_BIND | linux.MS_REC)
            _bind_readonly(target)
    sys_dir = os.path.join(rootfs, "sys")
    os.makedirs(sys_dir, exist_ok=True)
    flags = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("sysfs", sys_dir, "sysfs", flags)


def mount_masks(rootfs: str, masks: list[list[Any]]) -> None:
    """Empty tmpfs over host directories a container must not read (the sandbox's state, /root)."""
    for path, readonly in masks:
        target = secure_join(rootfs, path)
        if not os.path.isdir(target):
            continue
        flags = linux.MS_NOSUID | linux.MS_NODEV | (linux.MS_RDONLY if readonly else 0)
        linux.mount("tmpfs", target, "tmpfs", flags, "mode=700,size=65536k")


def mount_volumes(rootfs: str, mounts: list[dict[str, Any]]) -> None:
    """Bind every volume mount at its target; a file source gets a file bind."""
    for m in mounts:
        source, target = m["source"], secure_join(rootfs, m["target"])
        if not os.path.exists(source):
            raise StartError(f'error mounting "{source}" to rootfs at "{m["target"]}": no such file or directory')
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            _touch(target)
        linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
        if m.get("readonly"):
            _bind_readonly(target)
        propagation = PROPAGATION.get(m.get("propagation", "private"), linux.MS_PRIVATE)
        linux.mount(None, target, None, propagation | linux.MS_REC)


def build_root(spec: dict[str, Any]) -> None:
    """Assemble the container's root filesystem and make it the root of this mount namespace."""
    rootfs = spec["rootfs"]
    # Slave: host mounts still propagate in, nothing of ours leaks out to the host.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    options = f"lowerdir=/,upperdir={_overlay_escape(spec['upper'])},workdir={_overlay_escape(spec['work'])}"
    linux.mount("overlay", rootfs, "overlay", 0, options)
    mount_proc_and_sys(rootfs)
    mount_dev(rootfs)
    mount_masks(rootfs, spec.get("masks", []))
    mount_volumes(rootfs, spec.get("mounts", []))
    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.split(":") for line in f.read().splitlines() if line and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(user: str | None, group: int | None) -> tuple[int, int, list[int], str]:
    """uid, gid, supplementary groups and home for `user` (name, uid or uid:gid) from the container's files."""
    name_or_uid, _, group_part = (user or "0").partition(":")
    passwd = _read_db("/etc/passwd")
    entry = next(
        (e for e in passwd if len(e) >= 6 and (e[0] == name_or_uid or e[2] == name_or_uid)),
        None,
    )
    if entry is None and not name_or_uid.isdigit():
        raise StartError(f"unable to find user {name_or_uid}: no matching entries in passwd file")
    uid = int(entry[2]) if entry else int(name_or_uid)
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry else "/"
    if group_part:
        gid = int(group_part) if group_part.isdigit() else _group_id(group_part)
    if group is not None:
        gid = group
    groups = {gid}
    if entry:
        for g in _read_db("/etc/group"):
            if len(g) >= 4 and entry[0] in g[3].split(","):
                groups.add(int(g[2]))
    return uid, gid, sorted(groups), home


def _group_id(name: str) -> int:
    for g in _read_db("/etc/group"):
        if len(g) >= 3 and g[0] == name:
            return int(g[2])
    raise StartError(f"unable to find group {name}: no matching entries in group file")


def find_executable(name: str, path_env: str, root: str = "/", cwd: str = "/") -> str:
    """The file exec would run for `name`, or a StartError worded like runc's.

    With `root` other than /, paths are looked up as a process whose root is `root` and whose cwd is `cwd` would.
    """

    def seen(path: str) -> str:
        return path if root == "/" else secure_join(root, os.path.join(cwd, path))

    if "/" in name:
        if not os.path.exists(seen(name)):
            raise StartError(f'exec: "{name}": stat {name}: no such file or directory')
        return name
    for directory in path_env.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(seen(candidate)) and os.access(seen(candidate), os.X_OK):
            return candidate
    raise StartError(f'exec: "{name}": executable file not found in $PATH')


def drop_capabilities() -> None:
    """Shrink the bounding set to Docker's defaults so the exec'd program cannot mount, load modules and so on."""
    for cap in range(linux.last_capability() + 1):
        if cap not in KEPT_CAPABILITIES:
            try:
                linux.prctl(linux.PR_CAPBSET_DROP, cap)
            except OSError:
                break


def reset_signals() -> None:
    """Default dispositions and an empty mask: Python ignores SIGPIPE, and ignored signals survive exec."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _reason(exc: OSError) -> str:
    """The system call's error text in lower case, as runc quotes it."""
    if exc.strerror is None:
        # The os functions always set it when a system call fails; without one there is no reason to quote.
        raise exc
    return exc.strerror.lower()


def container_init(spec: dict[str, Any], status_fd: int) -> NoReturn:
    """PID 1 of the new PID namespace: set everything up and exec the container's program."""
    try:
        reset_signals()
        # Opened now, written just before exec: /sys/fs/cgroup is out of reach after pivot_root, and joining late
        # keeps the memory this Python process touches during setup off the container's account.
        cgroup_fds = [os.open(path, os.O_WRONLY | os.O_CLOEXEC) for path in spec.get("cgroup_procs", [])]
        os.setsid()
        linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC)
        linux.sethostname(spec["hostname"])
        build_root(spec)
        uid, gid, groups, home = resolve_user(spec.get("user"), spec.get("group"))
        env = dict(spec["env"])
        env.setdefault("HOME", home)
        cwd = spec.get("cwd") or "/"
        os.makedirs(cwd, exist_ok=True)
        argv = spec["argv"]
        if not argv:
            raise StartError("no command specified")
        if spec.get("tty"):
            open_console(status_fd, uid)
        for fd in cgroup_fds:
            os.write(fd, b"0")
            os.close(fd)
        # Its own cgroup namespace, so /proc/self/cgroup reads "/" as in any container.
        with contextlib.suppress(OSError):
            linux.unshare(linux.CLONE_NEWCGROUP)
        drop_capabilities()
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        # Set after the uid change, which would clear it: the container dies with its shim.
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise StartError(f'chdir to cwd ("{cwd}") set in config.json failed: {_reason(exc)}') from exc
        program = find_executable(argv[0], env.get("PATH", ""))
        send(status_fd, {"uid": uid, "gid": gid, "groups": groups, "home": home})
        os.set_inheritable(status_fd, False)
        try:
            os.execve(program, argv, env)
        except PermissionError as exc:
            raise StartError(f'exec: "{argv[0]}": permission denied') from exc
        except OSError as exc:
            raise StartError(f'exec: "{argv[0]}": {_reason(exc)}') from exc
    except StartError as exc:
        _fail(status_fd, f"{RUNC_PREFIX}{exc}: unknown")
    except BaseException as exc:
        _fail(status_fd, f"{RUNC_PREFIX}error during container init: {exc}: unknown")


def _fail(status_fd: int, message: str) -> NoReturn:
    try:
        send(status_fd, {"error": message})
    finally:
        os._exit(EXIT_START_FAILED)


def _end_like(status: int) -> NoReturn:
    """Exit with PID 1's code, or die of its signal so the runtime sees the same wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> NoReturn:
    """Run the container described by the spec file in argv[1]."""
    spec = json.loads(Path(argv[1]).read_text())
    status_fd = int(spec["status_fd"])
    try:
        netns = os.open(spec["netns"], os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(netns, linux.CLONE_NEWNET)
        finally:
            os.close(netns)
        linux.unshare(linux.CLONE_NEWPID)
    except OSError as exc:
        _fail(status_fd, f"{RUNC_PREFIX}error during container init: joining the pod network: {exc}: unknown")

    child = 0

    def forward(sig: int, _frame: object) -> None:
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, sig)

    # Blocked across fork so a signal can neither run the handler in the child nor be lost before `child` is set.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    child = os.fork()
    if child == 0:
        container_init(spec, status_fd)
    send(status_fd, {"pid": child})
    os.close(status_fd)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    _, status = os.waitpid(child, 0)
    _end_like(status)


if __name__ == "__main__":
    main(sys.argv)
