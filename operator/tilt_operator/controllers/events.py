"""One kopf event handler per tilt.dev kind: every watch event goes to the reconcilers' Controller,
and to the dashboard's open pages; and one for the Secrets ExtensionRepos may name."""

from __future__ import annotations

from typing import Any

import kopf

from tilt_operator.api import KINDS
from tilt_operator.reconcilers.controller import Controller
from tilt_operator.web.server import WebServer


async def _observe(*, type: str | None, body: kopf.Body, memo: Any, param: Any = None, **_: Any) -> None:
    """Async, so kopf calls it in the event loop, where the Controller's queues live."""
    controller: Controller = memo.controller
    controller.observe(param, type, body)
    web: WebServer | None = memo.web
    if web is not None:
        web.live.changed()


for _kind in KINDS:
    kopf.on.event(_kind.resource, param=_kind, id=f"observe-{_kind.plural}")(_observe)


@kopf.on.event("v1", "secrets", id="observe-secrets")
async def observe_secret(*, name: str, memo: Any, **_: Any) -> None:
    """A Secret in the operator's namespace appeared, changed or went: the repos naming it fetch again."""
    controller: Controller = memo.controller
    controller.secret_changed(name)
