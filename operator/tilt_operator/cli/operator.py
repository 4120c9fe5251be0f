"""Command line: ``tilt-operator run`` (against the current kubeconfig) and ``tilt-operator dev``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

from tilt_operator.config import Settings
from tilt_operator.controllers.runner import run_operator

# Loopback unless asked otherwise: the in-cluster Deployment asks for 0.0.0.0 so its kubelet can probe.
DEFAULT_LIVENESS = "http://127.0.0.1:8080/healthz"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tilt-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the operator against the current kubeconfig (the default)")
    runner = commands.add_parser(
        "runner",
        help="start the processes extensions supply for an operator that names this socket in "
        "TILT_OPERATOR_RUNNER (the second container of its pod)",
    )
    runner.add_argument(
        "--socket",
        type=Path,
        default=os.environ.get("TILT_OPERATOR_RUNNER") or None,
        required=not os.environ.get("TILT_OPERATOR_RUNNER"),
        help="where to listen (TILT_OPERATOR_RUNNER)",
    )
    dev = commands.add_parser("dev", help="start a local control plane, install the CRDs and run the operator on it")
    dev.add_argument("--state-dir", type=Path, help="where the local cluster keeps its data and kubeconfig")
    dev.add_argument(
        "--node",
        action="store_true",
        help="add a node (kubelet, containerd, kube-proxy; needs root) and run the operator on it as users "
        "deploy it: the image built from the Dockerfile with buildah, and kubectl apply -k manifests/",
    )
    dev.add_argument(
        "--clean",
        action="store_true",
        help="put back what a local node that was killed left on this machine (processes, mounts, iptables "
        "chains, cgroups, its bridge, kernel settings), from its record in /run/tilt-operator; say what, and "
        "exit (needs root)",
    )
    run.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="for several replicas: only the holder of the Lease tilt-operator in the operator's namespace works "
        "(TILT_OPERATOR_LEADER_ELECT; off by default)",
    )
    for command in (run, dev):
        command.add_argument("--data-dir", type=Path, help="where repos are checked out (TILT_OPERATOR_DATA_DIR)")
        command.add_argument(
            "--liveness",
            default=DEFAULT_LIVENESS,
            help="kopf's liveness endpoint (default %(default)s; 'none' to turn it off)",
        )
        command.add_argument(
            "--serve",
            metavar="HOST:PORT",
            help="where the web server (logs, the dashboard) listens, on loopback only "
            "(TILT_OPERATOR_SERVE; default 127.0.0.1:10350; 'none' for no server)",
        )
        command.add_argument(
            "--exec",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="let Cmd objects run processes (TILT_OPERATOR_EXEC; off for run, on for dev)",
        )
        command.add_argument(
            "--default-service-account",
            metavar="NAME",
            help="the ServiceAccount in the operator's namespace that extensions act as when they name none "
            "(TILT_OPERATOR_DEFAULT_SERVICE_ACCOUNT; default tilt-extension)",
        )
        command.add_argument(
            "--file-root",
            action="append",
            type=Path,
            metavar="DIR",
            help="a directory under which file:// ExtensionRepos may be; repeat for more "
            "(TILT_OPERATOR_FILE_ROOTS, separated by ':'; none for run, / for dev)",
        )
    return parser


def main(argv: list[str] | None = None) -> None:
    options = _parser().parse_args(argv)
    command = options.command or "run"
    settings = Settings.from_env()
    if getattr(options, "data_dir", None):
        settings = dataclasses.replace(settings, data_dir=options.data_dir)
    exec_enabled = getattr(options, "exec", None)
    if exec_enabled is None and command == "dev":
        exec_enabled = True
    if exec_enabled is not None:
        settings = dataclasses.replace(settings, exec_enabled=exec_enabled)
    if getattr(options, "serve", None):
        settings = dataclasses.replace(settings, serve=None if options.serve == "none" else options.serve)
    if getattr(options, "default_service_account", None):
        settings = dataclasses.replace(settings, default_service_account=options.default_service_account)
    file_roots = getattr(options, "file_root", None) or (
        [Path("/")] if command == "dev" and not settings.file_roots else None
    )
    if file_roots:
        settings = dataclasses.replace(settings, file_roots=tuple(file_roots))
    if getattr(options, "leader_elect", None) is not None:
        settings = dataclasses.replace(settings, leader_elect=options.leader_elect)
    liveness = getattr(options, "liveness", DEFAULT_LIVENESS)
    liveness = None if liveness == "none" else liveness

    if command == "runner":
        from tilt_operator.runner.server import main as run_runner

        run_runner(options.socket)
        return
    if command == "dev":
        _dev_installed()
    if command == "dev" and options.clean:
        _dev_clean()
    elif command == "dev" and options.node:
        _dev_node(options.state_dir)
    elif command == "dev":
        _dev(options.state_dir, settings, liveness)
    else:
        run_operator(settings, liveness_endpoint=liveness)


def _dev_installed() -> None:
    """`tilt-operator dev` needs what the operator alone does not: say what is missing, before any traceback."""
    if importlib.util.find_spec("tilt_operator.devcluster") is None:
        raise SystemExit(
            "tilt-operator dev: this installation has no local cluster (the image ships the operator alone); "
            "run it from a clone of the repo"
        )
    if importlib.util.find_spec("cryptography") is None:
        raise SystemExit(
            "tilt-operator dev: the local cluster's certificates need the `dev` extra: "
            "pip install 'tilt-operator[dev]' (or bash hack/bootstrap.sh in a clone of the repo)"
        )


def _dev(state_dir: Path | None, settings: Settings, liveness: str | None) -> None:
    """Run the operator as a child process against the dev cluster, exactly as `run` runs against any cluster."""
    from tilt_operator.devcluster.dev import default_state_dir, dev_cluster

    with dev_cluster(state_dir or default_state_dir(), dashboard=settings.serve) as cluster:
        env = {
            **os.environ,
            # The cluster's kubectl, for the `tilt` command extension scripts run, and helm, for helm().
            "PATH": f"{cluster.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(cluster.kubeconfig),
            "TILT_OPERATOR_DATA_DIR": str(settings.data_dir),
            "TILT_OPERATOR_EXEC": "1" if settings.exec_enabled else "0",
            # One process on a developer's machine: nothing to elect.
            "TILT_OPERATOR_LEADER_ELECT": "0",
            "TILT_OPERATOR_SERVE": settings.serve or "none",
            "TILT_OPERATOR_DEFAULT_SERVICE_ACCOUNT": settings.default_service_account,
            # Local development, as Tilt: an ExtensionRepo may be any directory of this machine.
            "TILT_OPERATOR_FILE_ROOTS": os.pathsep.join(map(str, settings.file_roots)),
        }
        child = subprocess.Popen(
            [sys.executable, "-m", "tilt_operator", "run", f"--liveness={liveness or 'none'}"], env=env
        )
        # `kill` of this process stops the operator first, then the cluster (via the context).
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        try:
            child.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached the child too; a `kill -INT` of this process did not.
            child.terminate()
            child.wait()


def _dev_node(state_dir: Path | None) -> None:
    """The dev cluster with a node, the operator deployed onto it; until Ctrl-C or SIGTERM, then all of it stops."""
    from tilt_operator.devcluster.dev import default_state_dir, dev_cluster
    from tilt_operator.devcluster.machine import Refused
    from tilt_operator.devcluster.node import unmet_needs

    unmet = unmet_needs()
    if unmet:
        raise SystemExit(f"tilt-operator dev --node: {unmet}")
    # Both stop it, even where it was started in the background with SIGINT ignored.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    try:
        with dev_cluster(state_dir or default_state_dir(), node=True), contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    except Refused as refused:
        raise SystemExit(f"tilt-operator dev --node: {refused}") from None


def _dev_clean() -> None:
    """Put back what a killed node left on this machine, from its record, and say what (docs/design.md)."""
    from tilt_operator.devcluster.machine import clean

    if os.geteuid() != 0:
        raise SystemExit("tilt-operator dev --clean: needs root, as the node did")
    try:
        clean(print)
    except RuntimeError as error:
        raise SystemExit(f"tilt-operator dev --clean: {error}") from None


if __name__ == "__main__":
    main()
