"""What the reconcilers ask of the API server, as a Protocol: ``kube.Client`` in the operator, a fake in tests.

Reads go to the :mod:`~tilt_operator.reconcilers.cache` first; these calls are the writes, and
the few reads of kinds the watches do not cover (a tilt.dev CRD installed after the operator started).
A refusal raises :class:`~tilt_operator.kube.ApiError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from tilt_operator.api import Kind

Object = dict[str, Any]
# (In the class, ``list`` is a method.)
Objects = list[Object]


class Client(Protocol):
    async def get(self, kind: Kind, name: str) -> Object | None: ...

    async def list(self, kind: Kind, label_selector: str = "") -> list[Object]: ...

    async def apply(
        self, kind: Kind, obj: Mapping[str, Any], field_manager: str, *, as_user: str | None = None
    ) -> Object:
        """Server-side apply, forcing conflicts: the field manager owns what it sends.

        With ``as_user``, the API server decides as for that user (impersonation): an extension's writes.
        """
        ...

    async def create(self, kind: Kind, obj: Mapping[str, Any], field_manager: str) -> Object:
        """Create; an object of that name already there is an :class:`~tilt_operator.kube.ApiError` (409)."""
        ...

    async def delete(
        self, kind: Kind, name: str, *, as_user: str | None = None, resource_version: str | None = None
    ) -> None:
        """Delete; an object already gone is not an error. ``as_user`` as for :meth:`apply`. With
        ``resource_version``, only if the object is still at it: else an ApiError with status 409."""
        ...

    async def resources(self, group_version: str) -> Objects | None:
        """The API resources of ``group_version`` (``v1``, ``apps/v1``) as discovery lists them; None
        when the API server does not serve it."""
        ...

    async def apply_at(self, path: str, obj: Mapping[str, Any], field_manager: str, *, as_user: str) -> Object:
        """Server-side apply, forcing conflicts, of an object of any kind at its ``path``, as ``as_user``."""
        ...

    async def delete_at(self, path: str, *, as_user: str) -> None:
        """Delete the object at ``path`` as ``as_user``; one already gone is not an error."""
        ...

    async def get_at(self, path: str, *, as_user: str) -> Object | None:
        """The object at ``path`` as ``as_user`` reads it; None when there is none."""
        ...

    async def set_finalizers(self, kind: Kind, name: str, finalizers: Sequence[str], resource_version: str) -> None:
        """Set the object's finalizers if it is still at ``resource_version`` (else ApiError 409)."""
        ...

    async def request_token(self, namespace: str, name: str, expiration_seconds: int) -> Object | None:
        """A new token of the ServiceAccount (the TokenRequest API's answer), None when it does not exist."""
        ...

    async def patch_status(
        self, kind: Kind, name: str, status: Mapping[str, Any], *, resource_version: str | None = None
    ) -> Object | None:
        """Merge-patch the status subresource; the object as it now is, None when it is gone.

        With ``resource_version``, only if the object is still at it: else an
        :class:`~tilt_operator.kube.ApiError` with status 409 (someone wrote in between).
        """
        ...

    async def post_event(self, obj: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None: ...
