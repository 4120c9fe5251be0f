"""Where an object of any kind lives in the API: its REST path, from the API server's discovery.

A KubernetesApply may hold any kind, a CRD's too. Each group version is read once and kept; a
kind it did not list is read again (a CRD applied since), at most once per ``_REFRESH`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tilt_operator.reconcilers.client import Client

# How soon a group version that lacked a kind is read again.
_REFRESH = 2.0


@dataclass(frozen=True)
class Resource:
    """One kind as the API serves it."""

    group_version: str
    plural: str
    namespaced: bool

    def path(self, name: str, namespace: str | None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        where = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{root}{where}/{self.plural}/{name}"


class Discovery:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._kinds: dict[str, dict[str, Resource]] = {}
        self._read_at: dict[str, float] = {}

    async def resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource of ``kind`` in ``api_version``; None when the API server serves no such kind."""
        known = self._kinds.get(api_version, {}).get(kind)
        if known is not None or time.monotonic() - self._read_at.get(api_version, -_REFRESH) < _REFRESH:
            return known
        listed: list[dict[str, Any]] = await self._client.resources(api_version) or []
        self._read_at[api_version] = time.monotonic()
        self._kinds[api_version] = {
            str(item["kind"]): Resource(api_version, str(item["name"]), bool(item.get("namespaced")))
            for item in listed
            if "/" not in str(item.get("name", ""))  # not a subresource
        }
        return self._kinds[api_version].get(kind)
