"""Every kopf index of the operator, in one place: together they are the reconcilers' cache.

One index per tilt.dev kind (its objects by name, under the kind's plural), one of the tilt.dev
CRDs, which the Tiltfile builtins are generated from, and one of the Secrets in the operator's own
namespace (kopf watches only that namespace: see ``runner.py``), holding only their data. kopf
feeds them from one watch per kind and starts no handler before each has its first full listing
(see ``reconcilers/cache.py``).

The functions are async only so that kopf calls them in its event loop: it runs a plain function
in a thread of its executor, a hop per event that cost more than the indexing itself.
"""

from __future__ import annotations

from typing import Any

import kopf

from tilt_operator.api import GROUP, KINDS
from tilt_operator.reconcilers import cache


async def _by_name(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(body)}


for _kind in KINDS:
    kopf.index(_kind.resource, id=_kind.plural)(_by_name)


@kopf.index("apiextensions.k8s.io", "v1", "customresourcedefinitions", id=cache.CRDS)
async def crds(name: str, spec: kopf.Spec, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]] | None:
    return {name: dict(body)} if spec.get("group") == GROUP else None


@kopf.index("v1", "secrets", id=cache.SECRETS)
async def secrets(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(body.get("data") or {})}


NAMES = (*(kind.plural for kind in KINDS), cache.CRDS, cache.SECRETS)
