"""Image profiles: what each image name means in a sandbox that cannot pull images.

A profile runs the host's own Debian programs, arranged the way the official image arranges them: a small layer
of files (configuration, entrypoint scripts, links) is laid over the host's root filesystem. The table `PROFILES`
is the only place profiles are described; layers are built from it once under `<state_dir>/node/layers/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class File:
    content: str
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class Whiteout:
    """Hides the host's file at this path, as a deletion in an image layer does."""


Entry = File | Link | Dir | Whiteout


@dataclass(frozen=True)
class Profile:
    name: str
    repositories: tuple[str, ...]  # image repositories (registry, tag and digest stripped) that select it
    requires: Mapping[str, str]  # host path -> Debian package that provides it
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    working_dir: str = "/"
    user: str | None = None  # name or uid, looked up in the container's /etc/passwd
    stop_signal: str = "SIGTERM"
    files: Mapping[str, Entry] = field(default_factory=dict)
    users: tuple[str, ...] = ()  # /etc/passwd lines the image adds
    groups: tuple[str, ...] = ()  # /etc/group lines the image adds
    busybox_applets: str | None = None  # directory that gets a link for every busybox applet

    @property
    def packages(self) -> tuple[str, ...]:
        """Debian packages this profile needs on the host."""
        return tuple(dict.fromkeys(self.requires.values()))

    @property
    def digest(self) -> str:
        """A stable hash of the profile's definition; changes whenever its layer must be rebuilt."""
        return hashlib.sha256(repr(self).encode()).hexdigest()

    @property
    def image_id(self) -> str:
        """What the kubelet reports as imageID."""
        return f"sha256:{self.digest}"

    def missing(self) -> str | None:
        """None when the host can run this profile, else a sentence naming the Debian packages to install."""
        absent = {path: pkg for path, pkg in self.requires.items() if not os.path.exists(path)}
        if not absent:
            return None
        packages = " ".join(dict.fromkeys(absent.values()))
        paths = ", ".join(absent)
        return (
            f'image profile "{self.name}" is not runnable on this node: {paths} is missing; '
            f"install the Debian package(s) with: apt-get install {packages}"
        )


# --- nginx, arranged like the official image -------------------------------------------------------------------

NGINX_CONF = """\
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""

NGINX_DEFAULT_CONF = """\
server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    #error_page  404              /404.html;

    # redirect server error pages to the static page /50x.html
    #
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

NGINX_INDEX = """\
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NGINX_50X = """\
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

NGINX_ENTRYPOINT = """\
#!/bin/sh
# Runs the configuration scripts in /docker-entrypoint.d/ before nginx starts, with the official image's messages.
set -e

if [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ]; then
    exec 3>&1
else
    exec 3>/dev/null
fi

say() {
    echo "$0: $*" >&3
}

if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
    if [ -z "$(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -print -quit 2>/dev/null)" ]; then
        say "No files found in /docker-entrypoint.d/, skipping configuration"
    else
        say "/docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        say "Looking for shell scripts in /docker-entrypoint.d/"
        find /docker-entrypoint.d/ -follow -type f -print | sort -V | while read -r script; do
            if [ "${script%.envsh}" != "$script" ] && [ -x "$script" ]; then
                say "Sourcing $script"
                . "$script"
            elif [ "${script%.sh}" != "$script" ] && [ -x "$script" ]; then
                say "Launching $script"
                "$script"
            elif [ "${script%.sh}" != "$script" ] || [ "${script%.envsh}" != "$script" ]; then
                say "Ignoring $script, not executable"
            else
                say "Ignoring $script"
            fi
        done
        say "Configuration complete; ready for start up"
    fi
fi

exec "$@"
"""

NGINX_IPV6 = f"""\
#!/bin/sh
# Adds an IPv6 listen line to the untouched default server, as the official image does on first start.
set -e

ME=$(basename "$0")
CONF=/etc/nginx/conf.d/default.conf
PRISTINE_MD5={hashlib.md5(NGINX_DEFAULT_CONF.encode()).hexdigest()}

say() {{
    [ -n "${{NGINX_ENTRYPOINT_QUIET_LOGS:-}}" ] || echo "$ME: $*"
}}

if [ ! -f /proc/net/if_inet6 ]; then
    say "info: ipv6 not available"
    exit 0
fi
if [ ! -f "$CONF" ]; then
    say "info: $CONF is not a file or does not exist"
    exit 0
fi
if ! touch "$CONF" 2>/dev/null; then
    say "info: can not modify $CONF (read-only file system?)"
    exit 0
fi
if grep -q "listen  \\[::]:80;" "$CONF"; then
    say "info: IPv6 listen already enabled"
    exit 0
fi
say "info: Getting the checksum of $CONF"
if ! echo "$PRISTINE_MD5  $CONF" | md5sum -c - >/dev/null 2>&1; then
    say "info: $CONF differs from the packaged version"
    exit 0
fi
sed -i -E 's,listen       80;,listen       80;\\n    listen  [::]:80;,' "$CONF"
say "info: Enabled listen on IPv6 in $CONF"
"""

NGINX_RESOLVERS = """\
#!/bin/sh
# Sourced: with NGINX_ENTRYPOINT_LOCAL_RESOLVERS set, exports the nameservers of /etc/resolv.conf for templates.
[ -z "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ] && return 0

NGINX_LOCAL_RESOLVERS=$(awk '$1 == "nameserver" { if ($2 ~ ":") printf "[%s] ", $2; else printf "%s ", $2 }' \\
    /etc/resolv.conf)
NGINX_LOCAL_RESOLVERS="${NGINX_LOCAL_RESOLVERS% }"
export NGINX_LOCAL_RESOLVERS
"""

NGINX_TEMPLATES = """\
#!/bin/sh
# Renders /etc/nginx/templates/*.template into /etc/nginx/conf.d/ with the environment's variables.
set -e

ME=$(basename "$0")
say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$ME: $*"
}

dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"

[ -d "$dir" ] || exit 0
if [ ! -w "$out" ]; then
    say "ERROR: $dir exists, but $out is not writable"
    exit 0
fi
if ! command -v envsubst >/dev/null; then
    say "ERROR: envsubst is missing (Debian package gettext-base)"
    exit 0
fi
names=$(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/${\\1}/p' | tr '\\n' ' ')
find "$dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative="${template#"$dir/"}"
    target="$out/${relative%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    say "Running envsubst on $template to $target"
    envsubst "$names" < "$template" > "$target"
done
"""

NGINX_WORKERS = """\
#!/bin/sh
# With NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE set, sets worker_processes to the CPUs this container may use.
set -e

[ -n "${NGINX_ENTRYPOINT_WORKER_PROCESSES_AUTOTUNE:-}" ] || exit 0
ME=$(basename "$0")
cpus=$(nproc)
if ! sed -i "s/^\\(worker_processes[[:space:]]*\\).*;/\\1$cpus;/" /etc/nginx/nginx.conf 2>/dev/null; then
    echo "$ME: info: can not modify /etc/nginx/nginx.conf (read-only file system?)"
fi
"""

# --- the other images' entrypoints --------------------------------------------------------------------------------

HAPROXY_ENTRYPOINT = """\
#!/bin/sh
# Options alone mean "haproxy with these options"; haproxy then runs in the foreground in master-worker mode.
set -e
case "$1" in
    -*) set -- haproxy "$@" ;;
esac
if [ "$1" = "haproxy" ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
"""

REDIS_ENTRYPOINT = """\
#!/bin/sh
# Options or a config file alone mean "redis-server with them"; as root, /data is handed to redis and the server
# drops to that user. With no config file, protected mode is off, as in the official image's build.
set -e
case "$1" in
    -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
    find . \\! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = "redis-server" ]; then
    has_conf=
    for arg; do
        case "$arg" in *.conf) has_conf=1 ;; esac
    done
    [ -n "$has_conf" ] || set -- "$@" --protected-mode no
fi
[ "$(umask)" != "0022" ] || umask 0077
exec "$@"
"""

PAUSE = """\
#!/usr/bin/python3 -S
# The pod's infrastructure process: sleeps, reaps orphans, and exits cleanly on SIGINT or SIGTERM.
import os
import signal
import sys


def stop(signum, frame):
    sys.stderr.write("Shutting down, got signal\\n")
    sys.exit(0)


def reap(signum, frame):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGCHLD, reap)
while True:
    signal.pause()
"""

_SHELLS = tuple(f"{d}/{s}" for d in ("/bin", "/usr/bin") for s in ("sh", "dash", "bash", "rbash", "busybox"))

# --- the table ----------------------------------------------------------------------------------------------------

PROFILES: tuple[Profile, ...] = (
    Profile(
        name="debian",
        repositories=("debian",),
        requires={"/bin/bash": "bash", "/bin/ls": "coreutils"},
        cmd=("bash",),
    ),
    Profile(
        name="ubuntu",
        repositories=("ubuntu",),
        requires={"/bin/bash": "bash", "/bin/ls": "coreutils"},
        cmd=("/bin/bash",),
    ),
    Profile(
        name="busybox",
        repositories=("busybox",),
        requires={"/bin/busybox": "busybox"},
        cmd=("sh",),
        files={"/bin/sh": Link("busybox")},
        busybox_applets="/usr/local/bin",
    ),
    Profile(
        name="alpine",
        repositories=("alpine",),
        requires={"/bin/busybox": "busybox"},
        cmd=("/bin/sh",),
        files={"/bin/sh": Link("busybox")},
        busybox_applets="/usr/local/bin",
    ),
    Profile(
        name="nginx",
        repositories=("nginx",),
        requires={"/usr/sbin/nginx": "nginx-light", "/usr/bin/find": "findutils"},
        entrypoint=("/docker-entrypoint.sh",),
        cmd=("nginx", "-g", "daemon off;"),
        stop_signal="SIGQUIT",
        files={
            "/etc/nginx/nginx.conf": File(NGINX_CONF),
            "/etc/nginx/conf.d/default.conf": File(NGINX_DEFAULT_CONF),
            "/usr/share/nginx/html/index.html": File(NGINX_INDEX),
            "/usr/share/nginx/html/50x.html": File(NGINX_50X),
            "/var/log/nginx/access.log": Link("/dev/stdout"),
            "/var/log/nginx/error.log": Link("/dev/stderr"),
            "/var/cache/nginx": Dir(),
            "/docker-entrypoint.sh": File(NGINX_ENTRYPOINT, 0o775),
            "/docker-entrypoint.d/10-listen-on-ipv6-by-default.sh": File(NGINX_IPV6, 0o775),
            "/docker-entrypoint.d/15-local-resolvers.envsh": File(NGINX_RESOLVERS, 0o775),
            "/docker-entrypoint.d/20-envsubst-on-templates.sh": File(NGINX_TEMPLATES, 0o775),
            "/docker-entrypoint.d/30-tune-worker-processes.sh": File(NGINX_WORKERS, 0o775),
        },
        users=("nginx:x:101:101:nginx user:/nonexistent:/bin/false",),
        groups=("nginx:x:101:",),
    ),
    Profile(
        name="haproxy",
        repositories=("haproxy",),
        requires={"/usr/sbin/haproxy": "haproxy"},
        entrypoint=("docker-entrypoint.sh",),
        cmd=("haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"),
        user="haproxy",
        working_dir="/var/lib/haproxy",
        stop_signal="SIGUSR1",
        files={
            "/usr/local/bin/docker-entrypoint.sh": File(HAPROXY_ENTRYPOINT, 0o775),
            "/usr/local/etc/haproxy": Dir(),
        },
    ),
    Profile(
        name="redis",
        repositories=("redis",),
        requires={"/usr/bin/redis-server": "redis-server", "/usr/bin/setpriv": "util-linux"},
        entrypoint=("docker-entrypoint.sh",),
        cmd=("redis-server",),
        working_dir="/data",
        files={
            "/usr/local/bin/docker-entrypoint.sh": File(REDIS_ENTRYPOINT, 0o775),
            "/data": Dir(),
        },
    ),
    Profile(
        name="python",
        repositories=("python",),
        requires={"/usr/bin/python3": "python3"},
        cmd=("python3",),
        env={"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"},
        files={"/usr/local/bin/python": Link("/usr/bin/python3")},
    ),
    Profile(
        name="node-exporter",
        repositories=("prom/node-exporter", "prometheus/node-exporter"),
        requires={"/usr/bin/prometheus-node-exporter": "prometheus-node-exporter"},
        entrypoint=("/bin/node_exporter",),
        user="nobody",
        files={"/bin/node_exporter": Link("/usr/bin/prometheus-node-exporter")},
    ),
    Profile(
        name="pause",
        repositories=("pause", "google_containers/pause", "kubernetes/pause"),
        requires={"/usr/bin/python3": "python3"},
        entrypoint=("/pause",),
        env={},
        files={"/pause": File(PAUSE, 0o755), **dict.fromkeys(_SHELLS, Whiteout())},
    ),
)


def repository(image: str) -> str:
    """The repository part of an image reference: no registry, `library/`, tag or digest."""
    ref = image.strip().lower().split("@", 1)[0]
    last = ref.rpartition("/")[2]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def normalize(image: str) -> str:
    """The fully qualified reference a container runtime reports, e.g. docker.io/library/nginx:latest."""
    ref = image.strip()
    name, at, digest = ref.partition("@")
    last = name.rpartition("/")[2]
    tagged = ":" in last
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if len(parts) == 1:
            parts = ["library", *parts]
        parts = ["docker.io", *parts]
    name = "/".join(parts)
    if not tagged and not at:
        name += ":latest"
    return f"{name}{at}{digest}"


def resolve(image: str) -> Profile | None:
    """The profile that runs `image`, or None when the sandbox has none for it."""
    wanted = repository(image)
    for profile in PROFILES:
        if wanted in profile.repositories:
            return profile
    return None


def runnable_images() -> list[str]:
    """Image names the sandbox can run, for messages about images it cannot."""
    return sorted(p.repositories[0] for p in PROFILES)


def unknown_image_message(image: str) -> str:
    """The Waiting message for an image with no profile."""
    return (
        f'image "{image}" cannot be pulled: the sandbox cluster pulls no images and runs only these: '
        f"{', '.join(runnable_images())} (any tag or registry)"
    )


# --- layers -------------------------------------------------------------------------------------------------------


def _host_path(path: str) -> str:
    """Where `path` lands once the host's directory symlinks (/bin -> usr/bin, /var/run -> /run) are followed."""
    parent, name = os.path.split(path)
    return os.path.join(os.path.realpath(parent), name)


def _make_parents(layer: Path, path: str) -> None:
    """Create the directories above `path` in the layer with the host's modes and owners, as an image has."""
    current = Path("/")
    for part in Path(path).parent.parts[1:]:
        current = current / part
        target = layer / current.relative_to("/")
        if target.is_dir():
            continue
        target.mkdir()
        with contextlib.suppress(OSError):
            st = os.stat(current)
            os.chmod(target, stat.S_IMODE(st.st_mode))
            os.chown(target, st.st_uid, st.st_gid)


def _merge_lines(host_file: str, extra: tuple[str, ...]) -> str:
    """The host's passwd or group file with the image's entries replacing any that clash by name or id."""
    names = {line.split(":")[0] for line in extra}
    ids = {line.split(":")[2] for line in extra}
    kept = []
    with contextlib.suppress(OSError), open(host_file) as f:
        for line in f.read().splitlines():
            fields = line.split(":")
            if len(fields) > 2 and (fields[0] in names or fields[2] in ids):
                continue
            kept.append(line)
    return "\n".join([*kept, *extra]) + "\n"


def _busybox_applets() -> list[str]:
    result = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=False)
    return [name for name in result.stdout.split() if name and "/" not in name]


def layer_entries(profile: Profile) -> dict[str, Entry]:
    """Every path of the profile's layer, with the host-dependent parts (users, busybox applets) filled in."""
    entries: dict[str, Entry] = {}
    if profile.busybox_applets:
        for applet in _busybox_applets():
            entries[f"{profile.busybox_applets}/{applet}"] = Link("/bin/busybox")
    if profile.users:
        entries["/etc/passwd"] = File(_merge_lines("/etc/passwd", profile.users))
    if profile.groups:
        entries["/etc/group"] = File(_merge_lines("/etc/group", profile.groups))
    entries.update(profile.files)
    return entries


def build_layer(profile: Profile, layers_dir: Path) -> Path:
    """The profile's layer directory, built the first time it is asked for."""
    layer = layers_dir / f"{profile.name}-{profile.digest[:12]}"
    if layer.is_dir():
        return layer
    layers_dir.mkdir(parents=True, exist_ok=True)
    partial = layers_dir / f".{layer.name}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    for path, entry in layer_entries(profile).items():
        host = _host_path(path)
        _make_parents(partial, host)
        target = partial / host.lstrip("/")
        if isinstance(entry, File):
            target.write_text(entry.content)
            target.chmod(entry.mode)
        elif isinstance(entry, Link):
            target.symlink_to(entry.target)
        elif isinstance(entry, Dir):
            target.mkdir(exist_ok=True)
            target.chmod(entry.mode)
        else:
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    for stale in layers_dir.glob(f"{profile.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(partial, layer)
    return layer


def _copy_entry(src: str, dst: str) -> None:
    st = os.lstat(src)
    if stat.S_ISCHR(st.st_mode):
        os.mknod(dst, st.st_mode, st.st_rdev)
    else:
        shutil.copy2(src, dst)


def apply_layer(layer: Path, upper: Path) -> None:
    """Lay the layer's files into a container's overlay upper directory, where they shadow the host's."""
    shutil.copytree(layer, upper, symlinks=True, dirs_exist_ok=True, copy_function=_copy_entry)
    # copytree copies modes but not owners; the layer mirrors the host's directory owners.
    for root, dirs, _files in os.walk(layer):
        for name in dirs:
            st = os.lstat(os.path.join(root, name))
            with contextlib.suppress(OSError):
                os.lchown(os.path.join(upper, os.path.relpath(root, layer), name), st.st_uid, st.st_gid)
