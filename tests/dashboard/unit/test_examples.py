"""The example catalog: every manifest listed, loadable, one pod each, and drawn with its pattern's badge."""

from __future__ import annotations

import pytest

from dashboard import diagram, examples
from dashboard.examples import EXAMPLES, EXAMPLES_DIR, ROOT, Example

BY_SLUG = {e.slug: e for e in EXAMPLES}

# The badge the diagram must show for each pattern example, and the containers it must name.
PATTERN_BADGES = [
    ("sidecar", "sidecar", ("log-shipper",)),
    ("native-sidecar", "sidecar", ("log-tailer",)),
    ("ambassador", "ambassador", ("ambassador",)),
    ("adapter", "adapter", ("adapter",)),
    ("init-container", "init", ("write-page", "add-footer")),
]


def test_slugs_are_unique():
    slugs = [e.slug for e in EXAMPLES]
    assert len(slugs) == len(set(slugs))


def test_every_manifest_under_examples_is_in_the_catalog():
    on_disk = {p.relative_to(ROOT).as_posix() for p in EXAMPLES_DIR.rglob("*.yaml")}
    assert on_disk == {e.path for e in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.slug)
def test_entry_is_complete(example: Example):
    assert example.file.is_file()
    assert example.slug == example.file.stem
    assert example.title
    assert example.pattern
    assert example.summary.strip()
    assert "\n" not in example.summary


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.slug)
def test_manifest_holds_exactly_one_pod_without_a_namespace(example: Example):
    docs = examples.documents(example)
    assert all(isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind") for doc in docs)
    assert [doc["kind"] for doc in docs].count("Pod") == 1
    pod = examples.pod(example)
    assert pod["metadata"]["name"] == example.slug
    # Unset, so `kubectl apply -n NAMESPACE` puts the pod wherever the reader (or a test) wants it.
    assert all("namespace" not in doc["metadata"] for doc in docs)


@pytest.mark.parametrize(("slug", "pattern", "containers"), PATTERN_BADGES)
def test_diagram_recognises_the_pattern(slug: str, pattern: str, containers: tuple[str, ...]):
    badges = {b.pattern: b.containers for b in diagram.layout(examples.pod(BY_SLUG[slug])).badges}
    assert badges.get(pattern) == containers, badges


@pytest.mark.parametrize(("slug", "pattern", "containers"), PATTERN_BADGES)
def test_pattern_example_shows_only_its_own_badge(slug: str, pattern: str, containers: tuple[str, ...]):
    # A second badge would teach two patterns at once.
    assert [b.pattern for b in diagram.layout(examples.pod(BY_SLUG[slug])).badges] == [pattern]


def test_get_finds_by_slug():
    assert examples.get("ambassador") is BY_SLUG["ambassador"]


def test_get_unknown_slug_raises_key_error():
    with pytest.raises(KeyError):
        examples.get("no-such-example")


def test_pod_of_a_multi_document_manifest_skips_the_configmap():
    example = examples.get("ambassador")
    assert [doc["kind"] for doc in examples.documents(example)] == ["ConfigMap", "Pod"]
    assert examples.pod(example)["kind"] == "Pod"
