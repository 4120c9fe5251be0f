"""How the command line prints what it made or found: ``-o yaml|json|name``, or kubectl's one line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

OUTPUTS = ("yaml", "json", "name")


def dump(value: Any, output: str | None, *, sort_keys: bool = False) -> bool:
    """Print ``value`` as YAML or JSON if ``output`` asks for one; whether it did."""
    if output == "yaml":
        print(yaml.safe_dump(value, sort_keys=sort_keys), end="")
    elif output == "json":
        print(json.dumps(value, indent=4))
    else:
        return False
    return True


def print_object(
    reference: str, obj: Mapping[str, Any], output: str | None, verb: str, *, sort_keys: bool = False
) -> None:
    """The object whole (yaml, json), its ``reference`` (name), or ``<reference> <verb>`` as kubectl says it."""
    if dump(obj, output, sort_keys=sort_keys):
        return
    print(reference if output == "name" else f"{reference} {verb}")
