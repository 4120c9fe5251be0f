"""Which extensions of tilt-dev/tilt-extensions run here: writes docs/compatibility.md.

    .venv/bin/python hack/compatibility.py PATH-TO-A-CHECKOUT [--out docs/compatibility.md]

PATH is a local clone of https://github.com/tilt-dev/tilt-extensions made by hand (never committed
here). Each extension's Tiltfile runs in the Tiltfile host exactly as an Extension object would run
it: the checkout is the repo named ``default`` (so ``ext://`` loads resolve inside it), the root is
the checkout, process execution is on, and the environment is this process's. Run it with
KUBECONFIG and PATH pointing at a cluster with the CRDs (``hack/dev.sh`` prints both), as an
operator's Tiltfiles have one: some extensions apply objects with ``tilt apply`` while they load.
Every extension is then one of:

- runs: its Tiltfile ran to the end;
- needs Tilt's image and deploy engine: it calls one of that engine's builtins (named), which
  this operator does not run;
- needs a program that is not installed: a ``local()`` command could not find it (named);
- fails: anything else, with the first line of the error.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilt_operator.api import shipped_crds
from tilt_operator.engine import ExtensionRoots
from tilt_operator.engine.pool import run_tiltfile

# The builtins of Tilt's image-build and deploy engine, as the host refuses them.
ENGINE = re.compile(r"(\S+) belongs to Tilt's image-build and deploy engine")
ENGINE_CALL = re.compile(
    r"\b(docker_build|custom_build|k8s_yaml|k8s_resource|k8s_custom_deploy|helm|kustomize|docker_compose|"
    r"dc_resource|k8s_kind|port_forward|default_registry|allow_k8s_contexts|k8s_context|k8s_namespace)\("
)
# Errors whose cause the first line does not say, and what it is.
EXPLAINED = {
    "Could not find root Tiltfile": "it looks for a `tilt_modules` directory above itself, Tilt's own checkout layout",
}
NOT_FOUND = re.compile(
    r"(?:sh: \d+: |bash: |env: )?'?([\w.+-]+)'?: (?:command )?not found|No local ([\w.+-]+) executable found"
)
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
# Extensions are directories with a Tiltfile at the top of the repo, and the test helpers under tests/.
NESTED = ("tests/golang", "tests/javascript")


@dataclass(frozen=True)
class Outcome:
    extension: str
    verdict: str
    detail: str


def extensions(checkout: Path) -> list[str]:
    top = [entry.name for entry in checkout.iterdir() if (entry / "Tiltfile").is_file() and entry.name != "tests"]
    return sorted(top + [name for name in NESTED if (checkout / name / "Tiltfile").is_file()])


def classify(checkout: Path, name: str, crds: list[dict[str, Any]]) -> Outcome:
    tiltfile = checkout / name / "Tiltfile"
    static = ENGINE_CALL.search(tiltfile.read_text())
    result = run_tiltfile(
        tiltfile,
        crds=crds,
        timeout=60,
        memory_mb=512,
        root=checkout,
        ext_roots=ExtensionRoots.default_at(checkout),
        env=dict(os.environ),  # the user's own command: local() runs as they do
        exec_enabled=True,
    )
    if result.error is None:
        if static:
            return Outcome(name, "needs Tilt's image and deploy engine", f"`{static.group(1)}` (in its functions)")
        return Outcome(name, "runs", f"registers {len(result.objects)} objects" if result.objects else "")
    if engine := ENGINE.search(result.error):
        return Outcome(name, "needs Tilt's image and deploy engine", f"`{engine.group(1)}`")
    if missing := NOT_FOUND.search(result.output + (result.backtrace or "")):
        return Outcome(name, "needs a program that is not installed", f"`{missing.group(1) or missing.group(2)}`")
    error = result.error.replace(str(checkout) + "/", "").replace("|", "\\|")
    because = next((f": {why}" for text, why in EXPLAINED.items() if text in error), "")
    return Outcome(name, "fails", error + because)


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
        "as an Extension object runs it (the checkout as the repo `default`, process execution on, a local",
        "cluster with the CRDs for the extensions that apply objects while they load).",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "compatibility.md")
    options = parser.parse_args(argv)
    checkout = options.checkout.resolve()
    crds = shipped_crds()
    outcomes = [classify(checkout, name, crds) for name in extensions(checkout)]
    options.out.write_text(report(checkout, outcomes))
    for outcome in outcomes:
        print(f"{outcome.extension:24} {outcome.verdict:40} {outcome.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
