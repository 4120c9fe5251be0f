"""``tilt``: Tilt's CLI verbs on this API server, so scripts written for Tilt run unmodified.

Extension scripts talk to "the Tilt API server" with ``tilt get``, ``tilt apply``, ``tilt
delete``…; here those are kubectl (the same verbs, which Tilt's CLI borrowed from it) against the
current kubeconfig, which inside a Cmd is the operator's own. Tilt's names are mapped to object
names on the way in, the same way the Tiltfile builtins map them (:mod:`tilt_operator.names`), so
``tilt get cmd sleeper`` and ``tilt apply`` of a UIButton named ``sleeper:cancel`` both work.
``tilt create``, ``tilt click``, ``tilt trigger``, ``tilt render`` and ``tilt logs`` are ``kubectl
tilt``'s, so the two agree. ``tilt version`` says, in Tilt's format, the Tilt release whose
Tiltfile semantics the operator follows.

Every Cmd the operator runs finds this command first on its PATH (see ``processes``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from tilt_operator import names
from tilt_operator.cli.errors import CLIError
from tilt_operator.cli.locate import kubectl
from tilt_operator.engine.protocol import TILT_BUILD_DATE, TILT_VERSION

KUBECTL_VERBS = frozenset(
    {"get", "describe", "delete", "apply", "wait", "api-resources", "explain", "patch", "annotate", "label", "edit"}
)
KUBECTL_TILT_VERBS = frozenset({"create", "click", "trigger", "render", "logs"})
# kubectl flags whose value is the next argument (so it is not a name to map).
_VALUE_FLAGS = frozenset(
    {
        "-o",
        "--output",
        "-f",
        "--filename",
        "-l",
        "--selector",
        "--field-selector",
        "--for",
        "--timeout",
        "-n",
        "--namespace",
        "--type",
        "-p",
        "--patch",
        "--sort-by",
        "--template",
        "-L",
        "--label-columns",
        "--subresource",
        "--context",
        "--kubeconfig",
        "--cascade",
        "--field-manager",
        "--grace-period",
        "--server",
        "--user",
    }
)


class UsageError(CLIError):
    """Bad input: printed as one line, exit code 1."""


def _positionals(args: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(index, argument) for every argument that is neither a flag nor a flag's value.

    After ``--`` every argument is positional, as kubectl reads them: ``tilt delete cmd -- x:cancel``.
    """
    skip = options_end = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif options_end:
            yield index, arg
        elif arg == "--":
            options_end = True
        elif arg.startswith("-"):
            skip = arg in _VALUE_FLAGS
        else:
            yield index, arg


def map_names(args: Sequence[str]) -> list[str]:
    """The arguments with every object name mapped: ``TYPE NAME…`` and ``TYPE/NAME`` forms."""
    mapped = list(args)
    for position, (index, arg) in enumerate(_positionals(args)):
        if "/" in arg:
            kind, _, name = arg.partition("/")
            mapped[index] = f"{kind}/{names.object_name(name)}" if name else arg
        elif position > 0:
            mapped[index] = names.object_name(arg)
    return mapped


def map_document(doc: Any) -> Any:
    """A manifest with Tilt names mapped, the Tilt name kept in the tilt.dev/name annotation."""
    if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith("tilt.dev/"):
        return doc
    metadata = dict(doc.get("metadata") or {})
    tilt_name = metadata.get("name")
    if isinstance(tilt_name, str):
        metadata = names.named(metadata, tilt_name)
    return {**doc, "metadata": metadata, **({"spec": names.map_references(doc["spec"])} if "spec" in doc else {})}


def _apply(args: Sequence[str]) -> int:
    """``apply -f FILE|-``: read the manifests, map their names, hand them to kubectl on stdin."""
    rest, sources = [], []
    items = iter(args)
    for arg in items:
        if arg in ("-f", "--filename"):
            sources.append(next(items, ""))
        elif arg.startswith(("--filename=", "-f=")):
            sources.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    if not sources:
        raise UsageError("apply: give the manifests with -f FILE (or -f - for stdin)")
    docs = []
    for source in sources:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        docs += [map_document(doc) for doc in yaml.safe_load_all(text) if doc is not None]
    stream = yaml.safe_dump_all(docs, sort_keys=False)
    return subprocess.run([kubectl(), "apply", "-f", "-", *rest], input=stream, text=True, check=False).returncode


def run(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.split("\n\n")[0])
        print("verbs:", ", ".join(sorted(KUBECTL_VERBS | KUBECTL_TILT_VERBS | {"version"})))
        return 0
    verb, rest = argv[0], list(argv[1:])
    if verb == "version":
        print(f"v{TILT_VERSION}, built {TILT_BUILD_DATE}")
        return 0
    if verb in KUBECTL_TILT_VERBS:
        from tilt_operator.cli import kubectl_tilt

        return kubectl_tilt.main([verb, *rest])
    if verb not in KUBECTL_VERBS:
        verbs = ", ".join(sorted(KUBECTL_VERBS | KUBECTL_TILT_VERBS | {"version"}))
        raise UsageError(f"tilt {verb} is not supported here; use one of: {verbs}")
    if verb == "apply":
        return _apply(rest)
    binary = kubectl()
    os.execv(binary, [binary, verb, *map_names(rest)])
    return 0  # not reached: exec replaces this process


def main() -> None:
    try:
        sys.exit(run(sys.argv[1:]))
    except (CLIError, names.InvalidName, OSError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
