"""The only module (besides kopf itself) that talks to the API server.

Loads credentials the way kopf does (in-cluster service account, else the kubeconfig named by
``$KUBECONFIG`` at call time) and offers the few calls the reconcilers make on tilt.dev objects.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tilt_operator.api import GROUP, VERSION, Kind


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
        return client.ApiClient()
    except config.ConfigException:
        return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"))


def _custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def get(kind: Kind, name: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    try:
        return _custom().get_cluster_custom_object(GROUP, VERSION, kind.plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_objects(kind: Kind, label_selector: str = "") -> list[dict[str, Any]]:
    result = _custom().list_cluster_custom_object(GROUP, VERSION, kind.plural, label_selector=label_selector)
    return result["items"]


def apply(kind: Kind, obj: dict[str, Any], field_manager: str, *, force: bool = False) -> dict[str, Any]:
    """Server-side apply: the field manager owns exactly the fields in ``obj``; others keep theirs.

    The response is decoded here: the client only decodes a 200, and an apply that creates the
    object answers 201.
    """
    response = _custom().patch_cluster_custom_object(
        GROUP,
        VERSION,
        kind.plural,
        obj["metadata"]["name"],
        obj,
        field_manager=field_manager,
        force=force,
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )
    return json.loads(response.data)


def create(kind: Kind, obj: dict[str, Any], field_manager: str) -> dict[str, Any]:
    """Create, as ``kubectl create`` does: the API server refuses an object that already exists."""
    return _custom().create_cluster_custom_object(GROUP, VERSION, kind.plural, obj, field_manager=field_manager)


def patch_status(kind: Kind, name: str, status: dict[str, Any]) -> None:
    """Merge-patch the status subresource (for writers outside a kopf handler's own patch)."""
    try:
        _custom().patch_cluster_custom_object_status(GROUP, VERSION, kind.plural, name, {"status": status})
    except ApiException as error:
        if error.status != 404:
            raise


def delete(kind: Kind, name: str) -> None:
    """Delete, tolerating an object that is already gone."""
    try:
        _custom().delete_cluster_custom_object(GROUP, VERSION, kind.plural, name)
    except ApiException as error:
        if error.status != 404:
            raise


def annotate(kind: Kind, name: str, annotations: dict[str, str]) -> None:
    """Merge annotations into an object's metadata, tolerating one that is already gone."""
    try:
        _custom().patch_cluster_custom_object(
            GROUP, VERSION, kind.plural, name, {"metadata": {"annotations": annotations}}
        )
    except ApiException as error:
        if error.status != 404:
            raise


def delete_owned(kind: Kind, name: str, *, owner_uid: str) -> None:
    """Delete the object only if ``owner_uid`` controls it: never someone else's object of that name."""
    existing = get(kind, name)
    if existing is None:
        return
    owners = existing["metadata"].get("ownerReferences") or []
    if any(ref.get("uid") == owner_uid and ref.get("controller") for ref in owners):
        delete(kind, name)


def list_crds() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition of the tilt.dev group, as plain dicts."""
    api = client.ApiextensionsV1Api(api_client())
    response = api.list_custom_resource_definition(_preload_content=False)
    items = json.loads(response.data)["items"]
    return [crd for crd in items if crd["spec"]["group"] == GROUP]


def error_message(error: ApiException) -> str:
    """The API server's own message, not the client's multi-line dump."""
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"
