"""Container cgroups on either cgroup v2 (preferred) or the v1 per-controller hierarchies."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupStats:
    cpu_usage_ns: int
    memory_working_set_bytes: int


def version(root: Path = ROOT) -> int:
    """2 when `root` is a unified hierarchy, else 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def available(root: Path = ROOT) -> bool:
    """Whether this host has a writable cgroup hierarchy with a memory controller."""
    if version(root) == 2:
        return "memory" in _read(root / "cgroup.controllers").split() and os.access(root, os.W_OK)
    return (root / "memory").is_dir() and os.access(root / "memory", os.W_OK)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    # A raw write: one syscall, no buffering, so it is also safe between fork and exec.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _keyed(text: str) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        key, _, number = line.partition(" ")
        with contextlib.suppress(ValueError):
            values[key] = int(number)
    return values


class Cgroup:
    """One cgroup: a directory in the unified hierarchy, or the same relative path in each v1 controller."""

    def __init__(self, relpath: str, root: Path = ROOT) -> None:
        self.relpath = relpath.strip("/")
        self.root = root
        self.version = version(root)

    def __repr__(self) -> str:
        return f"Cgroup({self.relpath!r}, v{self.version})"

    @property
    def dirs(self) -> list[Path]:
        """Every directory that makes up this cgroup (one on v2, one per mounted controller on v1)."""
        if self.version == 2:
            return [self.root / self.relpath]
        seen: set[Path] = set()
        dirs = []
        for controller in V1_CONTROLLERS:
            base = self.root / controller
            if not base.is_dir():
                continue
            # cpu and cpuacct are often one hierarchy reached through two symlinks.
            real = base.resolve()
            if real not in seen:
                seen.add(real)
                dirs.append(real / self.relpath)
        return dirs

    def _file(self, name: str) -> Path | None:
        """The directory of this cgroup that holds the interface file `name`."""
        for d in self.dirs:
            if (d / name).exists():
                return d / name
        return None

    def create(self) -> None:
        """Create the cgroup and its parents; on v2 enable the controllers down the path."""
        if self.version == 2:
            self._enable_v2_controllers()
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)

    def _enable_v2_controllers(self) -> None:
        wanted = [c for c in V2_CONTROLLERS if c in _read(self.root / "cgroup.controllers").split()]
        parent = self.root
        for part in Path(self.relpath).parts:
            enabled = _read(parent / "cgroup.subtree_control").split()
            for controller in wanted:
                if controller not in enabled:
                    with contextlib.suppress(OSError):
                        _write(parent / "cgroup.subtree_control", f"+{controller}")
            parent = parent / part
            parent.mkdir(exist_ok=True)

    def set_limits(self, memory_bytes: int | None = None, cpu_millis: int | None = None) -> None:
        """Apply a memory limit (the kernel OOM-kills past it) and a CPU quota."""
        if self.version == 2:
            d = self.root / self.relpath
            if memory_bytes is not None:
                _write(d / "memory.max", str(memory_bytes))
                # Without this the cgroup would swap instead of being OOM-killed.
                with contextlib.suppress(OSError):
                    _write(d / "memory.swap.max", "0")
                # As the kubelet sets it on cgroup v2: an OOM kill takes the whole container, not one process.
                with contextlib.suppress(OSError):
                    _write(d / "memory.oom.group", "1")
            if cpu_millis is not None:
                quota = max(1000, cpu_millis * CFS_PERIOD_US // 1000)
                _write(d / "cpu.max", f"{quota} {CFS_PERIOD_US}")
            return
        if memory_bytes is not None:
            limit = self._file("memory.limit_in_bytes")
            if limit is None:
                raise OSError("the memory cgroup controller is not mounted")
            _write(limit, str(memory_bytes))
            memsw = self._file("memory.memsw.limit_in_bytes")
            if memsw is not None:
                with contextlib.suppress(OSError):
                    _write(memsw, str(memory_bytes))
        if cpu_millis is not None:
            quota_file = self._file("cpu.cfs_quota_us")
            if quota_file is not None:
                _write(quota_file.with_name("cpu.cfs_period_us"), str(CFS_PERIOD_US))
                _write(quota_file, str(max(1000, cpu_millis * CFS_PERIOD_US // 1000)))

    def procs_files(self) -> list[str]:
        """The cgroup.procs files a process writes "0" to in order to join this cgroup."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def join(self, pid: int = 0) -> None:
        """Move process `pid` (0: the caller) into this cgroup; usable as a preexec_fn."""
        join_files(self.procs_files(), pid)

    def pids(self) -> set[int]:
        """Every process in this cgroup and its descendants."""
        found: set[int] = set()
        for d in self.dirs:
            # os.walk skips a directory that goes away while it is read (an exec's child cgroup being removed,
            # or this one after its last process); pathlib's rglob would raise.
            for parent, _, files in os.walk(d):
                if "cgroup.procs" in files:
                    found.update(int(p) for p in _read(Path(parent) / "cgroup.procs").split())
        return found

    def wait_empty(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every process to leave the cgroup on its own; True when it emptied."""
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the cgroup until it is empty; True when it emptied in time."""
        kill_file = self.root / self.relpath / "cgroup.kill"
        if self.version == 2 and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        if self.version == 2:
            return _keyed(_read(self.root / self.relpath / "memory.events")).get("oom_kill", 0)
        control = self._file("memory.oom_control")
        return _keyed(_read(control)).get("oom_kill", 0) if control else 0

    def stats(self) -> CgroupStats | None:
        """Cumulative CPU time and working-set memory (usage less inactive file cache), as cAdvisor counts them."""
        if self.version == 2:
            d = self.root / self.relpath
            if not d.is_dir():
                return None
            cpu = _keyed(_read(d / "cpu.stat")).get("usage_usec", 0) * 1000
            usage = int(_read(d / "memory.current") or 0)
            inactive = _keyed(_read(d / "memory.stat")).get("inactive_file", 0)
            return CgroupStats(cpu, max(0, usage - inactive))
        usage_file = self._file("memory.usage_in_bytes")
        cpu_file = self._file("cpuacct.usage")
        if usage_file is None:
            return None
        cpu = int(_read(cpu_file).strip() or 0) if cpu_file else 0
        usage = int(_read(usage_file).strip() or 0)
        inactive = _keyed(_read(usage_file.with_name("memory.stat"))).get("total_inactive_file", 0)
        return CgroupStats(cpu, max(0, usage - inactive))

    def remove(self, timeout: float = 5.0) -> bool:
        """Kill what is left and remove the cgroup with all its descendants; False if some of it stayed."""
        self.kill(timeout)
        removed = True
        for d in self.dirs:
            if not d.is_dir():
                continue
            children = sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            for child in [*children, d]:
                removed = _rmdir(child, timeout) and removed
        return removed


def _rmdir(path: Path, timeout: float) -> bool:
    # A cgroup whose last process just died can stay busy for a moment.
    deadline = time.monotonic() + timeout
    while True:
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)


def join_files(procs_files: list[str], pid: int = 0) -> None:
    """Write `pid` into each cgroup.procs file; allocation-light so it can run between fork and exec."""
    value = str(pid)
    for path in procs_files:
        _write(Path(path), value)
