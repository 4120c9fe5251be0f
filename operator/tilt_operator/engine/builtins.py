"""Tiltfile builtins generated from the tilt.dev CRDs: one function per kind.

The seed wants the Tiltfile API "auto-generated from the models", so nothing here names a kind:
every tilt.dev CRD handed in (read from the API server or from ``crds/*.yaml``) becomes a builtin
named after its kind in snake_case, whose arguments are ``name``, ``labels``, ``annotations`` and
the spec fields in snake_case. A call is checked against the CRD's OpenAPI schema here, inside the
Tiltfile run, because only there can an error still name the Tiltfile line; the API server checks
again when the objects are applied (CEL rules and formats are left to it).

Called by the engine's worker (``engine.session``); pure, no Kubernetes client.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tilt_operator import api, names
from tilt_operator.messages import quoted

NAME, LABELS, ANNOTATIONS = "name", "labels", "annotations"
METADATA_ARGUMENTS = (NAME, LABELS, ANNOTATIONS)
# A spec field whose snake_case name is taken by a metadata argument (Tiltfile's spec.labels)
# is reachable with this prefix instead: tiltfile(name=..., labels=..., spec_labels=...).
SPEC_PREFIX = "spec_"

_STRING_MAP: Mapping[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_TYPE_NOUNS = {
    "string": ("a string", "strings"),
    "integer": ("an integer", "integers"),
    "number": ("a number", "numbers"),
    "boolean": ("a bool", "bools"),
    "object": ("a dict", "dicts"),
    "array": ("a list", "lists"),
}


class ArgumentError(ValueError):
    """A Tiltfile call that does not fit its kind's schema; the message starts with the builtin."""


def snake_case(name: str) -> str:
    """``ExtensionRepo`` -> ``extension_repo``, ``UIButton`` -> ``ui_button``, ``componentID`` -> ``component_id``."""
    return _WORD_BOUNDARY.sub("_", name).lower()


@dataclass(frozen=True)
class BuiltinSpec:
    """One generated builtin: what it is called, what it builds and which arguments it takes."""

    name: str
    kind: str
    api_version: str
    spec_schema: Mapping[str, Any]
    # snake_case argument -> camelCase spec field.
    arguments: Mapping[str, str]


def builtin_specs(crds: Iterable[Mapping[str, Any]]) -> dict[str, BuiltinSpec]:
    """One builtin per tilt.dev CRD, keyed by builtin name; CRDs of other groups are ignored.

    Two kinds (or two fields of one kind) that would get the same snake_case name are a bug in
    the CRDs, not in a Tiltfile, so they raise ``ValueError`` rather than being papered over.
    """
    specs: dict[str, BuiltinSpec] = {}
    for crd in crds:
        if crd.get("spec", {}).get("group") != api.GROUP:
            continue
        spec = _builtin_spec(crd)
        if spec.name in specs:
            raise ValueError(f"kinds {specs[spec.name].kind} and {spec.kind} both map to builtin {spec.name}")
        specs[spec.name] = spec
    return specs


def _builtin_spec(crd: Mapping[str, Any]) -> BuiltinSpec:
    kind = crd["spec"]["names"]["kind"]
    version = _chosen_version(crd["spec"]["versions"])
    root = version.get("schema", {}).get("openAPIV3Schema", {})
    spec_schema = root.get("properties", {}).get("spec", {"type": "object"})
    arguments: dict[str, str] = {}
    for field in spec_schema.get("properties", {}):
        argument = snake_case(field)
        if argument in METADATA_ARGUMENTS:
            argument = SPEC_PREFIX + argument
        if argument in arguments:
            raise ValueError(f"{kind}: spec fields {arguments[argument]} and {field} both map to {argument}")
        arguments[argument] = field
    return BuiltinSpec(
        name=snake_case(kind),
        kind=kind,
        api_version=f"{crd['spec']['group']}/{version['name']}",
        spec_schema=spec_schema,
        arguments=arguments,
    )


def _chosen_version(versions: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The storage version: the one the API server keeps, so the one objects are written in."""
    return next((v for v in versions if v.get("storage")), versions[0])


def build_object(spec: BuiltinSpec, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The Kubernetes object a Tiltfile call describes, or ``ArgumentError`` saying what to fix.

    Only ``name`` may be positional, as in ``extension_repo('default', url=...)``. An argument
    set to ``None`` counts as not given, the Starlark convention for optional arguments.
    """
    given = _merge_positional_name(spec.name, args, kwargs)
    try:
        metadata = _metadata(given)
        spec_arguments = {key: value for key, value in given.items() if key not in METADATA_ARGUMENTS}
        body = names.map_references(_check_fields(spec_arguments, spec.spec_schema, spec.arguments, where=None))
    except (ArgumentError, names.InvalidName) as error:
        raise ArgumentError(f"{spec.name}: {error}") from None
    return {"apiVersion": spec.api_version, "kind": spec.kind, "metadata": metadata, "spec": body}


def _merge_positional_name(builtin: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if len(args) > 1:
        raise ArgumentError(f"{builtin}: only 'name' may be positional, got {len(args)} positional arguments")
    given = {key: value for key, value in kwargs.items() if value is not None}
    if args:
        if NAME in kwargs:
            raise ArgumentError(f"{builtin}: got multiple values for argument 'name'")
        given[NAME] = args[0]
    return given


def _metadata(given: Mapping[str, Any]) -> dict[str, Any]:
    if NAME not in given:
        raise ArgumentError("missing required argument 'name'")
    tilt_name = _check(given[NAME], {"type": "string", "minLength": 1}, NAME)
    metadata = {key: _check(given[key], _STRING_MAP, key) for key in (LABELS, ANNOTATIONS) if key in given}
    return names.named(metadata, tilt_name)


def _check(value: Any, schema: Mapping[str, Any], where: str) -> Any:
    """``value`` in the schema's canonical form (camelCase keys, lists for tuples), or ArgumentError."""
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, str) or _is_integer(value):
            return value
        raise _type_error(where, "a string or an integer", value)
    checker = _CHECKERS.get(schema.get("type", ""))
    value = checker(value, schema, where) if checker else value
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(choice) for choice in schema["enum"])
        raise ArgumentError(f"argument {quoted(where)} must be one of {choices}, got {quoted(value)}")
    return value


def _check_string(value: Any, schema: Mapping[str, Any], where: str) -> str:
    if not isinstance(value, str):
        raise _type_error(where, _describe(schema), value)
    pattern = schema.get("pattern")
    if pattern and not _matches(pattern, value):
        raise ArgumentError(f"argument {quoted(where)} must match the pattern {quoted(pattern)}, got {quoted(value)}")
    _check_bounds(len(value), schema, where, "minLength", "maxLength", "character(s)")
    return value


def _matches(pattern: str, value: str) -> bool:
    """OpenAPI patterns are unanchored; one Python cannot compile is left to the API server."""
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return True


def _check_integer(value: Any, schema: Mapping[str, Any], where: str) -> int:
    if not _is_integer(value):
        raise _type_error(where, _describe(schema), value)
    _check_bounds(value, schema, where, "minimum", "maximum", "")
    return int(value)


def _check_number(value: Any, schema: Mapping[str, Any], where: str) -> float | int:
    if not (_is_integer(value) or isinstance(value, float)):
        raise _type_error(where, _describe(schema), value)
    _check_bounds(value, schema, where, "minimum", "maximum", "")
    number: float | int = value
    return number


def _check_boolean(value: Any, schema: Mapping[str, Any], where: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(where, _describe(schema), value)
    return value


def _check_array(value: Any, schema: Mapping[str, Any], where: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _type_error(where, _describe(schema), value)
    _check_bounds(len(value), schema, where, "minItems", "maxItems", "item(s)")
    items = schema.get("items", {})
    return [_check(item, items, f"{where}[{index}]") for index, item in enumerate(value)]


def _check_object(value: Any, schema: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise _type_error(where, "a dict with string keys", value)
    if "properties" in schema:
        # Nested keys may be written either way; snake_case first so errors name that spelling.
        fields = schema["properties"]
        spellings = {snake_case(field): field for field in fields} | {field: field for field in fields}
        return _check_fields(value, schema, spellings, where)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return {key: _check(item, extra, f"{where}.{key}") for key, item in value.items() if item is not None}
    return dict(value)


def _check_fields(
    value: Mapping[str, Any], schema: Mapping[str, Any], spellings: Mapping[str, str], where: str | None
) -> dict[str, Any]:
    """Keys renamed to fields through ``spellings``, values checked; ``where`` None is the call itself."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    result: dict[str, Any] = {}
    for key, item in value.items():
        field = spellings.get(key)
        if field is None:
            raise _unknown(key, spellings, where)
        if field in result:
            raise ArgumentError(f"argument {quoted(where)} sets {quoted(field)} twice")
        if item is not None:
            result[field] = _check(item, properties[field], key if where is None else f"{where}.{key}")
    for field in schema.get("required", []):
        if field not in result:
            spelling = next(key for key, known in spellings.items() if known == field)
            if where is None:
                raise ArgumentError(f"missing required argument {quoted(spelling)}")
            raise ArgumentError(f"argument {quoted(where)} is missing required key {quoted(spelling)}")
    return result


def _unknown(key: str, spellings: Mapping[str, str], where: str | None) -> ArgumentError:
    if where is None:
        hint = _did_you_mean(key, [*METADATA_ARGUMENTS, *spellings])
        return ArgumentError(f"unknown argument {quoted(key)}{hint}")
    return ArgumentError(f"argument {quoted(where)} has unknown key {quoted(key)}{_did_you_mean(key, spellings)}")


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {quoted(close[0])}?)" if close else ""


def _check_bounds(size: float, schema: Mapping[str, Any], where: str, low: str, high: str, unit: str) -> None:
    """minLength/maxLength, minItems/maxItems, minimum/maximum: one rule, three spellings."""
    verb, suffix = ("have", f" {unit}") if unit else ("be", "")
    if low in schema and size < schema[low]:
        raise ArgumentError(f"argument {quoted(where)} must {verb} at least {schema[low]}{suffix}, got {size}")
    if high in schema and size > schema[high]:
        raise ArgumentError(f"argument {quoted(where)} must {verb} at most {schema[high]}{suffix}, got {size}")


_CHECKERS = {
    "string": _check_string,
    "integer": _check_integer,
    "number": _check_number,
    "boolean": _check_boolean,
    "array": _check_array,
    "object": _check_object,
}


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(schema: Mapping[str, Any]) -> str:
    """How an error names the expected type: 'a string', 'a list of strings'."""
    singular = _TYPE_NOUNS.get(schema.get("type", ""), ("a value", "values"))[0]
    if schema.get("type") == "array":
        items = schema.get("items", {})
        return f"a list of {_TYPE_NOUNS.get(items.get('type', ''), ('', 'values'))[1]}"
    return singular


def _type_error(where: str, expected: str, value: Any) -> ArgumentError:
    return ArgumentError(f"argument {quoted(where)} must be {expected}, got {starlark_type(value)}")


def starlark_type(value: Any) -> str:
    """The type name Starlark itself would print for a converted value."""
    names = {bool: "bool", int: "int", float: "float", str: "string", list: "list", tuple: "tuple", dict: "dict"}
    return "NoneType" if value is None else names.get(type(value), type(value).__name__)
