"""Differential check against Tilt: the same Tiltfiles in Tilt itself and in the Tiltfile host.

    .venv/bin/python hack/differential.py --extensions PATH [--tilt BINARY | --tilt-source GIT]
                                          [--only WORD ...] [--no-write] [--out docs/compatibility.md]

Not run by CI: it needs Go (to build Tilt) and a checkout of tilt-dev/tilt-extensions (PATH, a
local clone made by hand and never committed here).

Tilt. Without ``--tilt``, Tilt is built from its source at ``TILT_COMMIT``: fetched from
``--tilt-source`` (a git URL, or the path of a clone or a bare mirror; default GitHub), archived at
that commit and built with ``go build ./cmd/tilt`` from its vendored modules (some minutes), into
``$XDG_CACHE_HOME/tilt-operator/tilt/<commit>/tilt``, where later runs find it. ``--tilt BINARY``
uses a binary built already (it should be built from ``TILT_COMMIT``).

The Tiltfiles, copied into a scratch directory first (so nothing is written here):

- ``hack/differential/*.Tiltfile`` (and ``*/Tiltfile``, for one that needs a directory of its
  own): a corpus of small Tiltfiles, one per family of builtins the host implements
  (docs/design.md, "The Tiltfile language"), with the files they read and load in ``files/``; a
  ``# differential-args: ...`` line gives a file its arguments (``tilt ... -- ARGS``);
- for every extension of the checkout, a Tiltfile that loads it (``load('ext://NAME', F)`` with
  its first function, or ``include('ext://NAME')`` when it defines none);
- ``hack/differential/upstream/*.Tiltfile``: Tiltfiles that call the functions of the extensions
  that declare local resources, with reasonable arguments.

Tiltfiles that load ``ext://`` first register the repo ``default`` as a ``file://`` URL, Tilt's way
to use a local directory (the upstream ones read the checkout's path from the environment variable
``DIFFERENTIAL_EXTENSIONS``); the host gets the same directory as its repo ``default``, as
``kubectl tilt render --ext-dir`` gives it.

Each Tiltfile runs in ``tilt alpha tiltfile-result`` and in the Tiltfile host exactly as ``kubectl
tilt render`` runs it (``run_tiltfile`` with the shipped CRDs; here with process execution on and
this process's environment, as Tilt runs ``local()``). Both results are made into one shape:

- each local resource (Tilt's manifests; here the Cmds, FileWatch and trigger UIButton a resource
  is made of, docs/design.md "local_resource"): name, the update and serve commands (argv, dir,
  env), deps, ignores, trigger mode (auto or manual, which only acts on deps), auto_init, resource
  deps, links, labels and readiness probe;
- each k8s resource (Tilt's manifests with a Kubernetes deploy target, which is a KubernetesApply's
  spec; here the KubernetesApply): its objects (the YAML parsed: Tilt writes it again through its
  Go types), its apply and delete commands, restartOn, port forwards, image locators, discovery,
  cluster and timeout, resource deps, labels and links;
- each API object registered directly: kind, Tilt name, labels, annotations and spec;
- the run's error (its first line, ``file:line:col: message`` of the innermost frame) and its
  output (``print``, ``local()`` and warnings).

Normalised on the way, as representation rather than behaviour: object names are compared as Tilt
names (the ``tilt.dev/name`` annotation) and Tilt's references (``repoName``, ``uiButtons``,
``fileWatches``) through the host's name mapping (docs/design.md, "Names"); in specs and probes a
zero value (``""``, false, 0, empty) counts as absent, as it does in Tilt's Go types; a probe's
``handler`` is inlined, as Tilt's Probe has it; Tilt's ``.git`` ignores are dropped (the FileWatch
reconciler always ignores ``.git``); ignores of a resource with no deps watch nothing and are
dropped; Tilt's error is the innermost frame of its backtrace and its message, as the host reports
one; a resource_deps cycle is named from its least resource (Tilt starts it at random); paths show
as ``$WORK`` (the corpus's copy), ``$SCRATCH`` (the directory around it) and ``$EXTENSIONS`` (the
checkout), and mktemp names and kubectl's log times are masked.

Every difference left is listed, with its reason when ``KNOWN`` has one (an intended difference),
and the section between ``<!-- differential:begin -->`` and ``<!-- differential:end -->`` of
docs/compatibility.md is rewritten (``--no-write``: only printed).
"""

from __future__ import annotations

import argparse
import difflib
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tilt_operator.api import shipped_crds
from tilt_operator.config import xdg_dir
from tilt_operator.engine import ExtensionRoots
from tilt_operator.engine.pool import run_tiltfile
from tilt_operator.names import ANNOTATION_TILT_NAME, map_references

# The Tilt this check compares against: v0.37.6-dev.
TILT_COMMIT = "2fa1737aa59b2b5869cb62bb574b17416e1bf597"
TILT_SOURCE = "https://github.com/tilt-dev/tilt.git"

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "hack" / "differential"
DOC = REPO / "docs" / "compatibility.md"
BEGIN, END = "<!-- differential:begin -->", "<!-- differential:end -->"
ENV_EXTENSIONS = "DIFFERENTIAL_EXTENSIONS"
TIMEOUT = 120.0

# Differences Tilt and the host intend, by a pattern over "Tiltfile: difference", and why.
KNOWN: list[tuple[str, str]] = [
    (
        r"allow_parallel has no effect here",
        "the host's warning: every Cmd runs in parallel, so `allow_parallel` has no effect "
        '(docs/design.md, "local_resource")',
    ),
    (
        r"\): recorded; (Tilt's settings have no effect here|k8s_upsert_timeout_secs is each)",
        "the settings calls are checked and recorded in the run's log, and set nothing but the "
        'KubernetesApplys\' `spec.timeout` (docs/design.md, "The Tiltfile language")',
    ),
    (
        r"^shlex_split: ",
        "`shlex.split` is the host's own, beside Tilt's `shlex.quote` "
        '(docs/design.md, "The Tiltfile language"); Tilt has no `shlex.split`',
    ),
    (
        r"^v1alpha1_none: ",
        'in the kind builtins and `*_spec` helpers `None` means "not given" '
        '(docs/design.md, "The Tiltfile language"); Tilt\'s helpers refuse it for a string',
    ),
    (
        r"^v1alpha1_tiltfile: ",
        "the kind builtins are made from the operator's CRDs, `tiltfile` among them "
        '(docs/design.md, "The Tiltfile language"); Tilt\'s v1alpha1 has no `tiltfile`',
    ),
    (
        r"^local: output",
        "the run's log is made of lines: the echo of a `local()` command's output ends its line, where "
        "Tilt's console lets the next `print` continue one that had no newline",
    ),
    (
        r"^load_cycle: error: .* cycle: ",
        'the host names the whole cycle of loads (docs/design.md, "load() and include()")',
    ),
    (
        r'Tilt `\["alpha", "tiltfile-result"',
        "the check's conditions: Tilt's `sys.argv` is its own command line, `alpha tiltfile-result ...`; "
        "the host's is `up`, as `tilt up` has it",
    ),
    (
        r"^ext://(uibutton|list_dependencies|list_port_forwards|workflow) \(calls\): (Cmd|UIButton) \S+: only here$",
        "the check's conditions: `tilt alpha tiltfile-result` runs with `config.tilt_subcommand` "
        "`alpha tiltfile-result`, for which ext://uibutton's `cmd_button` registers nothing; here it is `up`",
    ),
    (
        r'k8s\.restartOn: Tilt `\{"fileWatches": \["[^"]+:apply"\]\}`, here `null`$',
        "Tilt's KubernetesApply of a `k8s_custom_deploy` names a FileWatch `NAME:apply` that its engine never "
        "makes (the engine applies again itself); here `restartOn` names the FileWatch `k8s:NAME` of its "
        '`deps`, which exists, and none when `deps` is empty (docs/design.md, "k8s_yaml and k8s_resource")',
    ),
]
# Runs the host fails for a reason that explains every difference of the Tiltfile, by a pattern
# over the host's error: a failed run registers nothing.
KNOWN_FAILURES: list[tuple[str, str]] = [
    (
        r" is outside \$(WORK|EXTENSIONS|SCRATCH)",
        'every path a run reads is confined to its root (docs/design.md, "The Tiltfile language" and '
        '"Isolation and security")',
    ),
    (
        r"belongs to Tilt's image-build and deploy engine",
        "a builtin of Tilt's image-build and deploy engine, which the operator does not run "
        '(docs/design.md, "The Tiltfile language")',
    ),
]

# Values that differ from one run to the next whoever runs them: mktemp names, and the time and
# process id of a log line of kubectl's.
VOLATILE = [
    (re.compile(r"(tilt-[a-z]+\.)[A-Za-z0-9]{9}\b"), r"\1XXXXXXXXX"),
    (re.compile(r"\b([EWI])\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ "), r"\1MMDD hh:mm:ss.uuuuuu PID "),
]
# Tilt names a resource_deps cycle from whichever of its resources a walk of a Go map meets first.
CYCLE = re.compile(r"cycle detected in resource dependency graph: (.+)$")

# Tilt's object sets are keyed by resource (plural); the host's objects by kind.
KINDS = {
    "cmds": "Cmd",
    "uibuttons": "UIButton",
    "filewatches": "FileWatch",
    "extensions": "Extension",
    "extensionrepos": "ExtensionRepo",
    "tiltfiles": "Tiltfile",
}
# The objects a local resource is made of here (docs/design.md, "local_resource").
ANNOTATION_RESOURCE = "tilt.dev/resource"
ANNOTATION_RESOURCE_DEPS = "tilt.dev/resource-deps"
ANNOTATION_LINKS = "tilt.dev/links"
ANNOTATION_LABELS = "tilt.dev/labels"
PARTS = {"Cmd": (":update", ":serve"), "UIButton": (":trigger",)}
# The fields of a KubernetesApply's spec a k8s resource is compared by (Tilt's deploy target has
# them, beside its engine's: its log stream's start time, pod readiness); the commands apart.
K8S_SPEC_FIELDS = (
    "restartOn",
    "portForwardTemplateSpec",
    "imageLocators",
    "discoveryStrategy",
    "kubernetesDiscoveryTemplateSpec",
    "cluster",
    "timeout",
)
# Tilt's model.TriggerMode values: which are auto (a change in deps updates) and which auto_init.
AUTO_MODES = {0, 3}
AUTO_INIT_MODES = {0, 1}


@dataclass(frozen=True)
class Case:
    """One Tiltfile to run on both sides."""

    name: str
    path: Path
    args: tuple[str, ...] = ()
    ext_dir: Path | None = None


@dataclass
class Registered:
    """What a run registered, in the shape both sides are compared in."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    output: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Difference:
    """One difference of a Tiltfile's results, and why when it is intended."""

    case: str
    what: str
    reason: str | None


@dataclass(frozen=True)
class Outcome:
    """A Tiltfile checked: what Tilt did with it, and the differences."""

    case: str
    tilt: str
    differences: list[Difference]


# Building Tilt.


def tilt_binary(source: str, commit: str) -> Path:
    """Tilt built from ``source`` at ``commit``, cached by commit."""
    target = xdg_dir("XDG_CACHE_HOME", ".cache") / "tilt-operator" / "tilt" / commit / "tilt"
    if target.is_file():
        return target
    print(f"building Tilt at {commit} from {source} (some minutes)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tilt-build-") as scratch:
        clone, tree = Path(scratch) / "clone", Path(scratch) / "src"
        subprocess.run(["git", "init", "--quiet", str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "fetch", "--quiet", "--depth=1", source, commit], check=True)
        archive = subprocess.run(["git", "-C", str(clone), "archive", commit], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        built = Path(scratch) / "tilt"
        subprocess.run(["go", "build", "-mod=vendor", "-o", str(built), "./cmd/tilt"], cwd=tree, check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        partial.replace(target)
    return target


# The Tiltfiles.


def corpus_cases(work: Path) -> list[Case]:
    """The corpus: NAME.Tiltfile, and NAME/Tiltfile for a Tiltfile that needs a directory of its own."""
    cases = []
    for path in sorted([*work.glob("*.Tiltfile"), *work.glob("*/Tiltfile")]):
        header = re.search(r"^# differential-args: (.*)$", path.read_text(), re.MULTILINE)
        args = tuple(header.group(1).split()) if header else ()
        name = path.stem if path.name != "Tiltfile" else path.parent.name
        cases.append(Case(name, path, args, ext_dir=work / "files" / "repo"))
    return cases


def extensions(checkout: Path) -> list[str]:
    """The extensions of a tilt-extensions checkout: directories with a Tiltfile, at the top and in tests/."""
    found = [p.parent.name for p in checkout.glob("*/Tiltfile") if p.parent.name != "tests"]
    return sorted(found + [f"tests/{p.parent.name}" for p in checkout.glob("tests/*/Tiltfile")])


def extension_cases(work: Path, checkout: Path) -> list[Case]:
    """A Tiltfile that loads each extension, then the corpus's calls of extensions' functions (each
    named by its first line, ``# ext://NAME: ...``)."""
    directory = work / "extensions"
    directory.mkdir()
    cases = []
    for name in extensions(checkout):
        function = re.search(r"^def ([A-Za-z]\w*)\(", (checkout / name / "Tiltfile").read_text(), re.MULTILINE)
        loading = f"load('ext://{name}', '{function.group(1)}')" if function else f"include('ext://{name}')"
        path = directory / (name.replace("/", "_") + ".Tiltfile")
        path.write_text(f"v1alpha1.extension_repo(name='default', url='file://{checkout}')\n{loading}\n")
        cases.append(Case(f"ext://{name}", path, ext_dir=checkout))
    for path in sorted((work / "upstream").glob("*.Tiltfile")):
        named = re.match(r"# (ext://[\w/]+)", path.read_text())
        cases.append(Case(f"{named.group(1) if named else path.stem} (calls)", path, ext_dir=checkout))
    return cases


# Running them.


def run_tilt(tilt: Path, case: Case, env: Mapping[str, str]) -> Registered:
    """The case in ``tilt alpha tiltfile-result -v``: its JSON on stdout, its log (and error) on stderr."""
    command = [str(tilt), "alpha", "tiltfile-result", "-v", "-f", str(case.path)]
    if case.args:
        command += ["--", *case.args]
    done = subprocess.run(
        command, cwd=case.path.parent, env=dict(env), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    log = done.stderr.splitlines(keepends=True)
    if log and log[0].startswith("Loading Tiltfile at: "):
        log = log[1:]
    if done.returncode == 0:
        if log and log[-1].startswith("Successfully loaded Tiltfile"):
            log = log[:-1]
        registered = tilt_registered(json.loads(done.stdout))
        registered.output = "".join(log)
        return registered
    # The error is printed last: a Starlark backtrace, or one line.
    tracebacks = [i for i, line in enumerate(log) if line.rstrip("\n") == "Traceback (most recent call last):"]
    lines = [i for i, line in enumerate(log) if line.strip()]
    start = (tracebacks or lines or [0])[-1]
    error = tilt_error(log[start:]) if done.returncode == 5 else f"tilt exited {done.returncode}"
    return Registered(error=error, output="".join(log[:start]))


def tilt_error(lines: Sequence[str]) -> str:
    """Tilt's error as one line: the innermost frame's position, then the message."""
    frames = [m.group(1) for line in lines if (m := re.match(r"^  (\S+:\d+:\d+): in ", line))]
    messages = [line.rstrip("\n") for line in lines if line.startswith("Error")]
    if not messages:
        return next((line.strip() for line in lines if line.strip()), "")
    message = re.sub(r"^Error(?: in \S+)?: ", "", messages[0])
    return f"{frames[-1]}: {message}" if frames else message


def tilt_registered(result: Mapping[str, Any]) -> Registered:
    registered = Registered()
    for manifest in result.get("Manifests") or []:
        target = manifest.get("DeployTarget") or {}
        if "yaml" in target or "applyCmd" in target:
            links = [
                {"url": url_string(link["URL"]), "name": link.get("Name", "")} for link in target.get("Links") or []
            ]
            registered.resources[manifest["Name"]] = k8s_resource(
                target, manifest.get("ResourceDependencies") or [], sorted(manifest.get("Labels") or {}), links
            )
            continue
        if "UpdateCmdSpec" not in target:
            registered.resources[manifest["Name"]] = {"engine": "not a local resource"}
            continue
        update = target.get("UpdateCmdSpec")
        serve = target.get("ServeCmd") or {}
        deps = target.get("Deps") or []
        mode = manifest.get("TriggerMode", 0)
        ignores = [
            ignore
            for ignore in target.get("FileWatchIgnores") or []
            if not (ignore.get("basePath", "").endswith("/.git") and not ignore.get("patterns"))
        ]
        registered.resources[manifest["Name"]] = {
            "update": command(update.get("args"), update.get("dir"), update.get("env")) if update else None,
            "serve": command(serve.get("Argv"), serve.get("Dir"), serve.get("Env")) if serve.get("Argv") else None,
            "deps": deps,
            "ignores": ignores if deps else [],
            "trigger_mode": ("auto" if mode in AUTO_MODES else "manual") if deps else None,
            "auto_init": mode in AUTO_INIT_MODES,
            "resource_deps": manifest.get("ResourceDependencies") or [],
            "links": [
                {"url": url_string(link["URL"]), "name": link.get("Name", "")} for link in target.get("Links") or []
            ],
            "labels": sorted(manifest.get("Labels") or {}),
            "readiness_probe": flat_probe(target.get("ReadinessProbe")) if serve.get("Argv") else None,
        }
    for key, by_name in (result.get("ObjectSet") or {}).items():
        plural = key.rpartition("Resource=")[2]
        for name, obj in by_name.items():
            metadata = obj.get("metadata") or {}
            registered.objects[f"{KINDS.get(plural, plural)} {name}"] = {
                "labels": metadata.get("labels") or {},
                "annotations": metadata.get("annotations") or {},
                "spec": without_zeros(map_references(obj.get("spec") or {})),
            }
    return registered


def url_string(url: Mapping[str, Any]) -> str:
    """A Go url.URL, as its JSON encoding has it, back into its text (as its String method writes it)."""
    scheme, host, opaque = str(url.get("Scheme") or ""), str(url.get("Host") or ""), str(url.get("Opaque") or "")
    path = str(url.get("RawPath") or url.get("Path") or "")
    text = f"{scheme}:" if scheme else ""
    if opaque:
        text += opaque
    else:
        if (scheme or host) and (host or path) and not url.get("OmitHost"):
            text += "//" + host
        if path and not path.startswith("/") and host:
            text += "/"
        text += path
    if url.get("ForceQuery") or url.get("RawQuery"):
        text += "?" + str(url.get("RawQuery") or "")
    if url.get("Fragment"):
        text += "#" + str(url.get("RawFragment") or url.get("Fragment"))
    return text


def run_host(case: Case, root: Path, env: Mapping[str, str], crds: list[dict[str, Any]]) -> Registered:
    """The case as ``kubectl tilt render`` runs it (with ``--ext-dir``)."""
    result = run_tiltfile(
        case.path,
        crds=crds,
        timeout=TIMEOUT,
        memory_mb=512,
        args=case.args,
        root=root,
        ext_roots=ExtensionRoots.default_at(case.ext_dir),
        env=env,
        exec_enabled=True,
    )
    registered = Registered(output=result.output, warnings=list(result.warnings))
    if result.error:
        registered.error = result.error.splitlines()[0]
        return registered
    if result.waiting:
        registered.error = result.waiting.message
        return registered
    parts: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in result.objects:
        metadata = obj["metadata"]
        annotations = dict(metadata.get("annotations") or {})
        tilt_name = annotations.pop(ANNOTATION_TILT_NAME, metadata["name"])
        resource = annotations.get(ANNOTATION_RESOURCE, "")
        kind = obj["kind"]
        part = next(
            (suffix for suffix in PARTS.get(kind, ()) if tilt_name == resource + suffix),
            "watch" if kind == "FileWatch" and tilt_name == f"local:{resource}" else None,
        )
        if resource and part:
            parts.setdefault(resource, {})[part] = obj
            continue
        if kind == "KubernetesApply" and resource:
            registered.resources[resource] = k8s_resource(
                obj.get("spec") or {},
                [dep for dep in annotations.get(ANNOTATION_RESOURCE_DEPS, "").split(",") if dep],
                sorted(label for label in annotations.get(ANNOTATION_LABELS, "").split(",") if label),
                [
                    {"url": link["url"], "name": link.get("name", "")}
                    for link in json.loads(annotations.get(ANNOTATION_LINKS, "[]"))
                ],
            )
            continue
        registered.objects[f"{kind} {tilt_name}"] = {
            "labels": metadata.get("labels") or {},
            "annotations": annotations,
            "spec": without_zeros(obj.get("spec") or {}),
        }
    for name, objects in parts.items():
        registered.resources[name] = host_resource(objects)
    return registered


def host_resource(parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A local resource from the objects it was made into."""
    update, serve, watch = parts.get(":update"), parts.get(":serve"), parts.get("watch")
    first = update or serve
    if first is None:
        return {"engine": "a trigger button with no Cmd"}
    spec = first["spec"]
    annotations = first["metadata"].get("annotations") or {}
    deps = (watch or {}).get("spec", {}).get("watchedPaths") or []
    serve_spec = (serve or {}).get("spec", {})
    return {
        "update": command(update["spec"].get("args"), update["spec"].get("dir"), update["spec"].get("env"))
        if update
        else None,
        "serve": command(serve_spec.get("args"), serve_spec.get("dir"), serve_spec.get("env")) if serve else None,
        "deps": deps,
        "ignores": ((watch or {}).get("spec", {}).get("ignores") or []) if deps else [],
        "trigger_mode": ("auto" if (spec.get("restartOn") or {}).get("fileWatches") else "manual") if deps else None,
        "auto_init": not (spec.get("startOn") or {}).get("uiButtons"),
        "resource_deps": [dep for dep in annotations.get(ANNOTATION_RESOURCE_DEPS, "").split(",") if dep],
        "links": [
            {"url": link["url"], "name": link.get("name", "")}
            for link in json.loads(annotations.get(ANNOTATION_LINKS, "[]"))
        ],
        "labels": sorted(label for label in annotations.get(ANNOTATION_LABELS, "").split(",") if label),
        "readiness_probe": flat_probe(serve_spec.get("readinessProbe")) if serve else None,
    }


def k8s_resource(
    spec: Mapping[str, Any], resource_deps: list[str], labels: list[str], links: list[dict[str, str]]
) -> dict[str, Any]:
    """A k8s resource: its KubernetesApply's spec (Tilt's deploy target is that spec), the objects of
    its YAML parsed (Tilt writes them again through its Go types), and its resource's options."""
    fields = {key: value for key, value in spec.items() if key in K8S_SPEC_FIELDS}
    for which in ("applyCmd", "deleteCmd"):
        if spec.get(which):
            fields[which] = command(spec[which].get("args"), spec[which].get("dir"), spec[which].get("env"))
    if spec.get("yaml"):
        fields["objects"] = list(yaml.safe_load_all(spec["yaml"]))
    shape: dict[str, Any] = without_zeros(
        {"k8s": fields, "resource_deps": resource_deps, "labels": labels, "links": links}
    )
    return shape


def command(argv: Sequence[str] | None, directory: str | None, env: Sequence[str] | None) -> dict[str, Any]:
    return {"argv": list(argv or []), "dir": directory or "", "env": list(env or [])}


def flat_probe(probe: Mapping[str, Any] | None) -> Any:
    """A probe with its handler inlined, as Tilt's Probe has it, and without its zeros."""
    if not probe:
        return None
    flat = {key: value for key, value in probe.items() if key != "handler"}
    return without_zeros({**flat, **(probe.get("handler") or {})})


def without_zeros(value: Any) -> Any:
    """The value without the zero values in it (empty strings, false, 0, empty lists and maps): in
    Tilt's Go types a zero value and an absent one are the same."""
    if isinstance(value, dict):
        kept = {key: without_zeros(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ("", False, 0, None, [], {})}
    if isinstance(value, list):
        return [without_zeros(item) for item in value]
    return value


# Comparing.


def compare(case: str, tilt: Registered, host: Registered) -> list[Difference]:
    found: list[str] = []
    if tilt.error != host.error:
        found.append(f"error: Tilt {shown(tilt.error)}, here {shown(host.error)}")
    found += output_differences(tilt.output, host.output, host.warnings)
    for title, theirs, ours in (("resource", tilt.resources, host.resources), ("", tilt.objects, host.objects)):
        for name in sorted(set(theirs) | set(ours)):
            subject = f"{title} {name}".strip()
            if name not in ours:
                found.append(f"{subject}: only in Tilt")
            elif name not in theirs:
                found.append(f"{subject}: only here")
            else:
                found += [
                    f"{subject} {path}: Tilt {shown(a)}, here {shown(b)}"
                    for path, a, b in deep_diff(theirs[name], ours[name])
                ]
    failure = next(
        (why for pattern, why in KNOWN_FAILURES if host.error and not tilt.error and re.search(pattern, host.error)),
        None,
    )
    return [Difference(case, what, failure or reason_for(f"{case}: {what}", KNOWN)) for what in found]


def output_differences(tilt: str, host: str, warnings: Sequence[str]) -> list[str]:
    """The output's differences, line by line; Tilt's log has the warnings among the prints, the
    host keeps them apart."""
    found = []
    for warning in warnings:
        text = warning.rstrip("\n") + "\n"
        at = tilt.find(text)
        if at >= 0 and (at == 0 or tilt[at - 1] == "\n"):
            tilt = tilt[:at] + tilt[at + len(text) :]
        else:
            found.append(f"warning only here: {shown(warning)}")
    theirs, ours = tilt.splitlines(), host.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, theirs, ours, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for a, b in itertools.zip_longest(theirs[i1:i2], ours[j1:j2]):
            if b is None:
                found.append(f"output only in Tilt: {shown(a)}")
            elif a is None:
                found.append(f"output only here: {shown(b)}")
            else:
                found.append(f"output: Tilt {shown(a)}, here {shown(b)}")
    return found


def deep_diff(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from deep_diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from deep_diff(x, y, f"{path}[{index}]")
    elif a != b:
        yield path, a, b


def shown(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + text.replace("`", "'") + "`"


def reason_for(difference: str, known: Sequence[tuple[str, str]]) -> str | None:
    return next((reason for pattern, reason in known if re.search(pattern, difference)), None)


def canonical_cycle(error: str | None) -> str | None:
    """A resource_deps cycle named from its least resource, wherever the error started it."""
    match = CYCLE.search(error or "")
    if error is None or match is None:
        return error
    nodes = match.group(1).split(" -> ")[:-1]
    start = nodes.index(min(nodes))
    rotated = nodes[start:] + nodes[:start]
    return error[: match.start(1)] + " -> ".join([*rotated, rotated[0]])


def scrubbed(registered: Registered, paths: Mapping[str, str]) -> Registered:
    """The result with machine paths replaced by placeholders and volatile values masked."""
    text = json.dumps(registered.__dict__)
    for path, placeholder in paths.items():
        text = text.replace(path, placeholder)
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    result = Registered(**json.loads(text))
    result.error = canonical_cycle(result.error)
    return result


# Reporting.


def summary(registered: Registered) -> str:
    """What a run did, in a few words."""
    if registered.error:
        return "fails: " + shown(registered.error, 90)
    resources, objects = len(registered.resources), len(registered.objects)
    return f"{resources} resource{'s' * (resources != 1)}, {objects} object{'s' * (objects != 1)}"


def section(outcomes: Sequence[Outcome], tilt_version: str, checkout_commit: str) -> str:
    differences = [d for outcome in outcomes for d in outcome.differences]
    reasons = list(dict.fromkeys(d.reason for d in differences if d.reason))
    explained = sum(1 for d in differences if d.reason)
    clean = sum(1 for outcome in outcomes if not outcome.differences)

    def counted(found: Sequence[Difference]) -> str:
        unexplained = sum(1 for d in found if not d.reason)
        return (
            f"{len(found)}" + (f" ({unexplained} unexplained)" if unexplained else " (intended)") if found else "none"
        )

    lines = [
        BEGIN,
        "## Differential check against Tilt",
        "",
        f"The same Tiltfiles run in Tilt itself (`tilt alpha tiltfile-result` of Tilt {tilt_version}, built at commit",
        f"`{TILT_COMMIT}`) and in the Tiltfile host as `kubectl tilt render` runs them: the corpus in",
        "`hack/differential/` (one small Tiltfile per family of builtins), a Tiltfile that loads each extension of",
        f"tilt-dev/tilt-extensions at commit `{checkout_commit}` (`ext://NAME`), and Tiltfiles that call the",
        "functions of the extensions that declare local resources or deploy (`ext://NAME (calls)`, in",
        "`hack/differential/upstream/`). Both results are made into one shape (the local and k8s resources and",
        "API objects a run registers, its error and its output) and every difference is listed. Written by",
        "`hack/differential.py` (its docstring says how to run it and what it normalises); not run by CI.",
        "",
        "| Tiltfiles checked | with no difference | differences | intended | unexplained |",
        "|---|---|---|---|---|",
        f"| {len(outcomes)} | {clean} | {len(differences)} | {explained} | {len(differences) - explained} |",
        "",
        "| Tiltfile | in Tilt | differences |",
        "|---|---|---|",
        *(f"| {o.case} | {cell(o.tilt)} | {counted(o.differences)} |" for o in outcomes),
        "",
    ]
    if differences:
        lines += [
            "| Tiltfile | difference | reason |",
            "|---|---|---|",
            *(
                f"| {d.case} | {cell(d.what)} | {f'({reasons.index(d.reason) + 1})' if d.reason else 'unexplained'} |"
                for d in differences
            ),
            "",
            *(f"{number}. {reason}" for number, reason in enumerate(reasons, start=1)),
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_section(doc: Path, text: str) -> None:
    """Replaces the section between the markers, or appends it."""
    current = doc.read_text() if doc.is_file() else ""
    begin, end = current.find(BEGIN), current.find(END)
    if begin >= 0 and end > begin:
        updated = current[:begin] + text.rstrip("\n") + current[end + len(END) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    doc.write_text(updated if updated.endswith("\n") else updated + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--extensions", type=Path, required=True, help="a checkout of tilt-dev/tilt-extensions")
    parser.add_argument("--tilt", type=Path, help=f"a Tilt binary built from {TILT_COMMIT[:12]}")
    parser.add_argument("--tilt-source", default=TILT_SOURCE, help="a git URL or path to build Tilt from")
    parser.add_argument("--only", action="append", default=[], help="only the Tiltfiles whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave the doc alone")
    parser.add_argument("--out", type=Path, default=DOC)
    options = parser.parse_args(argv)
    tilt = options.tilt.resolve() if options.tilt else tilt_binary(options.tilt_source, TILT_COMMIT)
    tilt_version = subprocess.run([str(tilt), "version"], capture_output=True, text=True, check=True).stdout.split(",")[
        0
    ]
    checkout = options.extensions.resolve()
    checkout_commit = (
        subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    crds = shipped_crds()
    env = {**os.environ, ENV_EXTENSIONS: str(checkout)}
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="differential-") as scratch:
        work = Path(scratch).resolve() / "work"
        shutil.copytree(CORPUS, work)
        cases = corpus_cases(work) + extension_cases(work, checkout)
        cases = [case for case in cases if not options.only or any(word in case.name for word in options.only)]
        paths = {str(checkout): "$EXTENSIONS", str(work): "$WORK", str(work.parent): "$SCRATCH"}
        for case in cases:
            theirs = scrubbed(run_tilt(tilt, case, env), paths)
            ours = scrubbed(run_host(case, work, env, crds), paths)
            found = compare(case.name, theirs, ours)
            outcomes.append(Outcome(case.name, summary(theirs), found))
            print(f"{case.name:40} {len(found) or 'none'}", file=sys.stderr)
            for difference in found:
                print(
                    f"    {difference.what}" + (f"  [{difference.reason}]" if difference.reason else ""),
                    file=sys.stderr,
                )
    text = section(outcomes, tilt_version, checkout_commit)
    if options.no_write:
        print(text)
    else:
        write_section(options.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
