"""Tilt's resources, as a person names them, over this API's objects.

In Tilt a resource is what the UI shows as one row: a Tiltfile, a ``local_resource`` with its
Cmds, or a k8s resource with what it deployed. Here the same: every Tiltfile (an Extension
shows as its Tiltfile), and every value of the ``tilt.dev/resource`` annotation, which groups
Cmds and KubernetesApplys (a ``local_resource``'s update and serve Cmds, a k8s resource's
KubernetesApply, or everything a Tiltfile registered directly, which carries the Tiltfile's
name); an object without the annotation is a resource of its own name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tilt_operator.api import ANNOTATION_RESOURCE, CMD, KUBERNETES_APPLY, TILTFILE, Kind
from tilt_operator.logstore import Key
from tilt_operator.names import InvalidName, object_name
from tilt_operator.reconcilers.cache import Cache

# What a NAME may start with to mean one object rather than a resource: kubectl's spellings.
_ONE_OBJECT = {
    "cmd": CMD,
    "cmds": CMD,
    "tf": TILTFILE,
    "tiltfile": TILTFILE,
    "tiltfiles": TILTFILE,
    "kubernetesapply": KUBERNETES_APPLY,
    "kubernetesapplys": KUBERNETES_APPLY,
}
# The kinds a resource is made of, each with a log.
LOGGED = (TILTFILE, CMD, KUBERNETES_APPLY)


class UnknownName(LookupError):
    """No resource or object goes by that name; the message says so in one line."""


def resource_of(kind: Kind, obj: Mapping[str, Any]) -> str:
    """The resource an object of ``kind`` belongs to."""
    if kind == TILTFILE:
        return str(obj["metadata"]["name"])
    annotations = obj["metadata"].get("annotations") or {}
    return str(annotations.get(ANNOTATION_RESOURCE) or obj["metadata"]["name"])


def key_of(kind: Kind, obj: Mapping[str, Any]) -> Key:
    return Key(kind.plural, obj["metadata"]["name"], obj["metadata"]["uid"])


@dataclass
class Resource:
    name: str
    objects: list[tuple[Kind, Mapping[str, Any]]] = field(default_factory=list)


def resources(cache: Cache) -> dict[str, Resource]:
    """Every resource by name, each with its objects (Tiltfile first, then Cmds, then
    KubernetesApplys, each by name)."""
    found: dict[str, Resource] = {}
    for kind in LOGGED:
        for obj in sorted(cache.objects(kind), key=lambda obj: obj["metadata"]["name"]):
            name = resource_of(kind, obj)
            found.setdefault(name, Resource(name)).objects.append((kind, obj))
    return found


@dataclass(frozen=True)
class Selection:
    """What a request for logs names: whole resources, and single objects by kind and name."""

    everything: bool
    resources: frozenset[str]
    objects: frozenset[tuple[str, str]]

    def wants(self, kind: Kind, obj: Mapping[str, Any]) -> bool:
        return (
            self.everything
            or resource_of(kind, obj) in self.resources
            or (kind.plural, obj["metadata"]["name"]) in self.objects
        )


def select(cache: Cache, names: Iterable[str]) -> Selection:
    """Resolve NAMEs (``sleeper``, ``cancel``, ``cmd/sleeper.cancel``, ``tf/cancel``) against the cluster.

    :class:`UnknownName` for a name that matches nothing now; a resource named by its Tilt
    spelling (``sleeper:serve``) is found under its object name too.
    """
    names = list(names)
    known = resources(cache)
    wanted, objects = set(), set()
    for name in names:
        prefix, slash, rest = name.partition("/")
        if slash and prefix in _ONE_OBJECT:
            kind = _ONE_OBJECT[prefix]
            if cache.get(kind, _object_name(rest)) is None:
                raise UnknownName(f'{kind.plural} "{rest}" not found')
            objects.add((kind.plural, _object_name(rest)))
        elif name in known:
            wanted.add(name)
        elif _object_name(name) in known:
            wanted.add(_object_name(name))
        else:
            raise UnknownName(f'no resource named "{name}": `kubectl tilt get` and `kubectl get cmds` list them')
    return Selection(not names, frozenset(wanted), frozenset(objects))


def _object_name(name: str) -> str:
    try:
        return object_name(name)
    except InvalidName:
        return name
