"""``tilt-operator dev``: a local cluster with the CRDs, for the operator to run on, with no cluster of yours needed.

Everything a person needs to try the operator on a machine without Docker, in one command that
cleans up after itself on Ctrl-C; the CLI runs the operator inside this context.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tilt_operator.config import DEFAULT_NAMESPACE, xdg_dir
from tilt_operator.devcluster.binaries import ensure_binaries, repo_root
from tilt_operator.devcluster.cluster import DevCluster


def default_state_dir() -> Path:
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "tilt-operator" / "devcluster"


def link_kubectl(cluster: DevCluster) -> Path:
    """Put the cluster's kubectl in ``state_dir/bin`` so one PATH entry serves every version."""
    bin_dir = cluster.bin_dir
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "kubectl"
    link.unlink(missing_ok=True)
    link.symlink_to(cluster.binaries.kubectl)
    return bin_dir


@contextmanager
def dev_cluster(state_dir: Path, dashboard: str | None = None) -> Iterator[DevCluster]:
    """A running local cluster with the CRDs and the operator's namespace; stopped on exit.

    ``dashboard`` is the address the operator will serve at, to print with the hints.
    """
    with DevCluster(ensure_binaries(), state_dir) as cluster:
        cluster.install_crds(repo_root() / "crds")
        # The operator's namespace, where the Secrets of private repos go, as in a cluster.
        cluster.kubectl(
            "apply", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {DEFAULT_NAMESPACE}}}\n"
        )
        bin_dir = link_kubectl(cluster)
        host, _, port = (dashboard or "").rpartition(":")
        print(
            f"\nlocal cluster ready at {cluster.server}; in another shell:\n"
            f"  export KUBECONFIG={cluster.kubeconfig} PATH={bin_dir}:$PATH\n"
            "  kubectl get tilt\n"
            + (f"dashboard: http://{host}:{port}/ (kubectl tilt ui opens it)\n" if dashboard else ""),
            file=sys.stderr,
            flush=True,
        )
        yield cluster
