"""Tiltfile builtins generated from the CRDs, in the Tiltfile host: names, arguments and checks.

Uses the real CRDs in crds/, so a schema change that breaks the Tiltfile API shows up here. Each
call runs in the host as a one-line Tiltfile, so the messages are the ones a user reads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_engine import CRDS, _run
from tilt_operator.engine.pool import BuildError, build_object


def _crd(kind: str, spec_schema: dict[str, Any], group: str = "tilt.dev") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.lower()}s.{group}"},
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


def _call(builtin: str, *args: Any, **kwargs: Any) -> str:
    """The Starlark call: Python's repr of these values is also their Starlark spelling."""
    arguments = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{builtin}({', '.join(arguments)})"


def _objects(tmp_path: Path, source: str, crds: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    result = _run(tmp_path, {"Tiltfile": source + "\n"}, crds=crds or CRDS)
    if result.error is not None:
        raise BuildError(result.error.partition(": ")[2])
    return result.objects


def _build(tmp_path: Path, builtin: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    [obj] = _objects(tmp_path, _call(builtin, *args, **kwargs))
    return obj


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
def test_snake_case(tmp_path: Path, name: str, expected: str) -> None:
    """A kind and a field named ``name`` become the builtin and the argument ``expected``."""
    crd = _crd(name, {"type": "object", "properties": {name: {"type": "string"}}})
    [obj] = _objects(tmp_path, f"{expected}(name='x', {expected}='v')", crds=[crd])
    assert (obj["kind"], obj["spec"]) == (name, {name: "v"})


def test_every_tilt_kind_gets_a_builtin_also_in_the_v1alpha1_namespace(tmp_path: Path) -> None:
    kinds = ["cmd", "extension", "extension_repo", "tiltfile", "ui_button"]
    source = f"print(type(v1alpha1), {', '.join(f'v1alpha1.{kind} == {kind}' for kind in kinds)})\n"
    result = _run(tmp_path, {"Tiltfile": source})
    assert result.error is None, result.error
    assert result.output == "module True True True True True\n"
    repo = _build(tmp_path, "extension_repo", name="r", url="file:///x", load_host="h", git_subpath="s")
    assert repo["spec"] == {"url": "file:///x", "loadHost": "h", "gitSubpath": "s"}


def test_a_new_kind_needs_no_code_change(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["portNumber"], "properties": {"portNumber": {"type": "integer"}}}
    [obj] = _objects(tmp_path, "port_forward(name='pf', port_number=8080)", crds=[_crd("PortForward", schema)])

    assert obj == {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "PortForward",
        "metadata": {"name": "pf"},
        "spec": {"portNumber": 8080},
    }


def test_other_groups_get_no_builtin(tmp_path: Path) -> None:
    crds = [_crd("Widget", {"type": "object"}, group="example.com")]
    with pytest.raises(BuildError, match="undefined: widget"):
        _objects(tmp_path, "widget(name='w')", crds=crds)


def test_fields_that_collide_are_a_crd_bug(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"fooBar": {"type": "string"}, "foo_bar": {"type": "string"}}}
    result = _run(tmp_path, {"Tiltfile": "print(1)\n"}, crds=[_crd("Thing", schema)])
    assert result.error is not None
    assert "both map to foo_bar" in result.error


def test_the_command_line_builds_with_the_same_builtin() -> None:
    """``kubectl tilt create`` calls the host's builtin: the same object, the same errors."""
    obj = build_object("Extension", {"name": "cancel_button", "repo_name": "d", "repo_path": "p"}, **_HOST)
    assert obj["metadata"] == {"name": "cancel-button", "annotations": {"tilt.dev/name": "cancel_button"}}
    with pytest.raises(BuildError, match=r"^extension: unknown argument 'urll'"):
        build_object("Extension", {"name": "e", "urll": "x"}, **_HOST)


_HOST: dict[str, Any] = {"crds": CRDS, "memory_mb": 256, "timeout": 20.0}


def test_seed_example(tmp_path: Path) -> None:
    assert _build(tmp_path, "extension_repo", name="default", url="https://github.com/tilt-dev/tilt-extensions") == {
        "apiVersion": "tilt.dev/v1alpha1",
        "kind": "ExtensionRepo",
        "metadata": {"name": "default"},
        "spec": {"url": "https://github.com/tilt-dev/tilt-extensions"},
    }
    assert _build(tmp_path, "extension", name="cancel_button", repo_name="default", repo_path="cancel_button")[
        "spec"
    ] == {
        "repoName": "default",
        "repoPath": "cancel_button",
    }


def test_name_may_be_positional_and_metadata_is_kept(tmp_path: Path) -> None:
    obj = _build(
        tmp_path, "extension_repo", "default", url="file:///x", labels={"team": "a"}, annotations={"note": "b"}
    )
    assert obj["metadata"] == {"name": "default", "labels": {"team": "a"}, "annotations": {"note": "b"}}


def test_nested_keys_may_be_snake_or_camel_case(tmp_path: Path) -> None:
    snake = _build(
        tmp_path, "ui_button", name="b", text="Cancel", location={"component_type": "Global", "component_id": "x"}
    )
    camel = _build(
        tmp_path, "ui_button", name="b", text="Cancel", location={"componentType": "Global", "componentID": "x"}
    )
    assert snake == camel
    assert snake["spec"] == {"text": "Cancel", "location": {"componentType": "Global", "componentID": "x"}}


def test_none_means_not_given_and_tuples_become_lists(tmp_path: Path) -> None:
    obj = _build(
        tmp_path, "cmd", name="c", args=("sleep", "1"), dir=None, start_on={"ui_buttons": ["b"], "start_after": None}
    )
    # dir=None is not given: the Cmd runs in the declaring file's directory, as in Tilt.
    assert obj["spec"] == {"args": ["sleep", "1"], "dir": str(tmp_path), "startOn": {"uiButtons": ["b"]}}


def test_tiltfile_spec_labels_do_not_clash_with_metadata_labels(tmp_path: Path) -> None:
    obj = _build(tmp_path, "tiltfile", name="t", path="/x/Tiltfile", labels={"a": "meta"}, spec_labels={"b": "spec"})
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
def test_bad_calls_say_what_to_fix(tmp_path: Path, builtin: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError) as caught:
        _build(tmp_path, builtin, **kwargs)
    assert str(caught.value) == f"{builtin}: {message}"


def test_only_name_is_positional(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="only 'name' may be positional, got 2"):
        _build(tmp_path, "extension_repo", "default", "https://x")
    with pytest.raises(BuildError, match="multiple values for argument 'name'"):
        _build(tmp_path, "extension_repo", "default", name="other", url="https://x")


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
def test_schema_rules(tmp_path: Path, schema: dict[str, Any], good: Any, bad: Any, message: str) -> None:
    crds = [_crd("Thing", {"type": "object", "properties": {"size": schema}})]

    assert _objects(tmp_path, _call("thing", name="t", size=good), crds=crds)[0]["spec"] == {"size": good}
    with pytest.raises(BuildError, match=re.escape(message)):
        _objects(tmp_path, _call("thing", name="t", size=bad), crds=crds)
