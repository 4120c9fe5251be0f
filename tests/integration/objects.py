"""Builders and readers of tilt.dev objects for the integration tests, used through the real API."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tilt_operator.timestamps import now

GROUP, VERSION = "tilt.dev", "v1alpha1"


def obj(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name, **metadata}, "spec": spec}


def repo(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return obj("ExtensionRepo", name, {"url": url, **spec})


def extension(name: str, repo_name: str, repo_path: str, **spec: Any) -> dict[str, Any]:
    return obj("Extension", name, {"repoName": repo_name, "repoPath": repo_path, **spec})


def tiltfile(name: str, path: str, **spec: Any) -> dict[str, Any]:
    return obj("Tiltfile", name, {"path": path, **spec})


def button(name: str, text: str = "Click", **spec: Any) -> dict[str, Any]:
    return obj("UIButton", name, {"text": text, "location": {"componentType": "Global", "componentID": "x"}, **spec})


def deployment(name: str, namespace: str, image: str, **container: Any) -> dict[str, Any]:
    """A one-container Deployment, what an extension's k8s_yaml deploys."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image, **container}]},
            },
        },
    }


class Api:
    """The Python client, as a user script would use it."""

    def __init__(self, custom: client.CustomObjectsApi) -> None:
        self.custom = custom

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.create_cluster_custom_object(GROUP, VERSION, plural, body)

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def status(self, plural: str, name: str) -> dict[str, Any]:
        return (self.get(plural, name) or {}).get("status", {})

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_cluster_custom_object(GROUP, VERSION, plural, name, body)

    def patch_status(self, plural: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_cluster_custom_object_status(GROUP, VERSION, plural, name, {"status": status})

    def click(self, name: str) -> None:
        """What a person's click is: a write of the button's status.lastClickedAt."""
        self.patch_status("uibuttons", name, {"lastClickedAt": now()})

    def delete(self, plural: str, name: str) -> None:
        try:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status != 404:
                raise


def ready(status: dict[str, Any]) -> str | None:
    """The Ready condition's status ("True"/"False"), or None before the operator wrote one."""
    return next((c["status"] for c in status.get("conditions", []) if c["type"] == "Ready"), None)
