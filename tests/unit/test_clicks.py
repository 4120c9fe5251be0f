"""What a click writes, for the dashboard and `kubectl tilt click --input`."""

from __future__ import annotations

from typing import Any

import pytest

from tilt_operator import clicks

NOW = "2026-12-01T10:00:00.000000Z"


def button(*inputs: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"location": {"componentType": "Global", "componentID": "x"}, "text": "Go"}
    if inputs:
        spec["inputs"] = list(inputs)
    return {"metadata": {"name": "go"}, "spec": spec}


DEPLOY = button(
    {"name": "message", "label": "Message", "text": {"defaultValue": "hello", "placeholder": "say"}},
    {"name": "dry_run", "bool": {"defaultValue": True}},
    {"name": "env", "choice": {"choices": ["dev", "prod"]}},
    {"name": "token", "hidden": {"value": "abc"}},
    {"name": "plain"},
)


def test_a_button_without_inputs_writes_the_time_and_clears_earlier_inputs() -> None:
    assert clicks.status(button(), {}, NOW) == {"lastClickedAt": NOW, "inputs": None}


def test_every_input_gets_its_default_in_the_specs_order() -> None:
    assert clicks.status(DEPLOY, {}, NOW)["inputs"] == [
        {"name": "message", "text": {"value": "hello"}},
        {"name": "dry_run", "bool": {"value": True}},
        {"name": "env", "choice": {"value": "dev"}},
        {"name": "token", "hidden": {"value": "abc"}},
        {"name": "plain", "text": {"value": ""}},
    ]


def test_given_values_replace_the_defaults() -> None:
    inputs = clicks.status(DEPLOY, {"message": "<b>hi</b>", "dry_run": "false", "env": "prod"}, NOW)["inputs"]
    assert inputs[:3] == [
        {"name": "message", "text": {"value": "<b>hi</b>"}},
        {"name": "dry_run", "bool": {"value": False}},
        {"name": "env", "choice": {"value": "prod"}},
    ]


def test_a_checkbox_takes_a_bool_or_its_own_strings() -> None:
    spec = button({"name": "on", "bool": {"trueString": "enabled", "falseString": "disabled"}})
    assert clicks.status(spec, {"on": True}, NOW)["inputs"] == [{"name": "on", "bool": {"value": True}}]
    assert clicks.status(spec, {"on": "disabled"}, NOW)["inputs"] == [{"name": "on", "bool": {"value": False}}]
    assert clicks.status(spec, {"on": "enabled"}, NOW)["inputs"] == [{"name": "on", "bool": {"value": True}}]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"nope": "1"}, "the button has no input 'nope': its inputs are message, dry_run, env, token, plain"),
        ({"env": "staging"}, "input env is one of dev, prod, not 'staging'"),
        ({"dry_run": "maybe"}, "input dry_run is a checkbox: give true or false, not 'maybe'"),
        ({"token": "forged"}, "input token is hidden: its value is the button's own"),
        ({"message": True}, "input message takes text, not true"),
    ],
)
def test_values_that_do_not_fit_are_refused_with_the_reason(given: dict[str, Any], message: str) -> None:
    with pytest.raises(clicks.InvalidInput) as refused:
        clicks.status(DEPLOY, given, NOW)
    assert str(refused.value) == message


def test_a_button_without_inputs_refuses_any() -> None:
    with pytest.raises(clicks.InvalidInput, match="it has no inputs"):
        clicks.status(button(), {"x": "1"}, NOW)


def test_a_disabled_button_is_not_clicked_whatever_the_path() -> None:
    disabled = {**DEPLOY, "spec": {**DEPLOY["spec"], "disabled": True}}
    with pytest.raises(clicks.Disabled, match="the button is disabled"):
        clicks.status(disabled, {}, NOW)
