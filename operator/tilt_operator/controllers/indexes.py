"""Every kopf index of the operator, in one place: together they are the reconcilers' cache.

kopf feeds them from one watch per kind and starts no handler before each has its first full
listing. The names are those :mod:`tilt_operator.reconcilers.cache` reads; what goes into the
secondary indexes is decided by the reconcilers' own modules (which buttons a spec names).
"""

from __future__ import annotations

from typing import Any

import kopf

from tilt_operator.api import CMD, EXTENSION, GROUP, KINDS, LABEL_TILTFILE, TILTFILE
from tilt_operator.owners import controller_of
from tilt_operator.reconcilers import buttons, cache
from tilt_operator.reconcilers.cmd import RESTART_ON, START_ON
from tilt_operator.reconcilers.tiltfile import RESTART_ON as TILTFILE_RESTART_ON
from tilt_operator.reconcilers.tiltfile import STOP_ON


def _by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(body)}


# Each kind's objects by name, under the kind's plural.
for _kind in KINDS:
    kopf.index(_kind.resource, id=_kind.plural)(_by_name)


@kopf.index("apiextensions.k8s.io", "v1", "customresourcedefinitions", id=cache.CRDS)
def crds(name: str, spec: kopf.Spec, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]] | None:
    """The tilt.dev CRDs, which the Tiltfile builtins are generated from."""
    return {name: dict(body)} if spec.get("group") == GROUP else None


@kopf.index(EXTENSION.resource, id=cache.EXTENSIONS_BY_REPO)
def extensions_by_repo(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    return {spec.get("repoName", ""): name}


@kopf.index(CMD.resource, id=cache.CMDS_BY_BUTTON)
def cmds_by_button(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    return dict.fromkeys(buttons.named(spec, START_ON, RESTART_ON), name)


@kopf.index(TILTFILE.resource, id=cache.TILTFILES_BY_BUTTON)
def tiltfiles_by_button(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    return dict.fromkeys(buttons.named(spec, TILTFILE_RESTART_ON, STOP_ON), name)


def _owned_by_tiltfile(name: str, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[str, tuple[str, str, str]]:
    tiltfile = labels.get(LABEL_TILTFILE)
    controller = controller_of(body)
    if not tiltfile or controller is None:
        return {}
    return {tiltfile: (body["kind"], name, controller.get("uid", ""))}


# Whatever a Tiltfile registered, of every kind, by Tiltfile: what a successful run may prune.
for _kind in KINDS:
    kopf.index(_kind.resource, id=cache.OWNED_BY_TILTFILE)(_owned_by_tiltfile)

NAMES = (
    *(kind.plural for kind in KINDS),
    cache.CRDS,
    cache.EXTENSIONS_BY_REPO,
    cache.CMDS_BY_BUTTON,
    cache.TILTFILES_BY_BUTTON,
    cache.OWNED_BY_TILTFILE,
)
