"""Tilt names to Kubernetes names.

Tilt accepts any path segment as a name (``operator:cancel``, ``cancel_button``, ``API Server
Logs``, ``Watch&Compile``); a real API server wants a lowercase RFC 1123 subdomain. Tiltfiles (and
the CLI) keep writing Tilt's names, and this one mapping turns them into object names, everywhere
a name or a reference to one is given: upper case is lowered, ``_`` becomes ``-`` and ``:``
becomes ``.``, so ``sleeper:cancel`` is the UIButton ``sleeper.cancel``; every other character a
subdomain cannot hold becomes ``-`` (a run of them one ``-``) and each dot-separated part loses
the ``-`` at its ends, so ``API Server Logs`` is ``api-server-logs``. The Tiltfile host applies
the same rule (docs/design.md, "Names").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, TypeVar, cast

from tilt_operator.messages import quoted

T = TypeVar("T")

# Spec fields whose values name other tilt.dev objects, and so are mapped like names.
REFERENCE_FIELDS = frozenset({"repoName", "uiButtons", "fileWatches"})
# The Tilt name, kept on an object whose Kubernetes name had to differ from it.
ANNOTATION_TILT_NAME = "tilt.dev/name"

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NOT_IN_SUBDOMAIN = re.compile(r"[^-a-z0-9.]+")
_MAX_LENGTH = 253


class InvalidName(ValueError):
    """A name that no mapping can make valid; the message says why."""


def object_name(tilt_name: str) -> str:
    """The Kubernetes object name for a Tilt name (identical when it is already valid)."""
    name = _NOT_IN_SUBDOMAIN.sub("-", tilt_name.lower().replace("_", "-").replace(":", "."))
    name = ".".join(part.strip("-") for part in name.split(".") if part.strip("-"))
    if (
        tilt_name in (".", "..")
        or "/" in tilt_name
        or "%" in tilt_name
        or len(name) > _MAX_LENGTH
        or not _SUBDOMAIN.fullmatch(name)
    ):
        raise InvalidName(
            f"{quoted(tilt_name)} cannot be a name: Tilt's names may not be '.' or '..' or contain '/' or '%',"
            " and must have a letter or digit"
        )
    return name


def extension_name(repo_path: str) -> str:
    """The name of the Extension that installs the extension at ``repo_path``, as ``kubectl tilt
    create ext REPO/PATH`` names it: its last directory (``k8s/cert_manager`` is ``cert-manager``),
    or that directory's own name when no object name can be made of it."""
    last = PurePosixPath(repo_path).name
    try:
        return object_name(last)
    except InvalidName:
        return last


def named(metadata: Mapping[str, Any], tilt_name: str) -> dict[str, Any]:
    """``metadata`` with the object name for ``tilt_name``, keeping the Tilt name in the
    ``tilt.dev/name`` annotation when the two differ (``sleeper:cancel`` -> ``sleeper.cancel``)."""
    result = {"name": object_name(tilt_name), **{key: value for key, value in metadata.items() if key != "name"}}
    if result["name"] != tilt_name:
        result["annotations"] = {**(metadata.get("annotations") or {}), ANNOTATION_TILT_NAME: tilt_name}
    return result


def map_references(value: T, key: str = "") -> T:
    """``value`` with every reference field (``repoName``, ``uiButtons`` items) mapped to object names."""
    return cast(T, _mapped(value, key))


def _mapped(value: object, key: str) -> object:
    if isinstance(value, dict):
        return {k: map_references(v, k) for k, v in value.items()}
    if key in REFERENCE_FIELDS:
        if isinstance(value, str):
            return object_name(value)
        if isinstance(value, list):
            return [object_name(item) if isinstance(item, str) else item for item in value]
    if isinstance(value, list):
        return [map_references(item) for item in value]
    return value
