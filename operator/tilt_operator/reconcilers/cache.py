"""The operator's view of the cluster: every tilt.dev object as the watches last delivered it.

kopf keeps it: one watch per kind feeds one index per kind (``controllers/indexes.py``), and kopf
runs no handler before every index has its first full listing, so a reconciler never sees half a
cluster. This is the read-only face the reconcilers get. They ask the API server only for what no
watch delivers, and a status they wrote themselves is tracked by the
:class:`~tilt_operator.reconcilers.status.StatusWriter`, which may be ahead of the watch.

Lookups by something other than a name (the Extensions of a repo, the Cmds that name a button)
scan one kind's objects: a few microseconds an object, paid when such an event comes, where an
index of its own would cost every event of the kind a handler call in kopf.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from tilt_operator.api import GROUP, KINDS, LABEL_TILTFILE, Kind
from tilt_operator.owners import controller_of

Object = Mapping[str, Any]
# A kopf index as the reconcilers see it: key -> the values every indexed object gave for it.
Index = Mapping[Any, Collection[Any]]

# The index of the tilt.dev CRDs; each kind's objects are indexed under its plural.
CRDS = "crds"


class Cache:
    def __init__(self, indexes: Mapping[str, Index]) -> None:
        self._indexes = indexes

    def get(self, kind: Kind, name: str) -> Object | None:
        """The object of ``kind`` called ``name``, or None when no watch has delivered one."""
        return next(iter(self._indexes[kind.plural].get(name, ())), None)

    def objects(self, kind: Kind) -> Iterator[Object]:
        for values in list(self._indexes[kind.plural].values()):
            yield from values

    def names(self, kind: Kind, where: Callable[[Object], bool]) -> list[str]:
        """The names of the objects of ``kind`` for which ``where`` holds."""
        return sorted(obj["metadata"]["name"] for obj in self.objects(kind) if where(obj))

    def covers(self, kind: Kind) -> bool:
        """Whether a watch feeds this kind (a CRD installed after start-up has none)."""
        return kind.plural in self._indexes

    def crds(self) -> list[Object]:
        """The installed tilt.dev CustomResourceDefinitions, for the Tiltfile builtins."""
        crds = [crd for values in self._indexes[CRDS].values() for crd in values]
        return sorted((crd for crd in crds if crd["spec"]["group"] == GROUP), key=lambda crd: crd["metadata"]["name"])

    def owned_by(self, tiltfile: str) -> list[tuple[str, str, str]]:
        """(kind, name, controller uid) of every object labelled as registered by ``tiltfile``."""
        found = []
        for kind in KINDS:
            for obj in self.objects(kind):
                labels = obj["metadata"].get("labels") or {}
                controller = controller_of(obj)
                if labels.get(LABEL_TILTFILE) == tiltfile and controller is not None:
                    found.append((kind.kind, obj["metadata"]["name"], str(controller.get("uid", ""))))
        return sorted(found)
