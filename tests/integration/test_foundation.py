"""The foundation: CRDs served by a real API server, validation at the server, garbage collection, the operator up."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
import yaml

from tests.conftest import eventually
from tests.integration.conftest import Operator
from tilt_operator.devcluster import DevCluster

PLURALS = ["extensionrepos", "extensions", "tiltfiles", "cmds", "uibuttons"]


def test_every_crd_is_established(cluster: DevCluster):
    crds = json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
    established = {
        crd["spec"]["names"]["plural"]
        for crd in crds
        if any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    }
    assert established >= set(PLURALS)


@pytest.mark.parametrize("resource", [",".join(PLURALS), "tilt", "extrepo", "repo", "ext", "tf"])
def test_kubectl_get_by_plural_category_and_short_name(cluster: DevCluster, resource: str):
    result = cluster.kubectl("get", resource, check=False)
    assert result.returncode == 0, result.stderr


def apply(cluster: DevCluster, obj: dict, *flags: str):
    return cluster.kubectl("apply", *flags, "-f", "-", stdin=yaml.safe_dump(obj), check=False)


def repo(name: str, spec: dict) -> dict:
    return {"apiVersion": "tilt.dev/v1alpha1", "kind": "ExtensionRepo", "metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec.url: Required value"),
        ({"url": "ssh://git.example.com/repo"}, "ssh:// urls need spec.secretRef"),
        ({"url": "git@github.com:tilt-dev/tilt-extensions"}, "url must start with https://, ssh:// or file:///"),
        ({"url": "http://example.com/repo"}, "url must start with https://, ssh:// or file:///"),
    ],
)
def test_server_rejects_bad_extension_repo(cluster: DevCluster, name: str, spec: dict, message: str):
    result = apply(cluster, repo(name, spec))
    assert result.returncode != 0
    assert message in result.stderr


def test_server_rejects_extension_without_repo_name(cluster: DevCluster, name: str):
    ext = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Extension",
        "metadata": {"name": name},
        "spec": {"repoPath": "x"},
    }
    result = apply(cluster, ext)
    assert result.returncode != 0
    assert "spec.repoName: Required value" in result.stderr


def test_server_rejects_unknown_spec_field(cluster: DevCluster, name: str):
    result = apply(cluster, repo(name, {"url": "https://example.com/r", "branch": "main"}), "--validate=strict")
    assert result.returncode != 0
    assert 'unknown field "spec.branch"' in result.stderr


def test_server_accepts_a_valid_repo(cluster: DevCluster, name: str):
    result = apply(cluster, repo(name, {"url": "https://github.com/tilt-dev/tilt-extensions"}), "--validate=strict")
    assert result.returncode == 0, result.stderr
    cluster.kubectl("delete", "extensionrepo", name, "--wait=false")


def test_deleting_an_owner_deletes_what_it_owns(cluster: DevCluster, name: str):
    assert apply(cluster, repo(name, {"url": "https://example.com/owner"})).returncode == 0
    uid = cluster.kubectl("get", "extensionrepo", name, "-o", "jsonpath={.metadata.uid}").stdout
    owned = {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "Extension",
        "metadata": {
            "name": name,
            "ownerReferences": [{"apiVersion": "tilt.dev/v1alpha1", "kind": "ExtensionRepo", "name": name, "uid": uid}],
        },
        "spec": {"repoName": name, "repoPath": "x"},
    }
    assert apply(cluster, owned).returncode == 0
    cluster.kubectl("delete", "extensionrepo", name)

    def owned_is_gone() -> bool:
        result = cluster.kubectl("get", "extension", name, check=False)
        return result.returncode != 0 and "NotFound" in result.stderr

    eventually(owned_is_gone, timeout=60, what="the garbage collector to delete the owned Extension")


def test_operator_liveness_endpoint_answers(operator: Operator):
    with urllib.request.urlopen(operator.liveness_url, timeout=5) as response:
        assert response.status == 200
    assert operator.process.poll() is None


def test_a_second_cluster_runs_beside_the_first_and_stops_without_leftovers(cluster: DevCluster, tmp_path):
    second = DevCluster(cluster.binaries, tmp_path / "second")
    second.start()
    processes = dict(second.processes)
    ports = {second.apiserver_port}
    try:
        assert second.apiserver_port != cluster.apiserver_port
        assert second.kubectl("get", "namespace", "default", "-o", "name").stdout.strip() == "namespace/default"
    finally:
        second.stop()
    assert all(process.poll() is not None for process in processes.values()), "no orphan processes"
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still listening"
    assert cluster.kubectl("get", "namespace", "default", "-o", "name").returncode == 0, "the first is untouched"
