"""``kubectl tilt``: add extensions from the command line with the same API as the Tiltfile.

Extensions are added from the Tiltfile or from the CLI with a similar API, the way
kubectl's generators create Secrets. So ``kubectl tilt create repo NAME URL`` is the Tiltfile call
``extension_repo(name=NAME, url=URL)``: the object is built by the same generated builtin
(the Tiltfile host's, through ``engine.pool.build_object``) from the same CRDs, and a CLI-made
object cannot differ from a Tiltfile-made one. The CRDs come from the cluster, or, for
``--dry-run=client`` and ``render``, which never contact it, from this checkout's ``crds/``.

Installed as the console script ``kubectl-tilt``, which kubectl finds on PATH as the plugin
``tilt``. Talks to the current kubeconfig through :mod:`tilt_operator.kube`. Every failure ends as
one ``error: …`` line on stderr and exit code 1, as kubectl's do; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import urllib3
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException

from tilt_operator import clicks, kube, timestamps
from tilt_operator.api import EXTENSION, EXTENSION_REPO, GROUP, TILTFILE, UI_BUTTON, Kind, shipped_crds
from tilt_operator.cli import catalogue, logs, secrets, table, ui
from tilt_operator.cli.errors import CLIError
from tilt_operator.cli.output import OUTPUTS, print_object
from tilt_operator.config import Settings
from tilt_operator.engine import ExtensionRoots
from tilt_operator.engine.binary import HostUnavailable
from tilt_operator.engine.pool import BuildError, build_object, run_tiltfile
from tilt_operator.gitstore.urls import InvalidRef, InvalidRepoURL, parse_repo_url, validate_ref
from tilt_operator.messages import quoted
from tilt_operator.names import InvalidName, object_name

PROG = "kubectl tilt"
FIELD_MANAGER = "kubectl-tilt"
# Tilt's `tilt create ext` default, and the repo `load('ext://NAME')` resolves against.
DEFAULT_REPO = "default"
INSTALL_CRDS = "install the tilt.dev CRDs (kubectl apply -k crds/)"

# What users type for each kind, kubectl's spellings and the short names of the CRDs.
_SPELLINGS = {
    EXTENSION_REPO: ("repo", "repos", "extrepo", "extensionrepo", "extensionrepos"),
    EXTENSION: ("ext", "extension", "extensions"),
    TILTFILE: ("tf", "tiltfile", "tiltfiles"),
}
LISTED = {spelling: kind for kind, spellings in _SPELLINGS.items() for spelling in spellings}
DELETABLE = {spelling: kind for spelling, kind in LISTED.items() if kind in (EXTENSION_REPO, EXTENSION)}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 1 like every other error."""

    def __init__(self, **kwargs: Any) -> None:
        # Epilogs hold examples, one per line.
        super().__init__(formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{self.prog} --help')")


# Building objects: the Tiltfile's builtins, called from the command line.


def build(kind: Kind, crds: Sequence[Mapping[str, Any]], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The object the Tiltfile call ``<kind in snake_case>(**arguments)`` would register."""
    if not any(crd.get("spec", {}).get("names", {}).get("kind") == kind.kind for crd in crds):
        raise CLIError(f"no CRD for {kind.kind}: {INSTALL_CRDS}")
    settings = Settings.from_env()
    try:
        return build_object(
            kind.kind, arguments, crds=crds, memory_mb=settings.tiltfile_memory_mb, timeout=settings.tiltfile_timeout
        )
    except BuildError as error:
        raise CLIError(str(error)) from None


def extension_target(name: str, repo: str | None, path: str | None) -> tuple[str, str, str]:
    """(name, repo_name, repo_path) from NAME (with --repo/--path) or from the short form REPO/PATH.

    As Tilt's CLI reads them: a plain NAME is the path in the repo ``default``; ``my-team/image-builder``
    is the Extension ``image-builder`` at ``image-builder`` in the repo ``my-team``.
    """
    if "/" not in name:
        return name, repo or DEFAULT_REPO, path or name
    if repo or path:
        raise CLIError(
            f"{quoted(name)} already names the repo and the path: drop --repo and --path, or give a plain NAME"
        )
    repo_name, _, repo_path = name.partition("/")
    extension_name = PurePosixPath(repo_path).name
    if not repo_name or not extension_name:
        raise CLIError(f"{quoted(name)} is not REPO/PATH: both parts are needed, as in my-team/image-builder")
    return extension_name, repo_name, repo_path


def _check_url(url: str, ref: str | None) -> None:
    """The operator's own checks, so a URL it would refuse is refused before anything is created."""
    try:
        parse_repo_url(url)
        validate_ref(ref or "")
    except InvalidRepoURL as error:
        raise CLIError(f"invalid url: {error}") from None
    except InvalidRef as error:
        raise CLIError(f"invalid ref: {error}") from None


# Commands.


def _create_repo(options: argparse.Namespace) -> None:
    _check_url(options.url, options.ref)
    if options.url.startswith("ssh://") and not options.secret:
        raise CLIError(f"ssh:// urls need --secret NAME (create it with: {secrets.PROG} NAME --identity-file ...)")
    secret_ref = {"name": options.secret} if options.secret else None
    arguments = {"name": options.name, "url": options.url, "ref": options.ref, "secret_ref": secret_ref}
    _create(EXTENSION_REPO, arguments, options)


def _create_ext(options: argparse.Namespace) -> None:
    name, repo, path = extension_target(options.name, options.repo, options.path)
    arguments = {"name": name, "repo_name": repo, "repo_path": path, "args": options.args or None}
    _create(EXTENSION, arguments, options, check=_repo_exists)


def _create(
    kind: Kind,
    arguments: Mapping[str, Any],
    options: argparse.Namespace,
    check: Callable[[Mapping[str, Any]], None] | None = None,
) -> None:
    """kubectl create: build, refuse an existing object, apply; ``--dry-run=client`` only builds."""
    object_name(arguments["name"])  # a bad name is reported as such, even when the cluster is down
    if options.dry_run == "client":
        _print(kind, build(kind, shipped_crds(), arguments), options.output, "created (dry run)")
        return
    obj = build(kind, kube.list_crds(), arguments)
    if check:
        check(obj)
    _print(kind, kube.create(kind, obj, FIELD_MANAGER), options.output, "created")


def _repo_exists(extension: Mapping[str, Any]) -> None:
    repo = extension["spec"]["repoName"]
    if kube.get(EXTENSION_REPO, repo) is None:
        raise CLIError(f"extension repo not found: {repo} (create it first: {PROG} create repo {repo} URL)")


def _click(options: argparse.Namespace) -> None:
    name = object_name(options.button)
    button = kube.get(UI_BUTTON, name)
    if button is None:
        raise CLIError(f'{UI_BUTTON.resource} "{name}" not found')
    given: dict[str, str | bool] = {}
    for pair in options.inputs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise CLIError(f"--input takes NAME=VALUE, not {quoted(pair)}")
        given[key] = value
    try:
        status = clicks.status(button, given, timestamps.now())
    except clicks.Refused as error:
        raise CLIError(f"{_reference(UI_BUTTON, name)}: {error}") from None
    kube.patch_status(UI_BUTTON, name, status)
    print(f"{_reference(UI_BUTTON, name)} clicked")


def _trigger(options: argparse.Namespace) -> None:
    """Tilt's ``tilt trigger``: a click of the resource's trigger button, which local_resource registers."""
    name = object_name(f"{options.resource}:trigger")
    button = kube.get(UI_BUTTON, name)
    if button is None:
        raise CLIError(
            f'no resource named "{options.resource}" with a trigger ({PROG} get and kubectl get cmds list them)'
        )
    kube.patch_status(UI_BUTTON, name, clicks.status(button, {}, timestamps.now()))
    print(f"Successfully triggered update for resource: {json.dumps(options.resource)}")


def _get(options: argparse.Namespace) -> None:
    kinds = [LISTED[options.kind]] if options.kind else table.KINDS
    rows = [table.row(obj) for kind in kinds for obj in kube.list_objects(kind)]
    if not rows:
        print("No resources found", file=sys.stderr)
        return
    print(table.format_table(rows))


def _delete(options: argparse.Namespace) -> None:
    """kubectl delete: every name must exist (unless --ignore-not-found) before anything is deleted."""
    kind = DELETABLE[options.kind]
    found = []
    for name in (object_name(tilt_name) for tilt_name in options.names):
        if kube.get(kind, name) is not None:
            found.append(name)
        elif not options.ignore_not_found:
            raise CLIError(f'{kind.resource} "{name}" not found')
    for name in found:
        kube.delete(kind, name)
        print(f"{_reference(kind, name)} deleted")


def _render(options: argparse.Namespace) -> None:
    """Run a Tiltfile as the operator would and print what it registers; nothing is applied."""
    path = options.path / "Tiltfile" if options.path.is_dir() else options.path
    if not path.is_file():
        raise CLIError(f"no Tiltfile at {options.path}")
    settings = Settings.from_env()
    result = run_tiltfile(
        path,
        crds=kube.list_crds() if options.from_cluster else shipped_crds(),
        timeout=settings.tiltfile_timeout,
        memory_mb=settings.tiltfile_memory_mb,
        max_steps=settings.tiltfile_max_steps,
        env=dict(os.environ),  # the user's own command: local() runs as they do
        exec_enabled=settings.exec_enabled,
        args=options.args,
        root=options.root,
        ext_roots=ExtensionRoots.default_at(options.ext_dir),
    )
    sys.stderr.write(result.output)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.error:
        raise CLIError(result.error)
    if result.waiting:
        # No cluster and no repo fetches here: what is not there now never will be.
        raise CLIError(f"{result.waiting.message}: render finds ext:// only in --ext-dir (the repo 'default')")
    print(yaml.safe_dump_all(result.objects), end="")


# Output.


def _reference(kind: Kind, name: str) -> str:
    """kubectl's ``-o name`` form: ``extensionrepo.tilt.dev/my-team``."""
    return f"{kind.kind.lower()}.{GROUP}/{name}"


def _print(kind: Kind, obj: Mapping[str, Any], output: str | None, verb: str) -> None:
    shown = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "managedFields"}}
    print_object(_reference(kind, obj["metadata"]["name"]), shown, output, verb, sort_keys=True)


# The command line.


def _add_create_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--dry-run",
        default="none",
        choices=("none", "client"),
        help="'client' prints the object instead of creating it, without contacting the cluster",
    )
    command.add_argument("-o", "--output", choices=OUTPUTS, help="print the object as yaml or json, or its name")


def _add_create(commands: argparse._SubParsersAction[_Parser]) -> None:
    create = commands.add_parser("create", help="create an extension repo or an extension, as a Tiltfile would")
    kinds = create.add_subparsers(dest="kind", required=True, metavar="{repo,ext,secret}")
    repo = kinds.add_parser(
        "repo",
        help="create an ExtensionRepo: extension_repo(name=NAME, url=URL, ref=REF)",
        description="Create an ExtensionRepo, as the Tiltfile call extension_repo(name=NAME, url=URL, ref=REF).",
        epilog=f"example: {PROG} create repo my-team https://github.com/my-team/tilt-extensions",
    )
    repo.add_argument("name", metavar="NAME", help="the repo's name (Tilt names like my_team are mapped)")
    repo.add_argument(
        "url", metavar="URL", help="https://…, ssh://user@host/path (with --secret) or file:///absolute/dir"
    )
    repo.add_argument("--ref", help="branch, tag or commit to check out (default: the remote's default branch)")
    repo.add_argument(
        "--secret", metavar="NAME", help=f"a Secret with credentials for a private repo (see {secrets.PROG} --help)"
    )
    _add_create_options(repo)
    repo.set_defaults(run=_create_repo)
    ext = kinds.add_parser(
        "ext",
        aliases=["extension"],
        help="create an Extension: extension(name=NAME, repo_name=REPO, repo_path=PATH, args=ARGS)",
        description="Create an Extension, as the Tiltfile call extension(name=, repo_name=, repo_path=, args=)."
        " NAME alone is the extension at NAME in the repo 'default'; REPO/PATH names the extension after"
        " the last part of PATH.",
        usage=f"{PROG} create ext NAME|REPO/PATH [--repo REPO] [--path PATH] [--dry-run {{none,client}}]"
        " [-o {yaml,json,name}] [-- ARGS ...]",
        epilog=f"examples:\n  {PROG} create ext my-team/image-builder\n  {PROG} create ext cancel -- --verbose",
    )
    ext.add_argument("name", metavar="NAME|REPO/PATH", help="the extension, or REPO/PATH")
    ext.add_argument("--repo", help=f"the ExtensionRepo that holds it (default: {DEFAULT_REPO})")
    ext.add_argument("--path", help="its directory inside the repo (default: NAME)")
    _add_create_options(ext)
    ext.set_defaults(run=_create_ext, takes_args=True)
    secrets.add_parser(kinds, _add_create_options)


def _add_others(commands: argparse._SubParsersAction[_Parser]) -> None:
    click = commands.add_parser(
        "click",
        help="click a UIButton (writes its status.lastClickedAt and status.inputs)",
        epilog=f"examples:\n  {PROG} click sleeper:cancel\n  {PROG} click deploy --input env=prod --input dry_run=true",
    )
    click.add_argument("button", metavar="BUTTON", help="the button's name (Tilt names like sleeper:cancel work)")
    click.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="the value of one of the button's inputs (repeat for more; the others take their defaults)",
    )
    click.set_defaults(run=_click)
    trigger = commands.add_parser(
        "trigger",
        help="run a local_resource now, as `tilt trigger` does (a manual one waits for this)",
        epilog=f"example: {PROG} trigger 'API Server Logs'",
    )
    trigger.add_argument("resource", metavar="RESOURCE", help="the resource's name, as its Tiltfile gave it")
    trigger.set_defaults(run=_trigger)
    get = commands.add_parser(
        "get",
        help="list extension repos, extensions and Tiltfiles: ready or not, and why",
        epilog=f"example: {PROG} get ext",
    )
    get.add_argument("kind", nargs="?", choices=sorted(LISTED), metavar="KIND", help="only this kind (repo, ext, tf)")
    get.set_defaults(run=_get)
    delete = commands.add_parser(
        "delete", help="delete extension repos or extensions", epilog=f"example: {PROG} delete ext image-builder"
    )
    delete.add_argument("kind", choices=sorted(DELETABLE), metavar="{ext,repo}", help="which kind")
    delete.add_argument("names", nargs="+", metavar="NAME", help="what to delete")
    delete.add_argument("--ignore-not-found", action="store_true", help="a missing object is not an error")
    delete.set_defaults(run=_delete)
    render = commands.add_parser(
        "render",
        help="run a Tiltfile as the operator would and print the objects it registers (applies nothing)",
        usage=f"{PROG} render PATH [--from-cluster] [--root DIR] [--ext-dir DIR] [-- ARGS ...]",
        epilog=f"example: {PROG} render examples/extensions/cancel",
    )
    render.add_argument("path", type=Path, metavar="PATH", help="a Tiltfile, or a directory with one")
    render.add_argument("--from-cluster", action="store_true", help="use the cluster's CRDs, not those in crds/")
    render.add_argument("--root", type=Path, help="where read_file and load may reach (default: the Tiltfile's dir)")
    render.add_argument("--ext-dir", type=Path, help="where load('ext://NAME') finds NAME/Tiltfile (repo 'default')")
    render.set_defaults(run=_render, takes_args=True)


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog=PROG,
        description="Add Tilt extensions from the command line, with the same API as the Tiltfile.",
        epilog=f"examples:\n  {PROG} create repo my-team https://github.com/my-team/tilt-extensions\n"
        f"  {PROG} create ext my-team/image-builder\n  {PROG} get",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_create(commands)
    _add_others(commands)
    logs.add_parser(commands)
    catalogue.add_parsers(commands)
    ui.add_parser(commands)
    return top


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Arguments after ``--`` are the Tiltfile's args, never flags (argparse cannot do that alone)."""
    head, tail = list(argv), []
    if "--" in head:
        split = head.index("--")
        head, tail = head[:split], head[split + 1 :]
    options = parser().parse_args(head)
    if tail and not getattr(options, "takes_args", False):
        raise CLIError(f"unexpected arguments after '--': {' '.join(tail)}")
    options.args = tail
    return options


# Errors.


def _api_error(error: ApiException) -> str:
    message = kube.error_message(error)
    # A 404 on a kind (rather than on an object, which the commands check first) means no CRDs.
    return f"{message}: {INSTALL_CRDS}" if error.status == 404 else message


def _unreachable(error: urllib3.exceptions.HTTPError) -> str:
    """'cannot reach the API server at URL: Connection refused', not urllib3's retry story."""
    cause: BaseException | None = getattr(error, "reason", None) or error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    reason = (cause.strerror or str(cause)) if cause is not None else str(error)
    return f"cannot reach the API server at {kube.api_client().configuration.host}: {reason}"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse(sys.argv[1:] if argv is None else argv)
        code: int | None = options.run(options)
    except (CLIError, InvalidName, HostUnavailable) as error:
        return _fail(str(error))
    except ApiException as error:
        return _fail(_api_error(error))
    except urllib3.exceptions.HTTPError as error:
        return _fail(_unreachable(error))
    except ConfigException as error:
        return _fail(f"no kubeconfig: {error} (set KUBECONFIG or create ~/.kube/config)")
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
