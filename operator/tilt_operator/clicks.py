"""Whether a click of a UIButton may happen, and what it writes: ``status.lastClickedAt`` and ``status.inputs``.

The one place for every way to click, the dashboard and ``kubectl tilt click --input name=value``.
A disabled button is not clicked (:class:`Disabled`). Every one of the button's ``spec.inputs``
gets a value in ``status.inputs``, in the spec's order, as Tilt's UI writes them: the value given,
else the input's default (a choice's first choice); a hidden input always sends its spec's value.
A value that does not fit its input is refused with :class:`InvalidInput`, whose message says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilt_operator.messages import quoted

INPUT_KINDS = ("text", "bool", "hidden", "choice")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


class Refused(ValueError):
    """A click that may not be written; the message says why."""


class Disabled(Refused):
    """The button's spec says it is disabled: Tilt's UI offers no click, and neither does any path here."""


class InvalidInput(Refused):
    """A value the button's inputs do not accept; the message says which and why."""


def _kind(spec: Mapping[str, Any]) -> str:
    return next((kind for kind in INPUT_KINDS if spec.get(kind) is not None), "text")


def _bool(name: str, value: str | bool, spec: Mapping[str, Any]) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower()
    if word in _TRUE or (spec.get("trueString") and value == spec["trueString"]):
        return True
    if word in _FALSE or (spec.get("falseString") and value == spec["falseString"]):
        return False
    raise InvalidInput(f"input {name} is a checkbox: give true or false, not {quoted(value)}")


def _value(name: str, kind: str, spec: Mapping[str, Any], given: str | bool | None) -> str | bool:
    if kind == "hidden":
        if given is not None and given != spec.get("value", ""):
            raise InvalidInput(f"input {name} is hidden: its value is the button's own")
        return str(spec.get("value", ""))
    if kind == "bool":
        return bool(spec.get("defaultValue", False)) if given is None else _bool(name, given, spec)
    if isinstance(given, bool):
        raise InvalidInput(f"input {name} takes text, not {str(given).lower()}")
    if kind == "choice":
        choices = [str(choice) for choice in spec.get("choices") or []]
        if given is None:
            return choices[0] if choices else ""
        if given not in choices:
            raise InvalidInput(f"input {name} is one of {', '.join(choices) or '(no choices)'}, not {quoted(given)}")
        return given
    return str(spec.get("defaultValue", "")) if given is None else given


def status(button: Mapping[str, Any], given: Mapping[str, str | bool], now: str) -> dict[str, Any]:
    """The status patch for a click of ``button`` at ``now`` with the ``given`` input values."""
    if (button.get("spec") or {}).get("disabled"):
        raise Disabled("the button is disabled")
    inputs = (button.get("spec") or {}).get("inputs") or []
    names = [str(spec.get("name", "")) for spec in inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        known = f"its inputs are {', '.join(names)}" if names else "it has no inputs"
        raise InvalidInput(f"the button has no input {quoted(unknown[0])}: {known}")
    values = []
    for spec in inputs:
        name, kind = str(spec.get("name", "")), _kind(spec)
        value = _value(name, kind, spec.get(kind) or {}, given.get(name))
        values.append({"name": name, kind: {"value": value}})
    # A merge patch replaces a list whole; null removes the inputs of an earlier click.
    return {"lastClickedAt": now, "inputs": values or None}
