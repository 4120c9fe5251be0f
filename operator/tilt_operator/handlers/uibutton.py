"""UIButton is data: a click is a write of status.lastClickedAt. The operator only indexes clicks."""

from __future__ import annotations

from typing import Any

import kopf

from tilt_operator.api import UI_BUTTON


@kopf.index(UI_BUTTON.resource)
def button_clicks(name: str, status: kopf.Status, **_: Any) -> dict[str, str | None]:
    """Button name -> when it was last clicked, for the reconcilers that restart or stop on clicks."""
    return {name: status.get("lastClickedAt")}


def clicks(index: kopf.Index[str, str | None], buttons: list[str]) -> dict[str, str | None]:
    """The last click of each named button (None: never clicked, or no such button)."""
    return {button: next(iter(index.get(button, [])), None) for button in buttons}
