"""``kubectl tilt ui``: open the dashboard in a browser, as ``tilt up`` offers to.

An operator on this machine serves it already: this prints its address and opens it. One in
the cluster is reached through ``kubectl port-forward`` (:mod:`~tilt_operator.cli.reach`), which
this keeps open, printing where, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import threading
import webbrowser
from typing import Any

from tilt_operator.cli.reach import server


def add_parser(commands: Any) -> None:
    ui = commands.add_parser(
        "ui",
        help="open the operator's dashboard in a browser",
        description="Open the dashboard: every Tiltfile, Extension and Cmd with its status, logs and buttons. "
        "An operator in the cluster is reached with kubectl port-forward, kept open until Ctrl-C.",
        epilog="examples:\n  kubectl tilt ui\n  kubectl tilt ui --no-browser",
    )
    ui.add_argument("--no-browser", action="store_true", help="only print the address")
    ui.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    try:
        with server() as reached:
            url = f"{reached.url}/"
            print(f"dashboard: {url}", flush=True)
            if not options.no_browser:
                webbrowser.open(url)
            if reached.forwarded:
                print("forwarding from the operator's pod; Ctrl-C to stop", flush=True)
                threading.Event().wait()
    except KeyboardInterrupt:
        return 130
    return 0
