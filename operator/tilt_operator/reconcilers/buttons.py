"""UIButton clicks as the reconcilers read them.

A click is a write of the button's ``status.lastClickedAt``, by ``kubectl tilt click``, the
dashboard or a script. A Cmd names buttons under ``startOn``/``restartOn`` and a Tiltfile under
``restartOn``/``stopOn``; what counts is a click after a given moment (the last start, the
run's start). This module is the one place that reads either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator import timestamps
from tilt_operator.api import UI_BUTTON
from tilt_operator.reconcilers.cache import Cache

Clicks = Mapping[str, str | None]

# Where a Cmd and a Tiltfile name the buttons whose clicks concern them.
START_ON, RESTART_ON, STOP_ON = "startOn", "restartOn", "stopOn"
CMD_BUTTONS = (START_ON, RESTART_ON)
TILTFILE_BUTTONS = (RESTART_ON, STOP_ON)


def named(spec: Mapping[str, Any], *fields: str) -> list[str]:
    """The buttons ``spec`` names under ``<field>.uiButtons`` for each field, in order, once each."""
    found: dict[str, None] = {}
    for field in fields:
        for button in (spec.get(field) or {}).get("uiButtons") or []:
            found[button] = None
    return list(found)


def clicks(cache: Cache, buttons: list[str]) -> dict[str, str | None]:
    """The last click of each button (None: never clicked, or no such button)."""
    result: dict[str, str | None] = {}
    for button in buttons:
        obj = cache.get(UI_BUTTON, button)
        result[button] = (obj.get("status") or {}).get("lastClickedAt") if obj else None
    return result


def clicked_after(clicks: Clicks, moment: str | None) -> str | None:
    """The first button, by name, clicked after ``moment`` (after ever, when ``moment`` is None)."""
    after = timestamps.parse(moment) if moment else None
    return next(
        (button for button, at in sorted(clicks.items()) if at and (after is None or timestamps.parse(at) > after)),
        None,
    )
