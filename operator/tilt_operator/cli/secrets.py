"""``kubectl tilt create secret git NAME``: the Secret a private ExtensionRepo names in ``spec.secretRef``.

The keys are Flux's (``username``/``password``, ``bearerToken``, ``ca.crt``, ``identity``,
``known_hosts``) and Argo CD's ``url`` (the URL prefix the credentials are for: they go to no other),
checked by the same rules the operator applies
(:func:`~tilt_operator.gitstore.credentials.from_secret`), in the operator's namespace. A password,
token or key is read from stdin or a file, never from the command line, where ``ps`` and the
shell's history would show it; and nothing this command prints holds one, unless ``--dry-run=client
-o yaml`` asks for the Secret itself (to pipe into ``kubectl apply -f -``, which is how to replace one).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from tilt_operator import kube
from tilt_operator.cli import output
from tilt_operator.cli.errors import CLIError
from tilt_operator.config import DEFAULT_NAMESPACE, own_namespace
from tilt_operator.gitstore.credentials import SecretInvalid, from_secret
from tilt_operator.names import object_name

PROG = "kubectl tilt create secret git"
FIELD_MANAGER = "kubectl-tilt"


def add_parser(kinds: argparse._SubParsersAction[Any], create_options: Any) -> None:
    secret = kinds.add_parser("secret", help="create a Secret with a private repo's credentials")
    types = secret.add_subparsers(dest="secret_type", required=True, metavar="{git}")
    git = types.add_parser(
        "git",
        help="a Secret for an ExtensionRepo's spec.secretRef (https: username and password or a token; ssh: a key)",
        description="Create a Secret in the operator's namespace for an ExtensionRepo's spec.secretRef. "
        "Passwords, tokens and keys are read from stdin or files, never from the command line.",
        epilog="examples:\n"
        f"  gh auth token | {PROG} github --url https://github.com/my-team/ --username x-access-token "
        "--password-stdin\n"
        f"  {PROG} internal --url https://git.internal/ --bearer-token-stdin --ca-file internal-ca.pem < token.txt\n"
        f"  {PROG} deploy-key --url ssh://git@github.com/my-team/extensions --identity-file ~/.ssh/deploy_key "
        "--known-hosts-file known_hosts\n"
        f"  then: kubectl tilt create repo my-team URL --secret NAME",
    )
    git.add_argument("name", metavar="NAME", help="the Secret's name")
    git.add_argument(
        "-n",
        "--namespace",
        default=own_namespace(os.environ),
        help=f"the operator's namespace (default: $TILT_OPERATOR_NAMESPACE, else {DEFAULT_NAMESPACE})",
    )
    git.add_argument(
        "--url",
        required=True,
        help="the URL prefix the credentials are for (Argo CD's url): they go to no repo outside it",
    )
    git.add_argument("--username", help="for https basic auth (with --password-stdin); a token's user for a token")
    git.add_argument("--password-stdin", action="store_true", help="read the password (or token) from stdin")
    git.add_argument("--bearer-token-stdin", action="store_true", help="read a bearer token from stdin")
    git.add_argument("--ca-file", type=Path, help="a PEM bundle of CAs to trust for this repo's https server")
    git.add_argument("--identity-file", type=Path, help="an ssh private key, for ssh:// urls")
    git.add_argument("--known-hosts-file", type=Path, help="the ssh server's host keys (required with ssh)")
    create_options(git)
    git.set_defaults(run=_create_git_secret)


def _create_git_secret(options: argparse.Namespace) -> None:
    name = object_name(options.name)
    if not options.url.startswith(("https://", "ssh://")):
        raise CLIError(f"--url {options.url}: credentials are for https:// or ssh:// URLs (a prefix of the repos')")
    data = {**_data(options), "url": options.url.encode()}
    encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
    try:
        from_secret(options.namespace, name, encoded, ssh="identity" in data)
    except SecretInvalid as error:
        raise CLIError(str(error)) from None
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": options.namespace},
        "type": "Opaque",
        "data": encoded,
    }
    if options.dry_run == "client":
        output.print_object(f"secret/{name}", secret, options.output, "created (dry run)")
        return
    try:
        kube.create_secret(secret, FIELD_MANAGER)
    except ApiException as error:
        if error.status == 409:
            raise CLIError(
                f'secret "{name}" already exists in {options.namespace}: to replace it, run this command with '
                "--dry-run=client -o yaml | kubectl apply -f -"
            ) from None
        raise
    # The Secret is never printed back: -o yaml|json|name all print its name.
    output.print_object(f"secret/{name}", {}, "name" if options.output else None, "created")


def _data(options: argparse.Namespace) -> dict[str, bytes]:
    """The Secret's keys from the options: secrets from stdin or files only."""
    chosen = [options.password_stdin, options.bearer_token_stdin, options.identity_file is not None]
    if sum(chosen) > 1:
        raise CLIError("use one of --password-stdin, --bearer-token-stdin and --identity-file")
    data: dict[str, bytes] = {}
    if options.password_stdin:
        if not options.username:
            raise CLIError("--password-stdin needs --username")
        data |= {"username": options.username.encode(), "password": _stdin("password")}
    elif options.username:
        raise CLIError("--username needs --password-stdin (the password is never read from the command line)")
    if options.bearer_token_stdin:
        data["bearerToken"] = _stdin("bearer token")
    if options.identity_file is not None:
        if options.known_hosts_file is None:
            raise CLIError("--identity-file needs --known-hosts-file: host keys are always checked")
        data |= {"identity": _read(options.identity_file), "known_hosts": _read(options.known_hosts_file)}
    elif options.known_hosts_file is not None:
        raise CLIError("--known-hosts-file goes with --identity-file")
    if options.ca_file is not None:
        data["ca.crt"] = _read(options.ca_file)
    if not data:
        raise CLIError(
            "nothing to store: give --username and --password-stdin, --bearer-token-stdin, or --identity-file"
        )
    return data


def _stdin(what: str) -> bytes:
    if sys.stdin.isatty():
        print(f"{what}: ", end="", file=sys.stderr, flush=True)
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CLIError(f"no {what} on stdin")
    return value.encode()


def _read(path: Path) -> bytes:
    try:
        return path.expanduser().read_bytes()
    except OSError as error:
        raise CLIError(f"cannot read {path}: {error.strerror}") from None
