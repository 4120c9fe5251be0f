"""``kubectl tilt logs``: what Cmds and Tiltfiles printed and KubernetesApplys did, as ``tilt logs`` shows it.

The operator keeps the logs and serves them (``tilt_operator.web``); this reaches its server
(:mod:`~tilt_operator.cli.reach`) and prints them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from tilt_operator import timestamps
from tilt_operator.cli.errors import CLIError
from tilt_operator.cli.reach import request, server

_SEPARATOR = " │ "


def add_parser(commands: Any) -> None:
    logs = commands.add_parser(
        "logs",
        help="print what Cmds and Tiltfiles printed, as `tilt logs` does",
        description="Print the logs of resources: a Tiltfile or Extension, the Cmds of a local_resource "
        "or the KubernetesApply of a k8s resource (their tilt.dev/resource), cmd/NAME, tf/NAME or "
        "kubernetesapply/NAME for one object. No NAME prints every log, by time.",
        epilog="examples:\n  kubectl tilt logs\n  kubectl tilt logs sleeper -f\n  kubectl tilt logs cancel --since 10m",
    )
    logs.add_argument("names", nargs="*", metavar="NAME", help="resources to show (default: all)")
    logs.add_argument("-f", "--follow", action="store_true", help="go on printing new lines until Ctrl-C")
    logs.add_argument("--tail", type=int, default=-1, metavar="N", help="only the last N lines so far")
    logs.add_argument("--since", metavar="DURATION", help="only lines newer than this, as in 30s, 5m or 1h")
    logs.add_argument("--timestamps", action="store_true", help="start each line with its time")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.set_defaults(run=run)


def run(options: argparse.Namespace) -> int:
    query: list[tuple[str, str]] = [("name", name) for name in options.names]
    if options.since:
        try:
            seconds = timestamps.parse_duration(options.since)
        except ValueError as error:
            raise CLIError(f"invalid --since: {error}") from None
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
        query.append(("since", since.strftime(timestamps.FORMAT)))
    if options.tail >= 0:
        query.append(("tail", str(options.tail)))
    if options.follow:
        query.append(("follow", "1"))
    width = 0
    try:
        with server() as reached:
            for entry in _stream(f"{reached.url}/api/logs?{urllib.parse.urlencode(query)}"):
                if options.json:
                    print(json.dumps(entry, ensure_ascii=False), flush=True)
                    continue
                width = max(width, len(entry["resource"]))
                when = f"{entry['time']} " if options.timestamps else ""
                print(f"{when}{entry['resource'].ljust(width)}{_SEPARATOR}{entry['text']}", flush=True)
    except KeyboardInterrupt:
        return 130
    return 0


def _stream(url: str) -> Iterator[dict[str, Any]]:
    with request(url) as response:
        for line in response:
            yield json.loads(line)
