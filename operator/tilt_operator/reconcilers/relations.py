"""Which objects name which: a repo's Extensions, a Secret's repos, a button's or a FileWatch's Cmds,
the Cmds that wait for another Cmd or resource, a Tiltfile's registrations and the Extensions it loads.

The cache has every object by name; these are the lookups the other way round, kept up to date
from the watch events the Controller sees (a dict update each) and built whole from the cache
once, when the first event shows the cache complete. Each object's own entries are remembered,
so a change or a delete takes back exactly what it put in.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from tilt_operator.api import (
    ANNOTATION_RESOURCE_DEPS,
    ANNOTATION_START_AFTER,
    CMD,
    EXTENSION,
    EXTENSION_REPO,
    KINDS,
    KUBERNETES_APPLY,
    LABEL_TILTFILE,
    TILTFILE,
    Kind,
)
from tilt_operator.names import InvalidName, object_name
from tilt_operator.owners import controller_of, sharing_owners
from tilt_operator.reconcilers import buttons
from tilt_operator.reconcilers.buttons import CMD_BUTTONS, TILTFILE_BUTTONS
from tilt_operator.reconcilers.cache import Cache

# Relation names: what an entry is looked up by.
REPO = "repo"
SECRET = "secret"
BUTTON = "button"
FILE_WATCH = "file watch"
# A Cmd that starts after another Cmd (by object name), or waits for a resource (by Tilt name).
AFTER = "after"
RESOURCE_DEP = "resource dep"
TILTFILE_OWNS = "registered by"
# An object a Tiltfile owns with others: an Extension it loads (ext://), by the Tiltfile's name.
TILTFILE_SHARES = "loaded by"

Entry = tuple[str, str, str]  # (relation, key, what: "Kind/name" or "Kind/name/controller uid")


def entries(kind: Kind, obj: Mapping[str, Any]) -> set[Entry]:
    """Every lookup ``obj`` should be found by."""
    name, spec = obj["metadata"]["name"], obj.get("spec") or {}
    found: set[Entry] = set()
    if kind == EXTENSION:
        found.add((REPO, str(spec.get("repoName", "")), f"{kind.kind}/{name}"))
    elif kind == EXTENSION_REPO and (spec.get("secretRef") or {}).get("name"):
        found.add((SECRET, str(spec["secretRef"]["name"]), f"{kind.kind}/{name}"))
    elif kind in (CMD, TILTFILE):
        fields = CMD_BUTTONS if kind == CMD else TILTFILE_BUTTONS
        found |= {(BUTTON, button, f"{kind.kind}/{name}") for button in buttons.named(spec, *fields)}
    if kind in (CMD, KUBERNETES_APPLY):
        found |= {(FILE_WATCH, watch, f"{kind.kind}/{name}") for watch in buttons.file_watches(spec)}
    annotations = obj["metadata"].get("annotations") or {}
    if kind in (CMD, KUBERNETES_APPLY):
        for dep in filter(None, str(annotations.get(ANNOTATION_RESOURCE_DEPS, "")).split(",")):
            found.add((RESOURCE_DEP, dep, f"{kind.kind}/{name}"))
    if kind == CMD:
        with contextlib.suppress(InvalidName):
            if annotations.get(ANNOTATION_START_AFTER):
                found.add((AFTER, object_name(str(annotations[ANNOTATION_START_AFTER])), f"{kind.kind}/{name}"))
    tiltfile = (obj["metadata"].get("labels") or {}).get(LABEL_TILTFILE)
    controller = controller_of(obj)
    if tiltfile and controller is not None:
        found.add((TILTFILE_OWNS, tiltfile, f"{kind.kind}/{name}/{controller.get('uid', '')}"))
    for owner in sharing_owners(obj, TILTFILE.kind):
        found.add((TILTFILE_SHARES, str(owner.get("name", "")), f"{kind.kind}/{name}/{owner.get('uid', '')}"))
    return found


class Relations:
    def __init__(self) -> None:
        self._index: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._of: dict[tuple[str, str], set[Entry]] = {}

    def rebuild(self, cache: Cache) -> None:
        self._index.clear()
        self._of.clear()
        for kind in KINDS:
            for obj in cache.objects(kind):
                self.update(kind, obj)

    def update(self, kind: Kind, obj: Mapping[str, Any]) -> None:
        self.remove(kind, obj["metadata"]["name"])
        now = entries(kind, obj)
        self._of[(kind.kind, obj["metadata"]["name"])] = now
        for relation, key, what in now:
            self._index[(relation, key)].add(what)

    def remove(self, kind: Kind, name: str) -> None:
        for relation, key, what in self._of.pop((kind.kind, name), set()):
            values = self._index.get((relation, key))
            if values is not None:
                values.discard(what)
                if not values:
                    del self._index[(relation, key)]

    def names(self, relation: str, key: str, kind: Kind) -> list[str]:
        """The names of the objects of ``kind`` found by ``relation`` under ``key``."""
        prefix = f"{kind.kind}/"
        return sorted(what[len(prefix) :] for what in self._index.get((relation, key), ()) if what.startswith(prefix))

    def registered_by(self, tiltfile: str) -> list[tuple[str, str, str]]:
        """(kind, name, controller uid) of every object labelled as registered by ``tiltfile``."""
        return self._owned(TILTFILE_OWNS, tiltfile)

    def shared_by(self, tiltfile: str) -> list[tuple[str, str, str]]:
        """(kind, name, owner uid) of every object a Tiltfile called ``tiltfile`` owns with others."""
        return self._owned(TILTFILE_SHARES, tiltfile)

    def _owned(self, relation: str, tiltfile: str) -> list[tuple[str, str, str]]:
        found = [tuple(what.split("/", 2)) for what in self._index.get((relation, tiltfile), ())]
        return sorted((kind, name, uid) for kind, name, uid in found)
