"""Image profiles: name resolution, the image's command semantics, and layer building (pure and fast)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.runtime import images
from sandbox.runtime.runtime import container_argv


@pytest.mark.parametrize(
    ("image", "profile"),
    [
        ("nginx", "nginx"),
        ("nginx:latest", "nginx"),
        ("nginx:1.27-alpine", "nginx"),
        ("docker.io/library/nginx:1.27", "nginx"),
        ("docker.io/nginx", "nginx"),
        ("nginx@sha256:" + "a" * 64, "nginx"),
        ("mirror.gcr.io/library/nginx:1.27@sha256:" + "b" * 64, "nginx"),
        ("busybox", "busybox"),
        ("localhost:5000/busybox:1.36", "busybox"),
        ("alpine:3.20", "alpine"),
        ("ubuntu", "ubuntu"),
        ("ubuntu:24.04", "ubuntu"),
        ("debian:bookworm-slim", "debian"),
        ("haproxy:latest", "haproxy"),
        ("redis:7", "redis"),
        ("python:3.12-slim", "python"),
        ("prom/node-exporter:latest", "node-exporter"),
        ("prom/node-exporter:v1.8.0", "node-exporter"),
        ("quay.io/prometheus/node-exporter", "node-exporter"),
        ("registry.k8s.io/pause:3.10", "pause"),
    ],
)
def test_resolve_accepts_registries_tags_and_digests(image: str, profile: str) -> None:
    resolved = images.resolve(image)
    assert resolved is not None
    assert resolved.name == profile


@pytest.mark.parametrize("image", ["myapp:latest", "fluentd:latest", "prometheus-adapter:latest", "nginxinc/nginx"])
def test_resolve_finds_no_profile_for_other_images(image: str) -> None:
    assert images.resolve(image) is None


def test_unknown_image_message_lists_what_can_run() -> None:
    message = images.unknown_image_message("myapp:latest")
    assert '"myapp:latest"' in message
    for name in ("busybox", "nginx", "prom/node-exporter", "redis", "ubuntu"):
        assert name in message


@pytest.mark.parametrize(
    ("image", "reference"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("prom/node-exporter", "docker.io/prom/node-exporter:latest"),
        ("quay.io/prometheus/node-exporter:v1.8.0", "quay.io/prometheus/node-exporter:v1.8.0"),
        ("busybox@sha256:" + "c" * 64, "docker.io/library/busybox@sha256:" + "c" * 64),
    ],
)
def test_normalize_gives_the_fully_qualified_reference(image: str, reference: str) -> None:
    assert images.normalize(image) == reference


@pytest.mark.parametrize(
    ("command", "args", "argv"),
    [
        (None, None, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
        (None, ["nginx", "-T"], ["/docker-entrypoint.sh", "nginx", "-T"]),
        (["nginx"], None, ["nginx"]),
        (["sh", "-c"], ["echo hi"], ["sh", "-c", "echo hi"]),
        ([], [], ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    ],
)
def test_command_and_args_follow_kubernetes_over_the_image(
    command: list[str] | None, args: list[str] | None, argv: list[str]
) -> None:
    nginx = images.resolve("nginx")
    assert nginx is not None
    assert container_argv(nginx, command, args) == argv


def test_missing_binary_names_the_debian_package() -> None:
    profile = images.Profile(
        name="tool", repositories=("tool",), requires={"/nonexistent/podscope/tool": "podscope-tool"}
    )
    message = profile.missing()
    assert message is not None
    assert "/nonexistent/podscope/tool" in message
    assert "apt-get install podscope-tool" in message


def test_every_profile_names_its_packages() -> None:
    for profile in images.PROFILES:
        assert profile.packages, profile.name
        assert profile.entrypoint or profile.cmd, profile.name


def test_nginx_layer_is_arranged_like_the_official_image(tmp_path: Path) -> None:
    nginx = images.resolve("nginx")
    assert nginx is not None
    layer = images.build_layer(nginx, tmp_path)
    conf = (layer / "etc/nginx/conf.d/default.conf").read_text()
    assert "root   /usr/share/nginx/html;" in conf
    assert "include /etc/nginx/conf.d/*.conf;" in (layer / "etc/nginx/nginx.conf").read_text()
    assert "<h1>Welcome to nginx!</h1>" in (layer / "usr/share/nginx/html/index.html").read_text()
    assert "<h1>An error occurred.</h1>" in (layer / "usr/share/nginx/html/50x.html").read_text()
    assert os.readlink(layer / "var/log/nginx/access.log") == "/dev/stdout"
    assert os.readlink(layer / "var/log/nginx/error.log") == "/dev/stderr"
    assert os.access(layer / "docker-entrypoint.sh", os.X_OK)
    passwd = (layer / "etc/passwd").read_text().splitlines()
    assert [line for line in passwd if line.split(":")[2] == "101"] == [
        "nginx:x:101:101:nginx user:/nonexistent:/bin/false"
    ]


def test_layer_is_built_once(tmp_path: Path) -> None:
    python = images.resolve("python")
    assert python is not None
    first = images.build_layer(python, tmp_path)
    marker = first / "built-before"
    marker.write_text("")
    assert images.build_layer(python, tmp_path) == first
    assert marker.exists()


def test_layer_follows_the_hosts_directory_links(tmp_path: Path) -> None:
    exporter = images.resolve("prom/node-exporter")
    assert exporter is not None
    layer = images.build_layer(exporter, tmp_path)
    # On a merged-/usr host /bin is a link to usr/bin: the file must land where the link leads, or the layer's
    # /bin directory would hide every host program in /bin.
    expected = Path(os.path.realpath("/bin")).relative_to("/") / "node_exporter"
    assert os.readlink(layer / expected) == "/usr/bin/prometheus-node-exporter"
