"""The kubelet of the sandbox node: runs the pods bound to it and reports their status and events.

One `PodWorker` per pod drives its lifecycle: the pod sandbox (network namespace and IP), volumes,
init containers in order, native sidecars, the main containers, restarts with back-off, probes,
lifecycle hooks, and graceful termination. Each container is run by a `ContainerLoop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox import errors
from sandbox.api import pods
from sandbox.api.schema import quantity_value
from sandbox.api.selectors import parse_label_selector
from sandbox.events import EventRecorder
from sandbox.runtime import env as envs
from sandbox.runtime import exec_streams, images, logs, portforward, probes, processes, volumes
from sandbox.runtime import status as st
from sandbox.runtime.metrics import GROUP_VERSION, Metrics
from sandbox.runtime.runtime import (
    ContainerError,
    ContainerHandle,
    ContainerSpec,
    ImageError,
    Mount,
    Runtime,
)
from sandbox.store import DELETED, Store, changes, now_rfc3339

log = logging.getLogger(__name__)

RUNTIME_SCHEME = "podscope-sandbox"
# The kubelet resets a container's back-off once it has run this long without failing.
BACKOFF_RESET = 600.0
TERMINATION_MESSAGE_LIMIT = 4096


@dataclass(frozen=True)
class Settings:
    """Knobs of the sandbox kubelet; a short back-off makes crash loops visible in a class."""

    backoff_base: float = 10.0
    backoff_max: float = 300.0
    # A node going down does not wait a pod's full grace period.
    shutdown_grace: float = 5.0


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_id(reference: str, digest: str) -> str:
    """`docker.io/library/nginx@sha256:...` from a full reference and the profile's digest."""
    name, slash, last = reference.rpartition("/")
    repository = f"{name}{slash}{last.split(':', 1)[0]}" if slash else reference.split(":", 1)[0]
    return f"{repository}@{digest}"


def field_path(kind: str, name: str) -> str:
    """How events name a container (spec.containers{nginx})."""
    prefix = {st.MAIN: "containers", st.EPHEMERAL: "ephemeralContainers"}.get(kind, "initContainers")
    return f"spec.{prefix}{{{name}}}"


def _quantity_bytes(text: str | None) -> int | None:
    return int(quantity_value(str(text))) if text else None


def _quantity_millis(text: str | None) -> int | None:
    return int(quantity_value(str(text)) * 1000) if text else None


class ContainerLoop:
    """Runs one container through its attempts: start, watch, probe, restart with back-off."""

    def __init__(self, worker: PodWorker, spec: dict[str, Any], record: st.ContainerRecord) -> None:
        self.worker = worker
        self.spec = spec
        self.record = record
        self.handle: ContainerHandle | None = None
        # Set once an attempt's end is recorded in the status; `stop` waits for it.
        self.ended = asyncio.Event()
        self.stopping = False
        self.started_event = asyncio.Event()
        self.finished = asyncio.Event()
        self.failures_in_row = 0
        self.attempts = 0
        self.task: asyncio.Task[None] | None = None
        self.writer: logs.LogWriter | None = None

    @property
    def name(self) -> str:
        name: str = self.spec["name"]
        return name

    @property
    def restart_policy(self) -> str:
        if self.record.kind == st.SIDECAR:
            return "Always"
        if self.record.kind == st.INIT:
            # A failed init container is retried unless the pod never restarts anything.
            return "Never" if self.worker.restart_policy == "Never" else "OnFailure"
        if self.record.kind == st.EPHEMERAL:
            return "Never"
        return self.worker.restart_policy

    def event(self, type_: str, reason: str, message: str) -> None:
        self.worker.kubelet.events.emit(
            self.worker.pod, type_, reason, message, field_path(self.record.kind, self.name)
        )

    async def run(self) -> None:
        """Attempts until the container may not restart any more (or the pod stops)."""
        try:
            while not self.stopping:
                ran_for = await self.attempt()
                if self.stopping:
                    return
                exit_code = (self.record.terminated or {}).get("exitCode")
                if not self._should_restart(exit_code):
                    return
                if ran_for is not None and ran_for >= BACKOFF_RESET:
                    self.failures_in_row = 0
                self.failures_in_row += 1
                await self.back_off()
        finally:
            self.finished.set()

    def _should_restart(self, exit_code: int | None) -> bool:
        policy = self.restart_policy
        if policy == "Always":
            return True
        if policy == "OnFailure":
            return exit_code not in (0, None) or self.record.waiting is not None
        return False

    async def back_off(self) -> None:
        """Wait before the next attempt; a container that ran and ended shows CrashLoopBackOff meanwhile."""
        settings = self.worker.kubelet.settings
        delay = min(settings.backoff_base * 2 ** (self.failures_in_row - 1), settings.backoff_max)
        terminated = self.record.terminated
        if terminated is None:
            # It never started (configuration error): its waiting reason already says why.
            await asyncio.sleep(delay)
            return
        pod = self.worker.pod["metadata"]
        self.record.last_state = {"terminated": terminated}
        human = f"{int(delay)}s" if delay < 60 else f"{int(delay // 60)}m{int(delay % 60)}s"
        self.record.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {human} restarting failed container={self.name} "
                f"pod={pod['name']}_{pod['namespace']}({pod['uid']})",
            }
        }
        self.record.ready = False
        self.record.started = False
        self.worker.publish()
        self.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {self.name} in pod {pod['name']}_{pod['namespace']}({pod['uid']})",
        )
        await asyncio.sleep(delay)

    async def attempt(self) -> float | None:
        """One run of the container; returns how long it ran, or None when it did not start."""
        worker = self.worker
        kubelet = worker.kubelet
        # Every start after the first is a restart; the previous end moves to lastState.
        attempt = self.attempts
        if self.record.terminated is not None:
            self.record.last_state = {"terminated": self.record.terminated}
        image = self.spec.get("image", "")
        profile = images.resolve(image)
        why = images.unknown_image_message(image) if profile is None else profile.missing()
        if profile is None or why:
            self.record.state = {"waiting": {"reason": "ErrImagePull", "message": why}}
            worker.publish()
            self.event("Normal", "Pulling", f'Pulling image "{image}"')
            self.event("Warning", "Failed", f'Failed to pull image "{image}": {why}')
            self.event("Warning", "Failed", "Error: ErrImagePull")
            await asyncio.sleep(1)
            self.record.state = {
                "waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}": {why}'}
            }
            worker.publish()
            self.event("Normal", "BackOff", f'Back-off pulling image "{image}"')
            self.event("Warning", "Failed", "Error: ImagePullBackOff")
            # Nothing will change until the pod is replaced; wait to be stopped.
            await worker.stopped.wait()
            return None
        self.record.image = images.normalize(image)
        self.record.image_id = image_id(self.record.image, profile.image_id)
        # Nothing is pulled: every runnable image is already on the node, whatever the pull policy says.
        self.event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        try:
            env = envs.container_env(
                worker.pod,
                self.spec,
                kubelet.lookup,
                kubelet.service_env(worker.namespace),
                node=kubelet.node_info(),
                pod_ip=worker.ip,
                host_ip=kubelet.runtime.node_ip,
            )
        except envs.EnvError as exc:
            self.record.state = {"waiting": {"reason": "CreateContainerConfigError", "message": exc.message}}
            worker.publish()
            self.event("Warning", "Failed", f"Error: {exc.message}")
            await asyncio.sleep(kubelet.settings.backoff_base)
            return None
        directory = worker.container_dir(self.name, attempt)
        directory.mkdir(parents=True, exist_ok=True)
        termination = directory / "termination-log"
        termination.write_bytes(b"")
        spec = ContainerSpec(
            pod_uid=worker.uid,
            name=self.name,
            attempt=attempt,
            image=image,
            command=self.spec.get("command"),
            args=self.spec.get("args"),
            env=env,
            working_dir=self.spec.get("workingDir"),
            mounts=worker.mounts_for(self.spec, termination),
            hostname=worker.hostname,
            run_as_user=worker.security("runAsUser", self.spec),
            run_as_group=worker.security("runAsGroup", self.spec),
            memory_limit=_quantity_bytes((self.spec.get("resources") or {}).get("limits", {}).get("memory")),
            cpu_limit_millis=_quantity_millis((self.spec.get("resources") or {}).get("limits", {}).get("cpu")),
            tty=bool(self.spec.get("tty")),
            stdin=bool(self.spec.get("stdin")),
        )
        self.record.container_id = (
            f"{RUNTIME_SCHEME}://" + hashlib.sha256(f"{worker.uid}/{self.name}/{attempt}".encode()).hexdigest()
        )
        self.writer = logs.LogWriter(worker.log_path(self.name, attempt))
        # The kubelet keeps the current and the previous instance's logs, for `logs --previous`.
        for old in logs.attempts(self.writer.path.parent)[:-2]:
            old.unlink(missing_ok=True)
        self.attempts += 1
        self.record.restart_count = attempt
        try:
            handle = await kubelet.runtime.start_container(spec)
        except (ContainerError, ImageError) as exc:
            now = now_rfc3339()
            self.writer.close()
            self.record.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": exc.message,
                    "startedAt": "1970-01-01T00:00:00Z",
                    "finishedAt": now,
                    "containerID": self.record.container_id,
                }
            }
            worker.publish()
            self.event("Warning", "Failed", f"Error: {exc.message}")
            return None
        self.handle = handle
        self.ended.clear()
        if self.stopping:
            # The pod began terminating while this container was starting.
            await handle.kill()
        self.event("Normal", "Created", f"Created container: {self.name}")
        self.event("Normal", "Started", f"Started container {self.name}")
        started_at = handle.started_at
        self.record.state = {"running": {"startedAt": rfc3339(started_at)}}
        has_startup = "startupProbe" in self.spec
        self.record.started = not has_startup
        self.record.ready = not has_startup and "readinessProbe" not in self.spec
        worker.publish()
        pumps = [
            asyncio.create_task(self._pump(handle.stdout, "stdout")),
            asyncio.create_task(self._pump(handle.stderr, "stderr")),
        ]
        watchers = [asyncio.create_task(self._lifecycle(handle))]
        if not has_startup:
            self.started_event.set()
        status = await handle.wait()
        for task in watchers:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        self.writer.close()
        finished = status.finished_at
        message = self._termination_message(termination, status.exit_code)
        reason = "OOMKilled" if status.oom_killed else ("Completed" if status.exit_code == 0 else "Error")
        terminated: dict[str, Any] = {"exitCode": status.exit_code, "reason": reason}
        if status.signal:
            terminated["signal"] = status.signal
        if message:
            terminated["message"] = message
        terminated.update(
            startedAt=rfc3339(started_at), finishedAt=rfc3339(finished), containerID=self.record.container_id
        )
        self.record.state = {"terminated": terminated}
        self.record.ready = False
        self.record.started = False
        self.handle = None
        self.started_event.set()
        worker.publish()
        self.ended.set()
        return (finished - started_at).total_seconds()

    async def _pump(self, stream: asyncio.StreamReader, name: str) -> None:
        assert self.writer is not None
        while chunk := await stream.read(65536):
            self.writer.write(name, chunk)

    def _termination_message(self, path: Path, exit_code: int) -> str:
        try:
            text = path.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
        except OSError:
            text = ""
        if not text and exit_code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            assert self.writer is not None
            text = logs.last_lines(self.writer.path, 80, 2048)
        return text

    async def _lifecycle(self, handle: ContainerHandle) -> None:
        """postStart, then the startup, liveness and readiness probes, for as long as the container runs."""
        post_start = (self.spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            result = await self.action(post_start, 30)
            if not result.ok:
                self.event("Warning", "FailedPostStartHook", f"PostStartHook failed: {result.message}")
                self.event("Normal", "Killing", f"FailedPostStartHook: Container {self.name} failed post start hook")
                await handle.kill()
                return
        tasks = []
        startup = self.spec.get("startupProbe")
        if startup:
            await self.probe_loop("Startup", startup, handle)
        tasks.append(asyncio.create_task(self.probe_loop("Liveness", self.spec.get("livenessProbe"), handle)))
        tasks.append(asyncio.create_task(self.probe_loop("Readiness", self.spec.get("readinessProbe"), handle)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def action(self, action: dict[str, Any], timeout: float) -> probes.Result:
        """Run a probe or hook action against this container."""
        return await probes.run(action, self.spec, self.worker.ip, self.exec_capture, self.worker.connect, timeout)

    async def exec_capture(self, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """Run a command inside the container and collect its output (exec probes and hooks)."""
        handle = self.handle
        if handle is None:
            raise OSError("container is not running")
        host_argv, env, preexec = handle.exec_command(argv, False)
        process = await asyncio.create_subprocess_exec(
            *host_argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=preexec,
        )
        try:
            async with asyncio.timeout(timeout):
                output, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return process.returncode or 0, output

    async def probe_loop(self, kind: str, probe: dict[str, Any] | None, handle: ContainerHandle) -> None:
        if not probe:
            return
        await asyncio.sleep(probe.get("initialDelaySeconds", 0))
        period = max(1, probe.get("periodSeconds", 10))
        timeout = max(1, probe.get("timeoutSeconds", 1))
        success_needed = probe.get("successThreshold", 1)
        failure_needed = probe.get("failureThreshold", 3)
        successes = failures = 0
        while True:
            result = await self.action(probe, timeout)
            if result.ok:
                successes, failures = successes + 1, 0
                if successes >= success_needed:
                    if kind == "Startup":
                        self.record.started = True
                        if "readinessProbe" not in self.spec:
                            self.record.ready = True
                        self.started_event.set()
                        self.worker.publish()
                        return
                    if kind == "Readiness" and not self.record.ready:
                        self.record.ready = True
                        self.worker.publish()
            else:
                successes, failures = 0, failures + 1
                self.event("Warning", "Unhealthy", f"{kind} probe failed: {result.message}")
                if kind == "Readiness" and self.record.ready and failures >= failure_needed:
                    self.record.ready = False
                    self.worker.publish()
                if kind in ("Liveness", "Startup") and failures >= failure_needed:
                    verb = "liveness" if kind == "Liveness" else "startup"
                    self.event("Normal", "Killing", f"Container {self.name} failed {verb} probe, will be restarted")
                    await self.stop(float(self.worker.grace_seconds()))
                    return
            await asyncio.sleep(period)

    async def stop(self, grace: float) -> None:
        """preStop, SIGTERM, the grace period, then SIGKILL."""
        handle = self.handle
        if handle is None:
            return
        self.event("Normal", "Killing", f"Stopping container {self.name}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        pre_stop = (self.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop:
            try:
                result = await asyncio.wait_for(self.action(pre_stop, max(1.0, grace)), max(0.1, grace))
                if not result.ok:
                    self.event("Warning", "FailedPreStopHook", f"PreStopHook failed: {result.message}")
            except TimeoutError:
                pass
        with contextlib.suppress(ProcessLookupError):
            # The image's STOPSIGNAL (nginx: SIGQUIT), as the runtime would send it.
            handle.signal(handle.stop_signal or signal.SIGTERM)
        remaining = max(0.0, deadline - loop.time())
        try:
            await asyncio.wait_for(asyncio.shield(handle.wait()), remaining or 0.1)
        except TimeoutError:
            await handle.kill()
        # The attempt records the end in the status; it may have been cancelled meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ended.wait(), 5)


class PodWorker:
    """Drives one pod on the node from creation to removal."""

    def __init__(self, kubelet: Kubelet, pod: dict[str, Any]) -> None:
        self.kubelet = kubelet
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.hostname: str = pod["spec"].get("hostname") or self.name
        self.restart_policy: str = pod["spec"].get("restartPolicy", "Always")
        self.ip = ""
        self.sandbox_ready = False
        self.volumes: dict[str, Path] = {}
        self.loops: dict[str, ContainerLoop] = {}
        self.records: list[st.ContainerRecord] = []
        self.stopped = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.terminating: asyncio.Task[None] | None = None
        self.start_time = ""
        self._last_status: dict[str, Any] | None = None
        spec = pod["spec"]
        for c in spec.get("initContainers") or []:
            kind = st.SIDECAR if c.get("restartPolicy") == "Always" else st.INIT
            self._add(c, kind)
        for c in spec.get("containers") or []:
            self._add(c, st.MAIN)

    def _add(self, container: dict[str, Any], kind: str) -> ContainerLoop:
        record = st.ContainerRecord(container["name"], kind, images.normalize(container.get("image", "")))
        record.mounts = [
            {
                "name": m["name"],
                "mountPath": m["mountPath"],
                **({"readOnly": True} if m.get("readOnly") else {}),
                "recursiveReadOnly": "Disabled",
            }
            for m in container.get("volumeMounts") or []
        ]
        self.records.append(record)
        loop = ContainerLoop(self, container, record)
        self.loops[container["name"]] = loop
        return loop

    # -- paths and helpers -------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.kubelet.node_dir / "pods" / self.uid

    def container_dir(self, name: str, attempt: int) -> Path:
        return self.directory / "containers" / name / str(attempt)

    def log_path(self, name: str, attempt: int) -> Path:
        return self.kubelet.node_dir / "logs" / f"{self.namespace}_{self.name}_{self.uid}" / name / f"{attempt}.log"

    def grace_seconds(self) -> int:
        return int(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def security(self, key: str, container: dict[str, Any]) -> int | None:
        own = (container.get("securityContext") or {}).get(key)
        if own is not None:
            return int(own)
        pod_level = (self.pod["spec"].get("securityContext") or {}).get(key)
        return int(pod_level) if pod_level is not None else None

    def connect(self, port: int, timeout: float) -> Any:
        return self.kubelet.runtime.connect(self.uid, port, timeout)

    def mounts_for(self, container: dict[str, Any], termination: Path) -> list[Mount]:
        """The bind mounts of one container: its volumeMounts, the pod's hosts files, the termination log."""
        mounts = []
        declared = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        for m in container.get("volumeMounts") or []:
            source = self.volumes[m["name"]]
            sub = m.get("subPath") or ""
            if sub:
                source = source / sub
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
            readonly = bool(m.get("readOnly")) or volumes.read_only(declared.get(m["name"], {}))
            mounts.append(Mount(source, m["mountPath"], readonly=readonly))
        pod_files = self.directory / "etc"
        for name in ("hosts", "hostname", "resolv.conf"):
            if not any(m.target == f"/etc/{name}" for m in mounts):
                mounts.append(Mount(pod_files / name, f"/etc/{name}"))
        path = container.get("terminationMessagePath") or "/dev/termination-log"
        mounts.append(Mount(termination, path))
        return mounts

    # -- status ------------------------------------------------------------------------------

    def publish(self) -> None:
        """Write the pod's status as the kubelet's status manager does, when it changed."""
        current = self.kubelet.store.find("pods", self.namespace, self.name)
        if current is None or current["metadata"]["uid"] != self.uid:
            return
        status = dict(current.get("status") or {})
        phase = st.phase(self.restart_policy, self.records)
        terminal = phase if phase in ("Succeeded", "Failed") else None
        gates = [g["conditionType"] for g in self.pod["spec"].get("readinessGates") or []]
        gates = [
            g
            for g in gates
            if not any(c.get("type") == g and c.get("status") == "True" for c in status.get("conditions", []))
        ]
        fresh = st.conditions(self.records, self.sandbox_ready, terminal, gates)
        status["conditions"] = st.merge_conditions(status.get("conditions") or [], fresh, now_rfc3339())
        status["phase"] = phase
        status["hostIP"] = self.kubelet.runtime.node_ip
        status["hostIPs"] = [{"ip": self.kubelet.runtime.node_ip}]
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.start_time:
            status["startTime"] = self.start_time
        inits = [r.as_status() for r in self.records if r.kind in (st.INIT, st.SIDECAR)]
        if inits:
            status["initContainerStatuses"] = inits
        # The kubelet sorts regular and ephemeral statuses by name; init ones keep their run order.
        status["containerStatuses"] = sorted(
            (r.as_status() for r in self.records if r.kind == st.MAIN), key=lambda s: s["name"]
        )
        ephemeral = sorted((r.as_status() for r in self.records if r.kind == st.EPHEMERAL), key=lambda s: s["name"])
        if ephemeral:
            status["ephemeralContainerStatuses"] = ephemeral
        if status == self._last_status:
            return
        self._last_status = status
        current["status"] = status
        with contextlib.suppress(errors.ApiError):
            self.kubelet.store.update("pods", current, check_version=False)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Set up the pod, run init containers in order, then the rest; then wait to be stopped."""
        self.start_time = now_rfc3339()
        self.publish()
        try:
            sandbox = await self.kubelet.runtime.create_pod_sandbox(self.uid, self.hostname)
        except Exception as exc:
            log.exception("pod sandbox for %s/%s failed", self.namespace, self.name)
            self.kubelet.events.emit(
                self.pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}"
            )
            await self.stopped.wait()
            return
        self.ip = sandbox.ip
        self.sandbox_ready = True
        self._write_pod_files()
        self.publish()
        if not await self._mount_volumes():
            return
        for loop in [self.loops[r.name] for r in self.records if r.kind in (st.INIT, st.SIDECAR)]:
            loop.task = asyncio.create_task(loop.run())
            if loop.record.kind == st.SIDECAR:
                await self._first(loop.started_event.wait())
            else:
                await self._first(loop.finished.wait())
                done = loop.record.terminated
                if done is None or done.get("exitCode") != 0:
                    # The pod failed to initialise (restartPolicy Never) or is stopping.
                    await self.stopped.wait()
                    return
            if self.stopped.is_set():
                return
        self.publish()
        for loop in [self.loops[r.name] for r in self.records if r.kind == st.MAIN]:
            loop.task = asyncio.create_task(loop.run())
        await self.stopped.wait()

    async def _first(self, awaitable: Any) -> None:
        """Wait for `awaitable` unless the pod is being stopped first."""
        waiting = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self.stopped.wait())
        _, pending = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    def _write_pod_files(self) -> None:
        etc = self.directory / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        aliases = self.pod["spec"].get("hostAliases") or []
        (etc / "hosts").write_text(volumes.etc_hosts(self.ip, self.hostname, aliases))
        (etc / "hostname").write_text(self.hostname + "\n")
        (etc / "resolv.conf").write_text(volumes.resolv_conf(self.namespace))

    async def _mount_volumes(self) -> bool:
        while not self.stopped.is_set():
            try:
                self.volumes = volumes.materialize(
                    self.pod, self.directory, self.kubelet.lookup, self.kubelet.node_info()
                )
                return True
            except volumes.VolumeError as exc:
                self.kubelet.events.emit(self.pod, "Warning", exc.reason, exc.message)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopped.wait(), 5)
        return False

    def refresh_volumes(self) -> None:
        """Re-project configMap and secret volumes after their source changed."""
        if self.volumes:
            with contextlib.suppress(volumes.VolumeError):
                volumes.refresh(self.pod, self.directory, self.kubelet.lookup, self.kubelet.node_info())

    async def terminate(self, grace: float, delete: bool = True) -> None:
        """Stop every container (main ones first, sidecars last, in reverse), tear down, remove the pod."""
        if not delete:
            grace = min(grace, self.kubelet.settings.shutdown_grace)
        for loop in self.loops.values():
            loop.stopping = True
        self.stopped.set()
        if self.task is not None:
            # Nothing new starts from here on; run() returns once `stopped` is set.
            done, _ = await asyncio.wait({self.task}, timeout=1)
            if not done:
                self.task.cancel()
        mains = [self.loops[r.name] for r in self.records if r.kind in (st.MAIN, st.EPHEMERAL)]
        sidecars = [self.loops[r.name] for r in reversed(self.records) if r.kind in (st.SIDECAR, st.INIT)]
        await asyncio.gather(*(loop.stop(grace) for loop in mains))
        for loop in sidecars:
            await loop.stop(max(2.0, grace / 2))
        tasks = [loop.task for loop in self.loops.values() if loop.task is not None and not loop.task.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                # A loop caught while starting or backing off: the runtime kills what it started below.
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.kubelet.runtime.remove_pod_sandbox(self.uid)
        volumes.cleanup(self.directory)
        if delete:
            shutil.rmtree(
                self.kubelet.node_dir / "logs" / f"{self.namespace}_{self.name}_{self.uid}", ignore_errors=True
            )
            with contextlib.suppress(errors.ApiError):
                current = self.kubelet.store.find("pods", self.namespace, self.name)
                if current is not None and current["metadata"]["uid"] == self.uid:
                    self.kubelet.store.delete("pods", self.namespace, self.name)


class Kubelet:
    """Runs the pods bound to one node, and serves their logs, exec and port-forward streams."""

    def __init__(self, store: Store, runtime: Runtime, node_name: str, node_dir: Path, settings: Settings) -> None:
        self.store = store
        self.runtime = runtime
        self.node_name = node_name
        self.node_dir = node_dir
        self.settings = settings
        self.events = EventRecorder(store, "kubelet", node_name)
        self.workers: dict[str, PodWorker] = {}
        self.metrics_provider: Metrics | None = Metrics(self)

    def lookup(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.find(resource, namespace, name)

    def service_env(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.store.list("services", namespace))

    def node_info(self) -> dict[str, Any]:
        node = self.store.find("nodes", "", self.node_name) or {}
        return {
            "name": self.node_name,
            "ip": self.runtime.node_ip,
            "allocatable": node.get("status", {}).get("allocatable", {}),
        }

    def _mine(self, pod: dict[str, Any]) -> bool:
        node_name: str | None = pod.get("spec", {}).get("nodeName")
        return node_name == self.node_name

    def sync(self, pod: dict[str, Any]) -> None:
        """React to the current state of one pod object."""
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if pod["metadata"].get("deletionTimestamp"):
            if worker is None:
                with contextlib.suppress(errors.ApiError):
                    self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
                return
            if worker.terminating is None:
                grace = float(pod["metadata"].get("deletionGracePeriodSeconds", 30))
                worker.terminating = asyncio.create_task(self._terminate(worker, grace))
            return
        if worker is None:
            phase = pod.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
            worker.task = asyncio.create_task(worker.run())
            return
        worker.pod = pod
        self._add_ephemeral(worker, pod)

    def _add_ephemeral(self, worker: PodWorker, pod: dict[str, Any]) -> None:
        for c in pod["spec"].get("ephemeralContainers") or []:
            if c["name"] in worker.loops:
                continue
            loop = worker._add(c, st.EPHEMERAL)
            loop.task = asyncio.create_task(loop.run())

    async def _terminate(self, worker: PodWorker, grace: float) -> None:
        try:
            await worker.terminate(grace)
        finally:
            self.workers.pop(worker.uid, None)

    async def run(self) -> None:
        """Start the runtime, adopt the stored pods, then follow every pod change."""
        watcher = self.store.watch("pods")
        for pod in list(self.store.list("pods")):
            if self._mine(pod):
                self.sync(self.store.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"]))
        config_watch = self.store.watch("configmaps")
        secret_watch = self.store.watch("secrets")
        refresher = asyncio.create_task(self._refresh(config_watch, secret_watch))
        try:
            while True:
                change = await watcher.queue.get()
                if change is None:
                    return
                pod = change.object
                if change.type == DELETED:
                    worker = self.workers.get(pod["metadata"]["uid"])
                    if worker is not None and worker.terminating is None:
                        worker.terminating = asyncio.create_task(self._terminate(worker, 0))
                    continue
                if self._mine(pod):
                    self.sync(pod)
        finally:
            refresher.cancel()
            self.store.stop_watch(watcher)
            self.store.stop_watch(config_watch)
            self.store.stop_watch(secret_watch)

    async def _refresh(self, *watchers: Any) -> None:
        async for change in changes(*watchers):
            namespace = change.object["metadata"].get("namespace", "")
            for worker in list(self.workers.values()):
                if worker.namespace == namespace:
                    worker.refresh_volumes()

    # -- streams and metrics for the API ------------------------------------------------------

    def worker_for(self, pod: dict[str, Any]) -> PodWorker | None:
        return self.workers.get(pod["metadata"]["uid"])

    async def stream(self, request: web.Request, call: Any, pod: dict[str, Any]) -> web.StreamResponse:
        """pods/log, exec, attach and portforward for a pod on this node."""
        if pod["spec"].get("nodeName") != self.node_name:
            raise errors.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
        if call.subresource == "log":
            return await self._logs(request, pod, pods.log_options(pod, call.query))
        if call.subresource == "portforward":
            return await self._portforward(request, pod)
        return await self._exec(request, call, pod)

    async def _logs(self, request: web.Request, pod: dict[str, Any], options: pods.LogOptions) -> web.StreamResponse:
        meta = pod["metadata"]
        directory = logs.log_dir(
            self.node_dir / "logs", meta["namespace"], meta["name"], meta["uid"], options.container
        )
        worker = self.worker_for(pod)
        loop = worker.loops.get(options.container) if worker is not None else None
        source: logs.LogWriter | Path | None
        if options.previous:
            source = logs.pick(directory, previous=True)
            if source is None:
                raise errors.bad_request(
                    f'previous terminated container "{options.container}" in pod "{meta["name"]}" not found'
                )
        else:
            source = loop.writer if loop is not None and loop.writer is not None else logs.pick(directory)
            if source is None:
                raise pods.not_started(pod, options.container)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if not options.follow and isinstance(source, logs.LogWriter):
            source.flush()
            source = source.path
        async for chunk in logs.read(source, options):
            await response.write(chunk)
        await response.write_eof()
        return response

    def _running_handle(self, pod: dict[str, Any], container: str) -> ContainerHandle:
        worker = self.worker_for(pod)
        loop = worker.loops.get(container) if worker is not None else None
        if loop is None or loop.handle is None:
            # What the kubelet answers, which kubectl shows as "unable to upgrade connection: ...".
            raise errors.ApiError(404, "NotFound", f'container not found ("{container}")')
        return loop.handle

    async def _exec(self, request: web.Request, call: Any, pod: dict[str, Any]) -> web.StreamResponse:
        if call.subresource == "attach":
            raise errors.bad_request("attach is not supported by the sandbox node; use exec")
        options = exec_streams.exec_options(request.query)
        handle = self._running_handle(pod, pods.pick_container(pod, options.container))

        async def spawn(argv: list[str], tty: bool) -> exec_streams.Process:
            try:
                host_argv, env, preexec = handle.exec_command(argv, tty)
            except ContainerError as exc:
                raise exec_streams.SpawnError(f"failed to exec in container: {exc.message}") from None
            return await processes.spawn_local(host_argv, tty, env=env, preexec=preexec)

        return await exec_streams.serve_exec(
            request,
            command=options.command,
            tty=options.tty,
            stdin=options.stdin,
            stdout=options.stdout,
            stderr=options.stderr,
            spawn=spawn,
        )

    async def _portforward(self, request: web.Request, pod: dict[str, Any]) -> web.StreamResponse:
        meta = pod["metadata"]
        if self.worker_for(pod) is None or pod.get("status", {}).get("phase") != "Running":
            raise errors.bad_request(f"pod {meta['name']} is not running")
        uid = meta["uid"]

        def connect(port: int) -> Any:
            return self.runtime.connect(uid, port, local=True)

        return await portforward.serve_portforward(request, None, connect, pod=meta["name"], uid=uid)

    def metrics(self, call: Any) -> dict[str, Any]:
        """PodMetrics and NodeMetrics (get and list)."""
        assert self.metrics_provider is not None
        if call.resource.kind == "NodeMetrics":
            node = self.metrics_provider.node()
            if call.name:
                if call.name != self.node_name:
                    raise errors.not_found("nodes", call.name, "metrics.k8s.io")
                return node
            return {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": [node]}
        if call.name:
            return self.metrics_provider.get_pod(call.namespace, call.name)
        labels = parse_label_selector(call.query.get("labelSelector", ""))
        items = [
            m
            for m in self.metrics_provider.list_pods(call.namespace)
            if labels.matches(m["metadata"].get("labels") or {})
        ]
        return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}

    async def shutdown(self) -> None:
        """Stop every container (the node going down); pod objects stay, to be started again."""
        await asyncio.gather(
            *(w.terminate(w.grace_seconds(), delete=False) for w in list(self.workers.values())),
            return_exceptions=True,
        )
        self.workers.clear()
