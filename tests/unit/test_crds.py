"""The hand-written CRDs in crds/ match the API contract (docs/design.md, "The API").

No cluster here: these tests read the YAML. The API server itself is exercised by the
integration tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tilt_operator import api

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


CRDS = {crd["spec"]["names"]["plural"]: crd for crd in api.shipped_crds()}


def _version(plural: str) -> dict[str, Any]:
    (version,) = CRDS[plural]["spec"]["versions"]
    return version


def _schema(plural: str) -> dict[str, Any]:
    return _version(plural)["schema"]["openAPIV3Schema"]


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its dotted path; array items are written `[]`."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def _declared_paths(plural: str) -> set[str]:
    return {path for path, _ in _walk(_schema(plural))}


SHORT_NAMES = {
    "extensionrepos": ["extrepo", "repo"],
    "extensions": ["ext"],
    "tiltfiles": ["tf"],
    "cmds": [],
    "uibuttons": [],
    "filewatches": [],
    "kubernetesapplys": ["ka", "kapp"],
}

CONDITIONS = [
    ".status.conditions",
    ".status.conditions[].type",
    ".status.conditions[].status",
    ".status.conditions[].reason",
    ".status.conditions[].message",
    ".status.conditions[].lastTransitionTime",
    ".status.conditions[].observedGeneration",
]

# Every status field the operator writes; an undeclared one would be pruned by the API server.
STATUS_FIELDS = {
    "extensionrepos": [
        ".status.error",
        ".status.lastFetchedAt",
        ".status.path",
        ".status.url",
        ".status.checkoutRef",
        ".status.staleReason",
        ".status.lastHandledRequest",
        ".status.extensions",
        ".status.extensions[].name",
        ".status.extensions[].path",
        ".status.extensions[].description",
        ".status.extensionCount",
        ".status.extensionsNote",
        ".status.observedGeneration",
        *CONDITIONS,
    ],
    "extensions": [".status.error", ".status.path", ".status.observedGeneration", *CONDITIONS],
    "tiltfiles": [
        ".status.waiting.reason",
        ".status.running.reasons",
        ".status.running.startedAt",
        ".status.terminated.reasons",
        ".status.terminated.error",
        ".status.terminated.startedAt",
        ".status.terminated.finishedAt",
        ".status.terminated.warningCount",
        ".status.observedGeneration",
        *CONDITIONS,
    ],
    "cmds": [
        ".status.waiting.reason",
        ".status.running.pid",
        ".status.running.startedAt",
        ".status.terminated.pid",
        ".status.terminated.exitCode",
        ".status.terminated.startedAt",
        ".status.terminated.finishedAt",
        ".status.terminated.reason",
        ".status.ready",
        ".status.observedGeneration",
        *CONDITIONS,
    ],
    "uibuttons": [
        ".status.lastClickedAt",
        ".status.inputs",
        ".status.inputs[].name",
        *(f".status.inputs[].{kind}.value" for kind in ("text", "bool", "hidden", "choice")),
    ],
    "filewatches": [
        ".status.monitorStartTime",
        ".status.lastEventTime",
        ".status.fileEvents",
        ".status.fileEvents[].time",
        ".status.fileEvents[].seenFiles",
        ".status.error",
    ],
    "kubernetesapplys": [
        ".status.resultYAML",
        ".status.error",
        ".status.lastApplyTime",
        ".status.lastApplyStartTime",
        ".status.appliedInputHash",
        ".status.inventory",
        *(
            f".status.inventory[].{field}"
            for field in ("apiVersion", "kind", "namespace", "name", "uid", "health", "message")
        ),
        ".status.observedGeneration",
        *CONDITIONS,
    ],
}

REQUIRED_SPEC_FIELDS = {
    "extensionrepos": ["url"],
    "extensions": ["repoName", "repoPath"],
    "tiltfiles": ["path"],
    "cmds": ["args"],
    "uibuttons": ["location", "text"],
    "filewatches": ["watchedPaths"],
    "kubernetesapplys": [],
}


def test_there_is_one_crd_file_per_kind_named_after_its_plural() -> None:
    files = {p.stem for p in CRD_DIR.glob("*.yaml")} - {"kustomization"}
    assert files == set(CRDS) == {kind.plural for kind in api.KINDS}


def test_kustomization_lists_exactly_the_crd_files() -> None:
    kustomization = yaml.safe_load((CRD_DIR / "kustomization.yaml").read_text())
    files = {p.name for p in CRD_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


@pytest.mark.parametrize("kind", api.KINDS, ids=lambda k: k.plural)
def test_crd_names_group_scope_and_version_match_the_contract(kind: api.Kind) -> None:
    crd = CRDS[kind.plural]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == kind.resource
    assert crd["spec"]["group"] == api.GROUP
    assert crd["spec"]["scope"] == "Cluster"
    names = crd["spec"]["names"]
    assert names["kind"] == kind.kind
    assert names["singular"] == kind.kind.lower()
    assert names.get("shortNames", []) == SHORT_NAMES[kind.plural]
    assert names["categories"] == ["tilt"]
    version = _version(kind.plural)
    assert (version["name"], version["served"], version["storage"]) == (api.VERSION, True, True)


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_status_is_a_subresource(plural: str) -> None:
    assert _version(plural)["subresources"] == {"status": {}}


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_schema_is_structural_and_rejects_unknown_fields(plural: str) -> None:
    schema = _schema(plural)
    assert "spec" in schema["required"]
    assert {"spec", "status"} <= set(schema["properties"])
    assert schema["properties"]["metadata"] == {"type": "object"}
    for path, node in _walk(schema):
        assert "type" in node, f"{path} has no type"
        assert "x-kubernetes-preserve-unknown-fields" not in node, path
        assert "x-kubernetes-int-or-string" not in node, path
        if "x-kubernetes-list-type" in node:
            assert node["type"] == "array", path
        if "properties" in node or "additionalProperties" in node:
            assert node["type"] == "object", path
        assert node.get("description") or path.endswith(("[]", "*", ".metadata")), (
            f"{path} has no description for kubectl explain"
        )


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_spec_requires_the_contract_fields(plural: str) -> None:
    spec = _schema(plural)["properties"]["spec"]
    assert sorted(spec.get("required", [])) == sorted(REQUIRED_SPEC_FIELDS[plural])


@pytest.mark.parametrize(("plural", "field"), [(p, f) for p, fields in STATUS_FIELDS.items() for f in fields])
def test_status_field_the_operator_writes_is_declared(plural: str, field: str) -> None:
    assert field in _declared_paths(plural)


@pytest.mark.parametrize("plural", sorted(set(CRDS) - {"uibuttons"}))
def test_conditions_have_the_standard_kubernetes_shape(plural: str) -> None:
    conditions = _schema(plural)["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["required"] == ["type", "status"]
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_times_are_date_time_strings(plural: str) -> None:
    for path, node in _walk(_schema(plural)):
        if path.endswith(("At", "Time", "startAfter")):
            assert (node["type"], node.get("format")) == ("string", "date-time"), path


@pytest.mark.parametrize("plural", sorted(CRDS))
def test_printer_columns_point_at_declared_fields(plural: str) -> None:
    columns = _version(plural)["additionalPrinterColumns"]
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    for column in columns[:-1]:
        path = re.sub(r"\[\?\(.*?\)\]", "[]", column["jsonPath"])
        assert path in _declared_paths(plural), column


def _url_regex() -> str:
    (rule,) = _schema("extensionrepos")["properties"]["spec"]["properties"]["url"]["x-kubernetes-validations"]
    assert rule["message"] == "url must start with https://, ssh:// or file:///"
    match = re.fullmatch(r"self\.matches\('(.+)'\)", rule["rule"])
    assert match, rule["rule"]
    return match.group(1)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://github.com/tilt-dev/tilt-extensions", True),
        ("file:///home/me/extensions", True),
        ("http://github.com/tilt-dev/tilt-extensions", False),
        ("ssh://git@github.com/tilt-dev/tilt-extensions", True),
        ("git@github.com:x/y", False),
        ("file://relative/dir", False),
        ("HTTPS://github.com/x/y", False),
        ("", False),
    ],
)
def test_repo_url_rule_allows_only_https_ssh_and_absolute_file_urls(url: str, accepted: bool) -> None:
    assert bool(re.search(_url_regex(), url)) is accepted


@pytest.mark.parametrize(
    ("interval", "accepted"),
    [
        ("5m", True),
        ("30s", True),
        ("1h30m", True),
        ("1.5h", True),
        ("250ms", True),
        ("5", False),
        ("5 m", False),
        ("-5m", False),
        ("5d", False),
        ("", False),
    ],
)
def test_repo_interval_pattern_accepts_go_durations(interval: str, accepted: bool) -> None:
    pattern = _schema("extensionrepos")["properties"]["spec"]["properties"]["interval"]["pattern"]
    assert bool(re.search(pattern, interval)) is accepted
