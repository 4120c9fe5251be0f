"""Tiltfile builtins generated from the CRDs (kind_builtins): names, arguments and checks.

Uses the real CRDs in crds/, so a schema change that breaks the Tiltfile API shows up here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tilt_operator.engine.builtins import ArgumentError, BuiltinSpec, build_object, builtin_specs, snake_case

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
CRDS = [
    crd
    for crd in (yaml.safe_load(path.read_text()) for path in sorted(CRD_DIR.glob("*.yaml")))
    if crd.get("kind") == "CustomResourceDefinition"
]
SPECS = builtin_specs(CRDS)


def _crd(kind: str, spec_schema: dict[str, Any], group: str = "tilt.dev") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": group,
            "names": {"kind": kind},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False},
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec_schema}}},
                },
            ],
        },
    }


def _build(builtin: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return build_object(SPECS[builtin], args, kwargs)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ExtensionRepo", "extension_repo"),
        ("Extension", "extension"),
        ("Tiltfile", "tiltfile"),
        ("Cmd", "cmd"),
        ("UIButton", "ui_button"),
        ("repoName", "repo_name"),
        ("gitSubpath", "git_subpath"),
        ("loadHost", "load_host"),
        ("componentID", "component_id"),
        ("uiButtons", "ui_buttons"),
        ("url", "url"),
    ],
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def test_every_tilt_kind_gets_a_builtin() -> None:
    assert set(SPECS) == {"extension_repo", "extension", "tiltfile", "cmd", "ui_button"}
    assert SPECS["extension_repo"].arguments["load_host"] == "loadHost"
    assert SPECS["extension_repo"].arguments["git_subpath"] == "gitSubpath"
    assert SPECS["extension"].arguments["repo_name"] == "repoName"


def test_a_new_kind_needs_no_code_change() -> None:
    schema = {"type": "object", "required": ["portNumber"], "properties": {"portNumber": {"type": "integer"}}}
    specs = builtin_specs([_crd("PortForward", schema)])

    assert specs["port_forward"] == BuiltinSpec(
        name="port_forward",
        kind="PortForward",
        api_version="tilt.dev/v1alpha1",
        spec_schema=schema,
        arguments={"port_number": "portNumber"},
    )
    assert build_object(specs["port_forward"], (), {"name": "pf", "port_number": 8080})["spec"] == {"portNumber": 8080}


def test_other_groups_get_no_builtin() -> None:
    assert builtin_specs([_crd("Widget", {"type": "object"}, group="example.com")]) == {}


def test_fields_that_collide_are_a_crd_bug() -> None:
    schema = {"type": "object", "properties": {"fooBar": {"type": "string"}, "foo_bar": {"type": "string"}}}
    with pytest.raises(ValueError, match="both map to foo_bar"):
        builtin_specs([_crd("Thing", schema)])


def test_seed_example() -> None:
    assert _build("extension_repo", name="default", url="https://github.com/tilt-dev/tilt-extensions") == {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "ExtensionRepo",
        "metadata": {"name": "default"},
        "spec": {"url": "https://github.com/tilt-dev/tilt-extensions"},
    }
    assert _build("extension", name="cancel_button", repo_name="default", repo_path="cancel_button")["spec"] == {
        "repoName": "default",
        "repoPath": "cancel_button",
    }


def test_name_may_be_positional_and_metadata_is_kept() -> None:
    obj = _build("extension_repo", "default", url="file:///x", labels={"team": "a"}, annotations={"note": "b"})
    assert obj["metadata"] == {"name": "default", "labels": {"team": "a"}, "annotations": {"note": "b"}}


def test_nested_keys_may_be_snake_or_camel_case() -> None:
    snake = _build("ui_button", name="b", text="Cancel", location={"component_type": "Global", "component_id": "x"})
    camel = _build("ui_button", name="b", text="Cancel", location={"componentType": "Global", "componentID": "x"})
    assert snake == camel
    assert snake["spec"] == {"text": "Cancel", "location": {"componentType": "Global", "componentID": "x"}}


def test_none_means_not_given_and_tuples_become_lists() -> None:
    obj = _build("cmd", name="c", args=("sleep", "1"), dir=None, start_on={"ui_buttons": ["b"], "start_after": None})
    assert obj["spec"] == {"args": ["sleep", "1"], "startOn": {"uiButtons": ["b"]}}


def test_tiltfile_spec_labels_do_not_clash_with_metadata_labels() -> None:
    obj = _build("tiltfile", name="t", path="/x/Tiltfile", labels={"a": "meta"}, spec_labels={"b": "spec"})
    assert obj["metadata"]["labels"] == {"a": "meta"}
    assert obj["spec"]["labels"] == {"b": "spec"}


GLOBAL = {"component_type": "Global", "component_id": "x"}
BUTTON = {"name": "b", "text": "t"}
REPO = {"name": "e", "repo_name": "d", "repo_path": "p"}


@pytest.mark.parametrize(
    ("builtin", "kwargs", "message"),
    [
        ("extension_repo", {"name": "d", "urll": "x"}, "unknown argument 'urll' (did you mean 'url'?)"),
        ("extension", {"name": "e", "repoName": "d"}, "unknown argument 'repoName' (did you mean 'repo_name'?)"),
        ("cmd", {"name": "c", "args": 5}, "argument 'args' must be a list of strings, got int"),
        ("cmd", {"name": "c", "args": ["a", 1]}, "argument 'args[1]' must be a string, got int"),
        ("cmd", {"name": "c", "args": []}, "argument 'args' must have at least 1 item(s), got 0"),
        (
            "cmd",
            {"name": "c", "args": ["a"], "env": ["FOO"]},
            "argument 'env[0]' must match the pattern '^[^=]+=', got 'FOO'",
        ),
        (
            "cmd",
            {"name": "c", "args": ["a"], "start_on": "b"},
            "argument 'start_on' must be a dict with string keys, got string",
        ),
        ("extension", {"name": "e", "repo_name": "d"}, "missing required argument 'repo_path'"),
        ("extension", {"repo_name": "d", "repo_path": "p"}, "missing required argument 'name'"),
        ("extension", {**REPO, "name": 3}, "argument 'name' must be a string, got int"),
        ("extension", {**REPO, "labels": {"a": 1}}, "argument 'labels.a' must be a string, got int"),
        ("ui_button", {**BUTTON, "location": GLOBAL, "disabled": 1}, "argument 'disabled' must be a bool, got int"),
        (
            "ui_button",
            {**BUTTON, "location": {**GLOBAL, "component_type": "Side"}},
            "argument 'location.component_type' must be one of 'Resource', 'resource', 'Global', 'global', got 'Side'",
        ),
        (
            "ui_button",
            {**BUTTON, "location": {"component_type": "Global"}},
            "argument 'location' is missing required key 'component_id'",
        ),
        (
            "ui_button",
            {**BUTTON, "location": {"componentTyp": "Global"}},
            "argument 'location' has unknown key 'componentTyp' (did you mean 'componentType'?)",
        ),
        (
            "ui_button",
            {**BUTTON, "location": {"componentID": "a", "component_id": "b"}},
            "argument 'location' sets 'componentID' twice",
        ),
    ],
)
def test_bad_calls_say_what_to_fix(builtin: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        _build(builtin, **kwargs)
    assert str(caught.value) == f"{builtin}: {message}"


def test_only_name_is_positional() -> None:
    with pytest.raises(ArgumentError, match="only 'name' may be positional, got 2"):
        _build("extension_repo", "default", "https://x")
    with pytest.raises(ArgumentError, match="multiple values for argument 'name'"):
        _build("extension_repo", "default", name="other", url="https://x")


@pytest.mark.parametrize(
    ("schema", "good", "bad", "message"),
    [
        ({"type": "integer", "minimum": 1}, 3, 0, "must be at least 1, got 0"),
        ({"type": "integer"}, 3, True, "must be an integer, got bool"),
        ({"type": "number"}, 1.5, "1.5", "must be a number, got string"),
        ({"type": "string", "maxLength": 3}, "abc", "abcd", "must have at most 3 character(s), got 4"),
        ({"x-kubernetes-int-or-string": True}, "80%", 1.5, "must be a string or an integer, got float"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, {"a": 1}, {"a": "1"}, "'size.a' must be an"),
    ],
)
def test_schema_rules(schema: dict[str, Any], good: Any, bad: Any, message: str) -> None:
    spec = builtin_specs([_crd("Thing", {"type": "object", "properties": {"size": schema}})])["thing"]

    assert build_object(spec, (), {"name": "t", "size": good})["spec"] == {"size": good}
    with pytest.raises(ArgumentError, match=re.escape(message)):
        build_object(spec, (), {"name": "t", "size": bad})
