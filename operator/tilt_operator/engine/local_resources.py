"""Tilt's ``local_resource()`` as the Cmd objects Tilt itself would register.

``cmd`` becomes the Cmd ``<name>:update`` and ``serve_cmd`` the Cmd ``<name>:serve``; a string
runs through ``sh -c``, a list runs as it is, in the declaring Tiltfile's directory (or ``dir`` /
``serve_dir`` relative to it), and both carry the ``tilt.dev/resource: <name>`` annotation.
What Tilt does beyond registering objects (waiting for ``resource_deps``, re-running on
``deps``, readiness probes, trigger modes) has no counterpart here: those arguments are accepted
and each one in use is reported as a warning, so an upstream Tiltfile runs unmodified.

Pure: called by the engine's session with the call's arguments; returns builtin keyword arguments.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tilt_operator.api import ANNOTATION_RESOURCE
from tilt_operator.messages import quoted

# Accepted for compatibility, without an effect here.
IGNORED = frozenset(
    {
        "deps",
        "resource_deps",
        "trigger_mode",
        "auto_init",
        "allow_parallel",
        "links",
        "readiness_probe",
        "ignore",
        "tags",
        "serve_cmd_bat",
        "cmd_bat",
        "dir_bat",
        "infra",
        "serve_env_bat",
        "env_bat",
    }
)
SUPPORTED = frozenset({"labels", "env", "serve_env", "dir", "serve_dir"})


@dataclass
class LocalResourcePlan:
    cmds: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _args(command: Any, what: str) -> list[str]:
    if isinstance(command, str):
        return ["sh", "-c", command]
    if isinstance(command, list) and command and all(isinstance(part, str) for part in command):
        return list(command)
    raise ValueError(f"local_resource: {what} must be a string or a non-empty list of strings")


def _env(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"local_resource: {what} must be a dict of strings")
    return [f"{key}={val}" for key, val in value.items()]


def _dir(value: Any, base: str, what: str) -> str:
    if value is None:
        return base
    if not isinstance(value, str):
        raise ValueError(f"local_resource: {what} must be a string")
    return posixpath.normpath(posixpath.join(base, value))


def plan(name: Any, cmd: Any, serve_cmd: Any, options: Mapping[str, Any], tiltfile_dir: str) -> LocalResourcePlan:
    """The Cmds for one local_resource call, and warnings for what it asks that has no effect here."""
    if not isinstance(name, str) or not name:
        raise ValueError("local_resource: name must be a non-empty string")
    unknown = sorted(set(options) - IGNORED - SUPPORTED)
    if unknown:
        raise ValueError(f"local_resource: unknown argument {quoted(unknown[0])}")
    result = LocalResourcePlan()
    result.warnings += [
        f"local_resource {name}: {option} has no effect here"
        for option in sorted(set(options) & IGNORED)
        if options[option] not in (None, [], "", False)
    ]
    annotations = {ANNOTATION_RESOURCE: name}
    labels = options.get("labels")
    if labels:
        items = [labels] if isinstance(labels, str) else list(labels)
        annotations["tilt.dev/labels"] = ",".join(str(item) for item in items)
    for suffix, command, env_key, dir_key in (
        ("update", cmd, "env", "dir"),
        ("serve", serve_cmd, "serve_env", "serve_dir"),
    ):
        if command in (None, "", []):
            continue
        kwargs = {
            "name": f"{name}:{suffix}",
            "annotations": dict(annotations),
            "args": _args(command, "cmd" if suffix == "update" else "serve_cmd"),
            "dir": _dir(options.get(dir_key), tiltfile_dir, dir_key),
        }
        env = _env(options.get(env_key), env_key)
        if env:
            kwargs["env"] = env
        result.cmds.append(kwargs)
    if not result.cmds:
        raise ValueError(f"local_resource {name}: give cmd or serve_cmd")
    return result
