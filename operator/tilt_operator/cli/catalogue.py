"""``kubectl tilt search`` and ``kubectl tilt show``: what the repos offer, as ``helm search repo`` shows charts.

``search`` reads every ExtensionRepo's ``status.extensions`` (the operator lists them on every
fetch) and every Extension, from the API server. ``show`` asks the operator's server for an
extension's README, since the checkout is on the operator's disk (in its pod, in a cluster).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from typing import Any

from tilt_operator import kube
from tilt_operator.api import EXTENSION, EXTENSION_REPO
from tilt_operator.cli import output, table
from tilt_operator.cli.errors import CLIError
from tilt_operator.cli.reach import request, server
from tilt_operator.gitstore import catalogue
from tilt_operator.messages import clip

HEADER = ("EXTENSION", "DESCRIPTION", "INSTALLED")
_DESCRIPTION_WIDTH = 60


def add_parsers(commands: Any) -> None:
    search = commands.add_parser(
        "search",
        help="list the extensions the repos offer",
        description="List every extension of every ExtensionRepo (REPO/PATH), with its description and the "
        "Extensions that install it. TERM matches names and descriptions, whatever the case.",
        epilog="examples:\n  kubectl tilt search\n  kubectl tilt search cancel\n  kubectl tilt search -o yaml",
    )
    search.add_argument("term", nargs="?", default="", metavar="TERM", help="only what mentions TERM")
    search.add_argument("-o", "--output", choices=("yaml", "json"), help="print the entries as YAML or JSON")
    search.set_defaults(run=_search)
    show = commands.add_parser(
        "show",
        help="print an extension's README and where it is on disk",
        epilog="example: kubectl tilt show default/cancel",
    )
    show.add_argument("target", metavar="REPO/PATH", help="the extension, as `kubectl tilt search` lists it")
    show.set_defaults(run=_show)


def _search(options: argparse.Namespace) -> None:
    entries = catalogue.listing(kube.list_objects(EXTENSION_REPO), kube.list_objects(EXTENSION))
    found = [entry for entry in entries if catalogue.matches(entry, options.term)]
    if output.dump(found, options.output):
        return
    if not found:
        print("No extensions found" + (f" matching {options.term!r}" if options.term else ""), file=sys.stderr)
    else:
        rows = [
            (
                f"{entry['repo']}/{entry['path']}",
                clip(entry["description"], _DESCRIPTION_WIDTH),
                ",".join(entry["installed"]),
            )
            for entry in found
        ]
        print(table.format_table(rows, HEADER))


def _show(options: argparse.Namespace) -> None:
    repo, slash, path = options.target.partition("/")
    if not slash or not repo or not path:
        raise CLIError(f"{options.target!r} is not REPO/PATH, as in default/cancel")
    query = urllib.parse.urlencode({"repo": repo, "path": path})
    with server() as reached, request(f"{reached.url}/api/catalogue/readme?{query}") as response:
        found = json.load(response)
    print(f"{repo}/{path}")
    print(f"path: {found['directory']}")
    print()
    readme = found.get("readme")
    print(readme.rstrip("\n") if readme is not None else "(no README)")
