"""UIButton clicks and FileWatch events as the reconcilers read them.

A click is a write of the button's ``status.lastClickedAt``, by ``kubectl tilt click``, the
dashboard or a script. A Cmd names buttons under ``startOn``/``restartOn`` and a Tiltfile under
``restartOn``/``stopOn``; what counts is a click after a given moment (the last start, the
run's start). A Cmd's ``restartOn.fileWatches`` count the same way, by each FileWatch's
``status.lastEventTime``. This module is the one place that reads them, and the values of a
click's inputs, which a Cmd started by that click gets in its environment, as in Tilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator import timestamps
from tilt_operator.api import FILE_WATCH, UI_BUTTON
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


def file_watches(spec: Mapping[str, Any]) -> list[str]:
    """The FileWatches ``spec`` names under ``restartOn.fileWatches``."""
    return list(dict.fromkeys((spec.get(RESTART_ON) or {}).get("fileWatches") or []))


def file_events(cache: Cache, watches: list[str]) -> dict[str, str | None]:
    """When each FileWatch last saw a change (None: never, or no such FileWatch)."""
    result: dict[str, str | None] = {}
    for watch in watches:
        obj = cache.get(FILE_WATCH, watch)
        result[watch] = (obj.get("status") or {}).get("lastEventTime") if obj else None
    return result


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


def input_environment(cache: Cache, button: str) -> list[str]:
    """``NAME=VALUE`` for each input of ``button``, from its last click, as Tilt gives them to a Cmd
    that click starts: text and hidden values as they are, a bool as its true/false string (default
    ``true``/``false``), a choice that is not one of the choices as the first choice."""
    obj = cache.get(UI_BUTTON, button)
    if obj is None:
        return []
    given = {entry.get("name"): entry for entry in (obj.get("status") or {}).get("inputs") or []}
    env = []
    for spec in (obj.get("spec") or {}).get("inputs") or []:
        name = spec.get("name", "")
        env.append(f"{name}={_input_value(spec, given.get(name) or {})}")
    return env


def _input_value(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    if "text" in status:
        return str(status["text"].get("value", ""))
    if "bool" in status:
        choice = "trueString" if status["bool"].get("value") else "falseString"
        fallback = "true" if status["bool"].get("value") else "false"
        return str((spec.get("bool") or {}).get(choice) or fallback)
    if "hidden" in status:
        return str(status["hidden"].get("value", ""))
    if "choice" in status:
        choices = [str(choice) for choice in (spec.get("choice") or {}).get("choices") or []]
        value = str(status["choice"].get("value", ""))
        return value if value in choices or not choices else choices[0]
    return ""
