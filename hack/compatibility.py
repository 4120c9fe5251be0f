"""Which extensions of tilt-dev/tilt-extensions run here, and how Tilt's own tests of its builtins
fare in the Tiltfile host: writes docs/compatibility.md.

    .venv/bin/python hack/compatibility.py PATH-TO-A-CHECKOUT [--out docs/compatibility.md]
    .venv/bin/python hack/compatibility.py --tilt-tests [--out docs/compatibility.md]

The second form rewrites only the last section, "Tilt's own tests", and needs no checkout: it runs
the host's Go tests that port Tilt's (``go test -json -run '^TestTilt'``) and counts, family by
family, the cases that pass and those skipped with their reasons, against Tilt's counts in
``hack/tilt-tests.json``.

PATH is a local clone of https://github.com/tilt-dev/tilt-extensions made by hand (never committed
here). It is copied to where the operator keeps that repo, ``tilt_modules/github.com/tilt-dev/
tilt-extensions@HEAD`` in a scratch data dir (docs/design.md, "The data directory"), since some
extensions find their root by walking up to ``tilt_modules``. Each extension's Tiltfile runs in the
Tiltfile host exactly as an Extension object would run it: the copy is the repo named ``default``
(so ``ext://`` loads resolve inside it), the root is the copy, process execution is on, and the
environment is this process's. An extension that runs is then called: the Tiltfile in
``hack/differential/upstream/`` named after it (``hack/differential.py`` runs the same ones in
Tilt) calls its functions. Run it with KUBECONFIG and PATH pointing at a cluster with the CRDs
and the operator running with process execution on (``hack/dev.sh`` starts them and prints both),
as an operator's Tiltfiles have one: some extensions apply objects with ``tilt apply`` while they
load. An extension whose called functions register KubernetesApplys (``k8s_yaml`` and its
family) is then deployed for real: the calling Tiltfile becomes a Tiltfile object the operator
runs, acting as the ServiceAccount ``compatibility`` (``DEPLOYER_RIGHTS``: what those extensions
deploy), the check waits for every KubernetesApply it made to be Ready, reads what they applied,
and deletes the Tiltfile, waiting for what it deployed to go with it. Every extension is then one of:

- runs: its Tiltfile ran to the end, and so did the Tiltfile calling its functions, if it has one;
  what they deploy was applied and went with its Tiltfile;
- fails to deploy: it runs, but what it deploys was not applied (why, in the operator's words);
- loads; its functions need more: its Tiltfile runs, and calling its functions needs what this check
  cannot give (``UNCALLED`` says what);
- needs Tilt's image and deploy engine: it calls one of that engine's builtins (named), which
  this operator does not run;
- needs a program that is not installed: a ``local()`` command could not find it (named);
- fails: anything else, with the first line of the error.

Either form keeps the section between ``<!-- differential:begin -->`` and
``<!-- differential:end -->`` as it is, at the end: ``hack/differential.py`` writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilt_operator.api import shipped_crds
from tilt_operator.devcluster.binaries import ensure_helm
from tilt_operator.engine import ExtensionRoots, RunResult
from tilt_operator.engine.pool import run_tiltfile

# The builtins of Tilt's image-build and deploy engine, as the host refuses them.
ENGINE = re.compile(r"(\S+) belongs to Tilt's image-build and deploy engine")
ENGINE_CALL = re.compile(
    r"\b(docker_build|custom_build|kustomize|docker_compose|"
    r"dc_resource|default_registry|allow_k8s_contexts)\("
)
# Errors whose cause the first line does not say, and what it is.
EXPLAINED = {
    "Could not find root Tiltfile": "it looks for a `tilt_modules` directory above itself, Tilt's own checkout layout",
}
NOT_FOUND = re.compile(
    r"(?:sh: \d+: |bash: |env: )?'?([\w.+-]+)'?: (?:command )?not found|No local ([\w.+-]+) executable found"
    r'|exec: "([\w.+-]+)": executable file not found'
    r"|the `([\w.+-]+)` program is not installed"
)
# A download from the internet, which the machine the check runs on may not reach.
NETWORK = re.compile(r'command "(curl|wget) [^"]*https?://')
# The extensions that need nothing of Tilt's image-build and deploy engine: every one must run.
ENGINE_FREE = [
    "cancel",
    "execute_in_pod",
    "honeycomb",
    "kubefwd",
    "list_dependencies",
    "list_port_forwards",
    "ngrok",
    "tilt_inspector",
    "uibutton",
    "workflow",
    "base64",
    "color",
    "conftest",
    "dotenv",
    "github_token",
    "global_vars",
    "hello_world",
    "jest_test_runner",
    "local_output",
    "logger",
    "min_tilt_version",
    "print_tiltfile_dir",
    "procfile",
    "snyk",
    "tests/golang",
    "tests/javascript",
    "vault_client",
    "wait_for_it",
    "yarn",
]
# Extensions whose Tiltfile loads, and whose functions no Tiltfile here calls, and why: what calling
# them needs that this check cannot give (read from their Tiltfiles).
UNCALLED = {
    "hasura": "`hasura`, which is not installed, and ext://helm_remote's chart from the internet",
    "helm_remote": "the internet: its functions fetch a chart with `helm repo add` and `helm pull` from its URL",
    "kubebuilder": (
        "`docker_build` (ext://restart_process's `docker_build_with_restart`, Tilt's image engine), and"
        " `kubebuilder`, `kustomize`, `controller-gen` and `go`, which are not installed"
    ),
    "pulumi": "`pulumi` (its applyCmd's helper runs `pulumi up`, its deleteCmd `pulumi destroy`), not installed",
}
# Extensions are directories with a Tiltfile at the top of the repo, and the test helpers under tests/.
NESTED = ("tests/golang", "tests/javascript")
# The section hack/differential.py writes, kept when the file is rewritten.
DIFFERENTIAL_BEGIN, DIFFERENTIAL_END = "<!-- differential:begin -->", "<!-- differential:end -->"

HOST = Path(__file__).resolve().parents[1] / "operator" / "tilt_operator" / "engine" / "host"
# Tiltfiles that call an extension's functions, by extension (``tests/golang`` is ``tests_golang``),
# and the environment variable they read the checkout's path from (for Tilt's extension_repo).
CALLS = Path(__file__).resolve().with_name("differential") / "upstream"
CALLS_CHECKOUT = "DIFFERENTIAL_EXTENSIONS"
# Where the operator keeps the upstream repo, under its data dir.
LAYOUT = Path("tilt_modules", "github.com", "tilt-dev", "tilt-extensions@HEAD")
# Tilt's tests by family: which Go test ports each, and how many functions and cases Tilt has.
TILT_TESTS = Path(__file__).resolve().with_name("tilt-tests.json")
TILT_TESTS_HEADING = "## Tilt's own tests"
# How a Go test reports t.Skip's reason: "    file_test.go:12: the reason".
SKIP_REASON = re.compile(r"^\s+\S+_test\.go:\d+: (.+)$")


# The account the deploying Tiltfiles act as: the Tilt API, as every extension has it, and the
# kinds the extensions under check deploy, in every namespace. A person grants the same to a real one.
DEPLOYER = "compatibility"
DEPLOYER_RIGHTS = f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {DEPLOYER}, namespace: tilt-operator}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {DEPLOYER}}}
rules:
- apiGroups: [""]
  resources: [configmaps, secrets, namespaces, services, serviceaccounts]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [apps, batch]
  resources: [deployments, jobs]
  verbs: [get, list, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {DEPLOYER}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {DEPLOYER}}}
subjects: [{{kind: ServiceAccount, name: {DEPLOYER}, namespace: tilt-operator}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {DEPLOYER}-tilt}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tilt-extension}}
subjects: [{{kind: ServiceAccount, name: {DEPLOYER}, namespace: tilt-operator}}]
"""
# How long a deploy may take to be Ready, and what it deployed to go once its Tiltfile is deleted.
DEPLOY_TIMEOUT = 90.0
# How long a deleteCmd is given to delete what its applyCmd deployed, when it does.
DELETE_CMD_WAIT = 20.0


@dataclass(frozen=True)
class Outcome:
    extension: str
    verdict: str
    detail: str


def extensions(checkout: Path) -> list[str]:
    top = [entry.name for entry in checkout.iterdir() if (entry / "Tiltfile").is_file() and entry.name != "tests"]
    return sorted(top + [name for name in NESTED if (checkout / name / "Tiltfile").is_file()])


def in_layout(checkout: Path, data_dir: Path) -> Path:
    """A copy of ``checkout`` where the operator would keep it, in the scratch data dir ``data_dir``."""
    copy = data_dir / LAYOUT
    shutil.copytree(checkout, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return copy


def run(checkout: Path, tiltfile: Path, root: Path, crds: list[dict[str, Any]]) -> RunResult:
    return run_tiltfile(
        tiltfile,
        crds=crds,
        timeout=60,
        memory_mb=512,
        root=root,
        ext_roots=ExtensionRoots.default_at(checkout),
        env={**os.environ, CALLS_CHECKOUT: str(checkout)},  # the user's own command: local() runs as they do
        exec_enabled=True,
    )


def classify(checkout: Path, name: str, crds: list[dict[str, Any]], repo: Path) -> Outcome:
    tiltfile = checkout / name / "Tiltfile"
    static = ENGINE_CALL.search(tiltfile.read_text())
    result = run(checkout, tiltfile, checkout, crds)
    calls = CALLS / f"{name.replace('/', '_')}.Tiltfile"
    called = ""
    if result.error is None and not static and calls.is_file():
        # The calls read their data files next to them (hack/differential/files/).
        result = run(checkout, calls, CALLS.parent, crds)
        called = f"functions called (`{calls.relative_to(CALLS.parents[1])}`)"
    if result.error is None:
        if not called and name in UNCALLED:
            return Outcome(name, "loads; its functions need more", f"calling them needs {UNCALLED[name]}")
        if static:
            return Outcome(name, "needs Tilt's image and deploy engine", f"`{static.group(1)}` (in its functions)")
        registers = f"registers {len(result.objects)} objects" if result.objects else ""
        if called and any(obj["kind"] == "KubernetesApply" for obj in result.objects):
            deployed, why = deploy(name, calls, repo)
            if why:
                return Outcome(name, "fails to deploy", f"{called}: {why}")
            registers = deployed
        return Outcome(name, "runs", ", ".join(filter(None, [called, registers])))
    if engine := ENGINE.search(result.error):
        return Outcome(name, "needs Tilt's image and deploy engine", f"`{engine.group(1)}`")
    if missing := NOT_FOUND.search(result.output + (result.backtrace or "")):
        program = next(group for group in missing.groups() if group)
        return Outcome(name, "needs a program that is not installed", f"`{program}`")
    if download := NETWORK.search(result.error):
        return Outcome(name, "needs the internet", f"`{download.group(1)}` of a URL, which this run could not reach")
    error = result.error.replace(str(checkout) + "/", "").replace("|", "\\|")
    because = next((f": {why}" for text, why in EXPLAINED.items() if text in error), "")
    return Outcome(name, "fails", (f"{called}: " if called else "") + error + because)


def kubectl(*args: str, stdin: str | None = None) -> Any:
    """kubectl against the cluster of KUBECONFIG; its JSON output, parsed, for ``-o json``."""
    done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout) if "json" in args else done.stdout


def poll(check: Any, what: str, timeout: float = DEPLOY_TIMEOUT) -> Any:
    """``check()`` once it is truthy; RuntimeError saying ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.5)
    return found


def deploy(name: str, calls: Path, repo: Path) -> tuple[str, str]:
    """Run ``calls`` as a Tiltfile object through the operator, acting as DEPLOYER, with the upstream
    repo at ``repo`` (a git checkout): what it deployed, or why not. Its Tiltfile is deleted after,
    and what it deployed must go with it."""
    kubectl("apply", "-f", "-", stdin=DEPLOYER_RIGHTS)
    tiltfile = f"compatibility-{name.replace('/', '-').replace('_', '-')}"
    with tempfile.TemporaryDirectory(prefix="compatibility-calls-") as scratch:
        # The calls read their data files beside them (deploy/); the operator reads no environment variable of ours.
        copy = Path(scratch) / CALLS.name
        shutil.copytree(CALLS, copy)
        path = copy / calls.name
        path.write_text(path.read_text().replace(f"os.getenv({CALLS_CHECKOUT!r}, '/nonexistent')", repr(str(repo))))
        body = {
            "apiVersion": "tilt.dev/v1alpha1",
            "kind": "Tiltfile",
            "metadata": {"name": tiltfile},
            "spec": {"path": str(path), "serviceAccountName": DEPLOYER},
        }
        uid = kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(body))["metadata"]["uid"]
        try:
            return _deployed(tiltfile, uid)
        except RuntimeError as error:
            return "", str(error)
        finally:
            # What it registered (the repo `default` too) goes before the next check registers its own.
            kubectl("delete", "tiltfile", tiltfile, "--ignore-not-found", "--wait=true")
            poll(lambda: not _owned_by(uid), "what its Tiltfile registered to go with it")


def _owned_by(
    uid: str, kinds: str = "extensionrepos,extensions,cmds,uibuttons,filewatches,kubernetesapplys"
) -> list[Any]:
    found = kubectl("get", kinds, "-o", "json")["items"]
    return [item for item in found if any(ref["uid"] == uid for ref in item["metadata"].get("ownerReferences", []))]


def _deployed(tiltfile: str, uid: str) -> tuple[str, str]:
    def run() -> dict[str, Any] | None:
        terminated: dict[str, Any] | None = (
            kubectl("get", "tiltfile", tiltfile, "-o", "json").get("status", {}).get("terminated")
        )
        return terminated

    if error := poll(run, "the Tiltfile's run").get("error"):
        return "", f"its Tiltfile fails in the operator: {error}"

    def mine() -> list[dict[str, Any]]:
        return _owned_by(uid, "kubernetesapplys")

    def settled() -> list[dict[str, Any]] | None:
        applies = mine()
        states = [_ready(item) for item in applies]
        return applies if applies and all(state is not None for state in states) else None

    try:
        applies = poll(settled, "its KubernetesApplys to be Ready or fail")
    except RuntimeError:
        applies = mine()  # still on their way: say where each one is
    if not applies:
        return "", "its run registered KubernetesApplys, and the operator made none"
    failed = [
        f"KubernetesApply {a['metadata']['name']}: {_state(a)}" for a in applies if _ready(a) not in (None, "Ready")
    ]
    if failed:
        return "", "; ".join(failed)
    inventory = [item for apply in applies for item in apply["status"].get("inventory", [])]
    objects = ", ".join(f"{item['kind']} {item['name']}" for item in inventory)
    held = [a for a in applies if _ready(a) is None and not a["status"].get("inventory")]
    waiting = [f"KubernetesApply {a['metadata']['name']} ({_state(a).partition(': ')[2]})" for a in held] + [
        f"{item['kind']} {item['name']} ({item.get('message')})"
        for item in inventory
        if item.get("health") != "Current"
    ]
    if waiting and kubectl("get", "nodes", "-o", "name").strip():
        return "", f"still InProgress after {DEPLOY_TIMEOUT:g} s: {', '.join(waiting)}"
    # What its YAML deployed is owned, and goes with it; what an applyCmd deployed, its deleteCmd deletes.
    owned = [item for a in applies if not a["spec"].get("applyCmd") for item in a["status"].get("inventory", [])]
    kubectl("delete", "tiltfile", tiltfile, "--wait=true")
    poll(lambda: not mine(), "its KubernetesApplys to go with the Tiltfile")
    poll(lambda: not any(_exists(item) for item in owned), "what it deployed to go with the Tiltfile")
    by_command = [item for item in inventory if item not in owned]
    try:  # a deleteCmd may delete what its applyCmd deployed, or (k8s_attach) leave it be
        poll(lambda: not any(_exists(item) for item in by_command), "", timeout=DELETE_CMD_WAIT)
        left = ""
    except RuntimeError:
        left = " not"
    return (
        f"deploys {len(inventory)} objects through the operator as the ServiceAccount `{DEPLOYER}`"
        f" ({objects}), "
        + (
            f"all Current but {', '.join(waiting)}, which stay InProgress: this cluster has no node to run pods"
            if waiting
            else "all Current"
        )
        + (f", {len(owned)} of them gone with its Tiltfile" if owned else "")
        + (f", {len(by_command)} by an applyCmd,{left} deleted by its deleteCmd" if by_command else "")
    ), ""


def _ready(apply: dict[str, Any]) -> str | None:
    """ "Ready", or why not once it will not be by itself; None while it is on its way."""
    status = apply.get("status") or {}
    ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
    if ready is None or ready.get("observedGeneration", 0) < apply["metadata"].get("generation", 0):
        return None
    if ready["status"] == "True":
        return "Ready"
    return None if ready["reason"] in ("Progressing", "DependencyNotReady") else _state(apply)


def _state(apply: dict[str, Any]) -> str:
    status = apply.get("status") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
    return f"{ready.get('reason', 'no status')}: {ready.get('message', '')}"


def _exists(item: dict[str, Any]) -> bool:
    where = ["-n", item["namespace"]] if item.get("namespace") else []
    kind = f"{item['kind'].lower()}.{item['apiVersion'].split('/')[0]}" if "/" in item["apiVersion"] else item["kind"]
    done = subprocess.run(["kubectl", "get", kind, item["name"], *where], capture_output=True, check=False)
    return done.returncode == 0


def report(checkout: Path, outcomes: list[Outcome]) -> str:
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    running = {o.extension for o in outcomes if o.verdict == "runs"}
    engine_free = [name for name in ENGINE_FREE if name in running]
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.verdict] = counts.get(outcome.verdict, 0) + 1
    lines = [
        "# Compatibility with tilt-dev/tilt-extensions",
        "",
        f"Every extension of tilt-dev/tilt-extensions at commit `{commit or 'unknown'}`, run in the Tiltfile host",
        "as an Extension object runs it (the checkout as the repo `default`, where the operator keeps it, under",
        "`tilt_modules/`; process execution on; a local cluster with the CRDs for the extensions that apply",
        "objects while they load), then its functions called where `hack/differential/upstream/` has a",
        "Tiltfile calling them. Where those calls register KubernetesApplys, that Tiltfile is then run by the",
        "operator (`hack/dev.sh`: a cluster with no node) as a Tiltfile object acting as the ServiceAccount",
        f"`{DEPLOYER}`, which may write the kinds they deploy; what it deployed is read, and the Tiltfile deleted.",
        "Written by `hack/compatibility.py PATH-TO-A-CHECKOUT`; the checkout is made by hand and never committed.",
        "",
        "| " + " | ".join(f"{verdict}: {count}" for verdict, count in sorted(counts.items())) + " |",
        "|" + "---|" * len(counts),
        "",
        f"Of the {len(ENGINE_FREE)} extensions that need nothing of Tilt's image-build and deploy engine, "
        f"{len(engine_free)} run: {', '.join(sorted(set(ENGINE_FREE) - running)) or 'every one'}"
        f"{' does not' if set(ENGINE_FREE) - running else ''}.",
        "",
        "| extension | result | detail |",
        "|---|---|---|",
        *(f"| {o.extension} | {o.verdict} | {o.detail} |" for o in outcomes),
        "",
    ]
    return "\n".join(lines)


def ported_tilt_tests() -> dict[str, tuple[str, str]]:
    """Each case of Tilt's tests as ported (``TestTiltOS/TestGetenv``): its outcome (pass, fail or
    skip) and, when skipped, why."""
    run = subprocess.run(
        ["go", "test", "-json", "-count=1", "-run", "^TestTilt", "."],
        cwd=HOST,
        # Tilt's tests of helm() render charts with the helm hack/helm/go.mod pins, as hack/test.sh runs them.
        env={**os.environ, "TILT_OPERATOR_TEST_HELM": str(ensure_helm())},
        capture_output=True,
        text=True,
        check=False,
    )
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    names = {event["Test"] for event in events if "Test" in event}
    # A case is a sub-test with no sub-tests of its own.
    cases = {name for name in names if "/" in name and not any(other.startswith(name + "/") for other in names)}
    if not cases:
        output = "".join(event.get("Output", "") for event in events) + run.stderr
        raise SystemExit(f"go test ran no test in {HOST}:\n{output}")
    outcomes: dict[str, tuple[str, str]] = {}
    for event in (event for event in events if event.get("Test") in cases):
        outcome, reason = outcomes.get(event["Test"], ("", ""))
        if event["Action"] in ("pass", "fail", "skip"):
            outcome = event["Action"]
        elif event["Action"] == "output" and (said := SKIP_REASON.match(event["Output"].rstrip("\n"))):
            reason = said.group(1)
        outcomes[event["Test"]] = (outcome, reason)
    return outcomes


def tilt_tests_section() -> str:
    """The section on Tilt's own tests, from the data file and a run of the ported tests."""
    families = json.loads(TILT_TESTS.read_text())["families"]
    outcomes = ported_tilt_tests()
    rows: list[str] = []
    skipped: dict[str, list[str]] = {}
    for family in families:
        mine = {name: outcome for name, outcome in outcomes.items() if name.split("/")[0] == family["test"]}
        if len(mine) != family["cases"]:
            raise SystemExit(f"{family['test']} has {len(mine)} cases; Tilt's {family['tilt']} has {family['cases']}")
        count = Counter(outcome for outcome, _ in mine.values())
        rows.append(
            f"| {family['family']} | `{family['tilt']}` | {family['functions']} | {family['cases']} "
            f"| {count['pass'] + count['fail']} | {count['pass']} | {count['skip']} |"
        )
        for name, (outcome, reason) in mine.items():
            if outcome == "skip":
                skipped.setdefault(reason, []).append(f"`{name.split('/', 1)[1].replace('_', ' ')}`")
    count = Counter(outcome for outcome, _ in outcomes.values())
    functions = sum(family["functions"] for family in families)
    lines = [
        TILT_TESTS_HEADING,
        "",
        "Tilt's own Go tests of the builtin families the host implements, ported case by case (the tests",
        "named `TestTilt*` beside the host, in `go test ./...`): the same Tiltfiles and files, the same",
        "expected output and errors, run through the host's own run code. A case that tests Tilt's engine,",
        "or something the host does differently on purpose, is kept and skipped with the reason.",
        "Written by `hack/compatibility.py` (`--tilt-tests` for this section alone) from",
        "`hack/tilt-tests.json`.",
        "",
        "| family | Tilt's package | Tilt's tests | Tilt's cases | ported | passing | skipped |",
        "|---|---|---|---|---|---|---|",
        *rows,
        f"| all | | {functions} | {len(outcomes)} "
        f"| {count['pass'] + count['fail']} | {count['pass']} | {count['skip']} |",
        "",
        "Skipped, and why:",
        "",
        *(f"- {reason}: {', '.join(names)}." for reason, names in sorted(skipped.items())),
        "",
    ]
    return "\n".join(lines)


def with_differential(out: Path, text: str) -> str:
    """``text`` with the differential check's section of ``out`` (hack/differential.py writes it) at its end."""
    old = out.read_text() if out.is_file() else ""
    begin, end = old.find(DIFFERENTIAL_BEGIN), old.find(DIFFERENTIAL_END)
    if not 0 <= begin < end:
        return text
    section = old[begin : end + len(DIFFERENTIAL_END)]
    return text.replace(section, "").rstrip("\n") + "\n\n" + section + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, nargs="?")
    parser.add_argument("--tilt-tests", action="store_true", help="rewrite only the section on Tilt's own tests")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "compatibility.md")
    options = parser.parse_args(argv)
    if options.tilt_tests:
        kept = options.out.read_text().partition(TILT_TESTS_HEADING)[0]
        options.out.write_text(with_differential(options.out, kept.rstrip("\n") + "\n\n" + tilt_tests_section()))
        return 0
    if options.checkout is None:
        parser.error("a checkout of tilt-dev/tilt-extensions is needed (or --tilt-tests)")
    crds = shipped_crds()
    with tempfile.TemporaryDirectory(prefix="compatibility-") as data_dir:
        checkout = in_layout(options.checkout.resolve(), Path(data_dir))
        outcomes = [classify(checkout, name, crds, options.checkout.resolve()) for name in extensions(checkout)]
    text = report(options.checkout.resolve(), outcomes) + "\n" + tilt_tests_section()
    options.out.write_text(with_differential(options.out, text))
    for outcome in outcomes:
        print(f"{outcome.extension:24} {outcome.verdict:40} {outcome.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
