"""The only module (besides kopf itself) that talks to the API server.

Loads credentials the way kopf does (in-cluster service account, else the kubeconfig named by
``$KUBECONFIG`` at call time), with the official client's configuration. Each call the project
makes is described once, as a :class:`Call`; the module functions send one with the official
client (for the command line), and :class:`Client` sends it with aiohttp in the operator's event
loop, where a request costs a fraction of the CPU and no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tilt_operator import timestamps
from tilt_operator.api import EXTENSION_REPO, GROUP, VERSION, Kind

Object = dict[str, Any]
# (In Client, ``list`` is a method.)
Objects = list[Object]
# Where Events about cluster-scoped objects go, as kopf posts them.
EVENTS_NAMESPACE = "default"
EVENT_SOURCE = "tilt-operator"
# The API server refuses longer Event messages.
_EVENT_MESSAGE_LIMIT = 1024
# The operator's connections to the API server, besides kopf's own.
_CONNECTIONS = 16
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
# Names the operator's own requests in the API server's audit log (kopf's say kopf/…).
USER_AGENT = "tilt-operator"


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


@dataclass(frozen=True)
class Call:
    """One request: what to ask, and whether a 404 means None rather than an error."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    content_type: str = "application/json"
    missing_ok: bool = False
    # A write the fence may refuse (see Client.fence); the leader Lease's own calls are not fenced.
    fenced: bool = True
    # Sent as this user (Impersonate-User): a ServiceAccount's username, for what an extension writes.
    impersonate: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": self.content_type}
        if self.impersonate:
            # The API server adds a ServiceAccount's groups itself when none are named.
            headers["Impersonate-User"] = self.impersonate
        return headers


def _path(kind: Kind, name: str = "", subresource: str = "") -> str:
    return "/".join(part for part in (f"/apis/{GROUP}/{VERSION}/{kind.plural}", name, subresource) if part)


def get_call(kind: Kind, name: str) -> Call:
    return Call("GET", _path(kind, name), missing_ok=True)


def list_call(kind: Kind, label_selector: str = "", limit: int = 0) -> Call:
    query = {key: value for key, value in (("labelSelector", label_selector), ("limit", str(limit or ""))) if value}
    return Call("GET", _path(kind), query)


def apply_call(
    kind: Kind, obj: Mapping[str, Any], field_manager: str, force: bool, impersonate: str | None = None
) -> Call:
    return apply_at_call(_path(kind, obj["metadata"]["name"]), obj, field_manager, force, impersonate)


def apply_at_call(
    path: str, obj: Mapping[str, Any], field_manager: str, force: bool, impersonate: str | None = None
) -> Call:
    """Server-side apply of any object at its ``path`` (a KubernetesApply's objects, any kind)."""
    query = {"fieldManager": field_manager, **({"force": "true"} if force else {})}
    return Call("PATCH", path, query, dict(obj), "application/apply-patch+yaml", impersonate=impersonate)


def finalizers_call(kind: Kind, name: str, finalizers: Sequence[str], resource_version: str) -> Call:
    """Set an object's finalizers, only if it is still at ``resource_version`` (else 409)."""
    body = {"metadata": {"finalizers": list(finalizers), "resourceVersion": resource_version}}
    return Call("PATCH", _path(kind, name), body=body, content_type="application/merge-patch+json", missing_ok=True)


def get_at_call(path: str, impersonate: str | None = None) -> Call:
    """Read any object at its ``path``; a 404 is None."""
    return Call("GET", path, missing_ok=True, impersonate=impersonate)


def discovery_call(group_version: str) -> Call:
    """The resources of one group version (``v1``, ``apps/v1``): kinds, plurals, whether namespaced."""
    path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    return Call("GET", path, missing_ok=True)


def create_call(kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Call:
    return Call("POST", _path(kind), {"fieldManager": field_manager}, dict(obj))


def patch_status_call(kind: Kind, name: str, status: Mapping[str, Any], resource_version: str | None = None) -> Call:
    """A merge patch of the status; with ``resource_version``, a precondition the API server checks (409)."""
    path = _path(kind, name, "status")
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return Call("PATCH", path, body=body, content_type="application/merge-patch+json", missing_ok=True)


def delete_call(kind: Kind, name: str, impersonate: str | None = None, resource_version: str | None = None) -> Call:
    """A delete; with ``resource_version``, only if the object is still at it (else 409)."""
    return delete_at_call(_path(kind, name), impersonate, resource_version)


def delete_at_call(path: str, impersonate: str | None = None, resource_version: str | None = None) -> Call:
    """A delete of any object at its ``path``; with ``resource_version``, only if it is still at it."""
    body = {"preconditions": {"resourceVersion": resource_version}} if resource_version else None
    return Call("DELETE", path, body=body, missing_ok=True, impersonate=impersonate)


def service_account_user(namespace: str, name: str) -> str:
    """The username a ServiceAccount authenticates as, and is impersonated as."""
    return f"system:serviceaccount:{namespace}:{name}"


def token_request_call(namespace: str, name: str, expiration_seconds: int) -> Call:
    """A TokenRequest: a new bound token of the ServiceAccount, valid ``expiration_seconds``; 404: no such account."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": expiration_seconds},
    }
    return Call("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body=body, missing_ok=True)


def event_call(obj: Mapping[str, Any], *, reason: str, message: str, warning: bool) -> Call:
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
    return Call("POST", f"/api/v1/namespaces/{EVENTS_NAMESPACE}/events", body=event)


def _lease_path(namespace: str, name: str = "") -> str:
    return "/".join(part for part in (f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", name) if part)


def lease_get_call(namespace: str, name: str) -> Call:
    return Call("GET", _lease_path(namespace, name), missing_ok=True, fenced=False)


def lease_create_call(lease: Mapping[str, Any]) -> Call:
    return Call("POST", _lease_path(lease["metadata"]["namespace"]), body=dict(lease), fenced=False)


def lease_replace_call(lease: Mapping[str, Any]) -> Call:
    """A PUT carrying the resourceVersion read: it fails with 409 if anyone wrote the Lease since."""
    metadata = lease["metadata"]
    return Call("PUT", _lease_path(metadata["namespace"], metadata["name"]), body=dict(lease), fenced=False)


@dataclass(frozen=True)
class ClusterAccess:
    """Where the API server is and how to trust it: what a kubeconfig for an extension names."""

    server: str
    # The PEM the server's certificate is checked against; None: the system's CAs.
    ca_pem: bytes | None = None
    insecure: bool = False


def cluster_access() -> ClusterAccess:
    """The API server the operator talks to, as its own configuration reaches it, without its credentials."""
    configuration = api_client().configuration
    ca_file = configuration.ssl_ca_cert
    with open(ca_file, "rb") if ca_file else contextlib.nullcontext(None) as pem:
        ca_pem = pem.read() if pem is not None else None
    return ClusterAccess(str(configuration.host), ca_pem, insecure=not configuration.verify_ssl)


# The command line's calls: blocking, through the official client.


def send(call: Call) -> Object | None:
    """Send ``call`` with the official client's configuration; ApiException on a refusal.

    Not through its generated per-method wrappers, which validate every argument with pydantic
    at more CPU than the request itself costs.
    """
    api = api_client()
    serialized = api.param_serialize(
        method=call.method,
        resource_path=call.path,
        query_params=list(call.query.items()),
        header_params=call.headers(),
        body=call.body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized)
    response.read()  # type: ignore[no-untyped-call]
    if response.status == 404 and call.missing_ok:
        return None
    if not 200 <= response.status <= 299:
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return cast(Object, json.loads(response.data)) if response.data else {}


def get(kind: Kind, name: str) -> Object | None:
    """The object, or None when it does not exist."""
    return send(get_call(kind, name))


def list_objects(kind: Kind, label_selector: str = "") -> list[Object]:
    return cast(list[Object], cast(Object, send(list_call(kind, label_selector)))["items"])


def apply(kind: Kind, obj: Mapping[str, Any], field_manager: str, *, force: bool = False) -> Object:
    """Server-side apply: the field manager owns exactly the fields in ``obj``; others keep theirs."""
    return cast(Object, send(apply_call(kind, obj, field_manager, force)))


def create(kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Object:
    """Create, as ``kubectl create`` does: the API server refuses an object that already exists."""
    return cast(Object, send(create_call(kind, obj, field_manager)))


def patch_status(kind: Kind, name: str, status: Mapping[str, Any]) -> Object | None:
    """Merge-patch the status subresource; the object as it now is, or None when it is gone."""
    return send(patch_status_call(kind, name, status))


def delete(kind: Kind, name: str) -> None:
    """Delete, tolerating an object that is already gone."""
    send(delete_call(kind, name))


def create_secret(secret: Mapping[str, Any], field_manager: str) -> None:
    """Create a Secret in its namespace (``kubectl tilt create secret``); what comes back is not kept."""
    path = f"/api/v1/namespaces/{secret['metadata']['namespace']}/secrets"
    send(Call("POST", path, {"fieldManager": field_manager}, dict(secret)))


def list_crds() -> list[Object]:
    """Every CustomResourceDefinition of the tilt.dev group, as plain dicts."""
    listing = cast(Object, send(Call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")))
    return [crd for crd in listing["items"] if crd["spec"]["group"] == GROUP]


def error_message(error: ApiException) -> str:
    """The API server's own message, not the client's multi-line dump."""
    return _message(error.body, f"{error.status} {error.reason}")


def _message(body: str | bytes | None, fallback: str) -> str:
    try:
        return cast(str, json.loads(body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return fallback


# The operator's calls: in its event loop.


class ApiError(Exception):
    """The API server refused a request; ``message`` is its own one-line explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Fenced(Exception):
    """A write refused before it was sent: this process is not (or no longer) the leader."""


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` means the API server could not be reached or is not serving (not a refusal)."""
    if isinstance(error, ApiError):
        return error.status == 0 or error.status >= 500
    return isinstance(error, OSError | urllib3.exceptions.HTTPError | aiohttp.ClientError | TimeoutError)


class Client:
    """The calls the operator's reconcilers make, sent with aiohttp in the running event loop.

    A refusal raises :class:`ApiError`; an unreachable server raises what aiohttp raised (see
    :func:`is_unreachable`). The session is made on first use, in the loop that uses it.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        # With leader election: whether this process may write now. A leader that could not renew
        # its Lease in time writes nothing more, whatever is still in flight inside it.
        self.fence: Callable[[], bool] | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            configuration = api_client().configuration
            context: ssl.SSLContext | bool = False
            if configuration.verify_ssl:
                context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
                if configuration.cert_file:
                    context.load_cert_chain(configuration.cert_file, configuration.key_file)
            self._session = aiohttp.ClientSession(
                base_url=configuration.host,
                connector=aiohttp.TCPConnector(limit=_CONNECTIONS, ssl=context),
                timeout=_REQUEST_TIMEOUT,
            )
        return self._session

    async def send(self, call: Call) -> Object | None:
        if call.method != "GET" and call.fenced and self.fence is not None and not self.fence():
            raise Fenced(f"not the leader: {call.method} {call.path} was not sent")
        session = self._open()
        headers = {**call.headers(), "User-Agent": USER_AGENT}
        # Read for every request: an in-cluster token is refreshed by the configuration's hook.
        token = api_client().configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        data = None if call.body is None else json.dumps(call.body)
        async with session.request(call.method, call.path, params=call.query, data=data, headers=headers) as response:
            text = await response.read()
        if response.status == 404 and call.missing_ok:
            return None
        if not 200 <= response.status <= 299:
            raise ApiError(response.status, _message(text, f"{response.status} {response.reason}"))
        return cast(Object, json.loads(text)) if text else {}

    async def ping(self) -> None:
        """Raises unless the API server serves the tilt.dev API: it lists one ExtensionRepo.

        Not ``/readyz``: that answers before the storage of custom resources is ready again.
        """
        await self.send(list_call(EXTENSION_REPO, limit=1))

    async def get(self, kind: Kind, name: str) -> Object | None:
        return await self.send(get_call(kind, name))

    async def list(self, kind: Kind, label_selector: str = "") -> list[Object]:
        return cast(list[Object], cast(Object, await self.send(list_call(kind, label_selector)))["items"])

    async def apply(
        self, kind: Kind, obj: Mapping[str, Any], field_manager: str, *, as_user: str | None = None
    ) -> Object:
        return cast(Object, await self.send(apply_call(kind, obj, field_manager, force=True, impersonate=as_user)))

    async def create(self, kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Object:
        return cast(Object, await self.send(create_call(kind, obj, field_manager)))

    async def resources(self, group_version: str) -> Objects | None:
        found = await self.send(discovery_call(group_version))
        return None if found is None else cast(Objects, found.get("resources") or [])

    async def apply_at(self, path: str, obj: Mapping[str, Any], field_manager: str, *, as_user: str) -> Object:
        return cast(Object, await self.send(apply_at_call(path, obj, field_manager, force=True, impersonate=as_user)))

    async def delete_at(self, path: str, *, as_user: str) -> None:
        await self.send(delete_at_call(path, as_user))

    async def get_at(self, path: str, *, as_user: str) -> Object | None:
        return await self.send(get_at_call(path, as_user))

    async def set_finalizers(self, kind: Kind, name: str, finalizers: Sequence[str], resource_version: str) -> None:
        await self.send(finalizers_call(kind, name, finalizers, resource_version))

    async def delete(
        self, kind: Kind, name: str, *, as_user: str | None = None, resource_version: str | None = None
    ) -> None:
        await self.send(delete_call(kind, name, as_user, resource_version))

    async def request_token(self, namespace: str, name: str, expiration_seconds: int) -> Object | None:
        return await self.send(token_request_call(namespace, name, expiration_seconds))

    async def patch_status(
        self, kind: Kind, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> Object | None:
        return await self.send(patch_status_call(kind, name, status, resource_version))

    async def post_event(self, obj: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
        await self.send(event_call(obj, reason=reason, message=message, warning=warning))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            # aiohttp's connector closes its transports in the next loop iterations.
            await asyncio.sleep(0)
