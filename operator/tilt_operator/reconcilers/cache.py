"""The operator's view of the cluster: every tilt.dev object as the watches last delivered it.

kopf keeps it: one watch per kind feeds one index per kind (``controllers/indexes.py``), and kopf
runs no handler before every index has its first full listing, so a reconciler never sees half a
cluster. This is the read-only face the reconcilers get. They ask the API server only for what no
watch delivers, and a status they wrote themselves is tracked by the
:class:`~tilt_operator.reconcilers.status.StatusWriter`, which may be ahead of the watch.

Lookups by something other than a name (the Extensions of a repo, the Cmds that name a button)
are :mod:`~tilt_operator.reconcilers.relations`, kept by the Controller: an index of kopf's for
each would cost every event of the kind a handler call in kopf.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from tilt_operator.api import GROUP, Kind

Object = Mapping[str, Any]
# A kopf index as the reconcilers see it: key -> the values every indexed object gave for it.
Index = Mapping[Any, Collection[Any]]

# The index of the tilt.dev CRDs; each kind's objects are indexed under its plural.
CRDS = "crds"
# The index of the Secrets in the operator's namespace (their data only), for spec.secretRef.
SECRETS = "secrets"


class Cache:
    def __init__(self, indexes: Mapping[str, Index]) -> None:
        self._indexes = indexes

    def get(self, kind: Kind, name: str) -> Object | None:
        """The object of ``kind`` called ``name``, or None when no watch has delivered one."""
        return _first(self._indexes[kind.plural], name)

    def objects(self, kind: Kind) -> Iterator[Object]:
        for values in list(self._indexes[kind.plural].values()):
            yield from values

    def covers(self, kind: Kind) -> bool:
        """Whether a watch feeds this kind (a CRD installed after start-up has none)."""
        return kind.plural in self._indexes

    def secret_data(self, name: str) -> Mapping[str, str] | None:
        """The ``data`` of the Secret ``name`` in the operator's namespace, or None when there is none."""
        found = _first(self._indexes.get(SECRETS, {}), name)
        return None if found is None else dict(found)

    def crds(self) -> list[Object]:
        """The installed tilt.dev CustomResourceDefinitions, for the Tiltfile builtins."""
        crds = [crd for values in self._indexes[CRDS].values() for crd in values]
        return sorted((crd for crd in crds if crd["spec"]["group"] == GROUP), key=lambda crd: crd["metadata"]["name"])


def _first(index: Index, key: str) -> Object | None:
    """What the one object under ``key`` gave the index, or None."""
    return next(iter(index.get(key, ())), None)
