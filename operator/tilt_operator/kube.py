"""The only module (besides kopf itself) that talks to the API server.

Loads credentials the way kopf does (in-cluster service account, else the kubeconfig named by
``$KUBECONFIG`` at call time). The module functions are for the command line; the operator's
reconcilers write through :class:`Client`, which runs the same calls off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tilt_operator import timestamps
from tilt_operator.api import GROUP, VERSION, Kind

Object = dict[str, Any]
T = TypeVar("T")
# Where Events about cluster-scoped objects go, as kopf posts them.
EVENTS_NAMESPACE = "default"
EVENT_SOURCE = "tilt-operator"
# The API server refuses longer Event messages.
_EVENT_MESSAGE_LIMIT = 1024


@functools.cache
def api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    except config.ConfigException:
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG")
        )
        return api


def _custom() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def _decoded(response: Any) -> Object:
    """A raw response as a dict: the client decodes only a 200, and an apply that creates answers 201."""
    return cast(Object, json.loads(response.data))


def get(kind: Kind, name: str) -> Object | None:
    """The object, or None when it does not exist."""
    try:
        return _decoded(_custom().get_cluster_custom_object(GROUP, VERSION, kind.plural, name, _preload_content=False))
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def list_objects(kind: Kind, label_selector: str = "") -> list[Object]:
    listing = _decoded(
        _custom().list_cluster_custom_object(
            GROUP, VERSION, kind.plural, label_selector=label_selector, _preload_content=False
        )
    )
    return cast(list[Object], listing["items"])


def apply(kind: Kind, obj: Mapping[str, Any], field_manager: str, *, force: bool = False) -> Object:
    """Server-side apply: the field manager owns exactly the fields in ``obj``; others keep theirs."""
    response = _custom().patch_cluster_custom_object(
        GROUP,
        VERSION,
        kind.plural,
        obj["metadata"]["name"],
        dict(obj),
        field_manager=field_manager,
        force=force,
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )
    return _decoded(response)


def create(kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Object:
    """Create, as ``kubectl create`` does: the API server refuses an object that already exists."""
    response = _custom().create_cluster_custom_object(
        GROUP, VERSION, kind.plural, dict(obj), field_manager=field_manager, _preload_content=False
    )
    return _decoded(response)


def patch_status(kind: Kind, name: str, status: Mapping[str, Any]) -> Object | None:
    """Merge-patch the status subresource; the object as it now is, or None when it is gone."""
    try:
        response = _custom().patch_cluster_custom_object_status(
            GROUP, VERSION, kind.plural, name, {"status": status}, _preload_content=False
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return _decoded(response)


def delete(kind: Kind, name: str) -> None:
    """Delete, tolerating an object that is already gone."""
    try:
        _custom().delete_cluster_custom_object(GROUP, VERSION, kind.plural, name, _preload_content=False)
    except ApiException as error:
        if error.status != 404:
            raise


def list_crds() -> list[Object]:
    """Every CustomResourceDefinition of the tilt.dev group, as plain dicts."""
    api = client.ApiextensionsV1Api(api_client())
    items = _decoded(api.list_custom_resource_definition(_preload_content=False))["items"]
    return [crd for crd in items if crd["spec"]["group"] == GROUP]


def post_event(obj: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
    """An Event about a tilt.dev object, where ``kubectl get events`` shows it."""
    metadata = obj["metadata"]
    stamp = timestamps.now()
    event = {
        "metadata": {"generateName": f"{metadata['name'][:200]}.", "namespace": EVENTS_NAMESPACE},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"),
            "kind": obj.get("kind", ""),
            "name": metadata["name"],
            "uid": metadata.get("uid", ""),
        },
        "reason": reason,
        "message": message[-_EVENT_MESSAGE_LIMIT:],
        "type": "Warning" if warning else "Normal",
        "source": {"component": EVENT_SOURCE},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
    client.CoreV1Api(api_client()).create_namespaced_event(
        EVENTS_NAMESPACE,
        event,  # type: ignore[arg-type]  # a plain dict serialises as the CoreV1Event it describes
        _preload_content=False,
    )


def error_message(error: ApiException) -> str:
    """The API server's own message, not the client's multi-line dump."""
    try:
        return cast(str, json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"


class ApiError(Exception):
    """The API server refused a request; ``message`` is its own one-line explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the API server could not be reached or is not serving (not a refusal)."""
    if isinstance(error, ApiError):
        return error.status == 0 or error.status >= 500
    return isinstance(error, OSError | urllib3.exceptions.HTTPError)


class Client:
    """The calls the operator's reconcilers make, awaited off the event loop (the client is blocking).

    A refusal raises :class:`ApiError`; an unreachable server raises what the client raised
    (see :func:`is_unreachable`).
    """

    @staticmethod
    async def _call(function: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(function)
        except ApiException as error:
            raise ApiError(error.status or 0, error_message(error)) from error

    async def ping(self) -> None:
        """Raises unless the API server serves the tilt.dev API: it lists one ExtensionRepo.

        Not ``/readyz``: that answers before the storage of custom resources is ready again.
        """
        await self._call(lambda: _custom().list_cluster_custom_object(GROUP, VERSION, "extensionrepos", limit=1))

    async def get(self, kind: Kind, name: str) -> Object | None:
        return await self._call(functools.partial(get, kind, name))

    async def list(self, kind: Kind, label_selector: str = "") -> list[Object]:
        return await self._call(functools.partial(list_objects, kind, label_selector))

    async def apply(self, kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Object:
        return await self._call(functools.partial(apply, kind, obj, field_manager, force=True))

    async def delete(self, kind: Kind, name: str) -> None:
        await self._call(functools.partial(delete, kind, name))

    async def patch_status(self, kind: Kind, name: str, status: Mapping[str, Any]) -> Object | None:
        return await self._call(functools.partial(patch_status, kind, name, status))

    async def post_event(self, obj: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
        await self._call(functools.partial(post_event, obj, reason=reason, message=message, warning=warning))
