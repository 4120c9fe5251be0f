"""``tilt-operator dev``: a local cluster with the CRDs, for the operator to run on, with no cluster of yours needed.

Everything a person needs to try the operator on a machine without Docker, in one command that
cleans up after itself on Ctrl-C; the CLI runs the operator inside this context. With ``--node``
the cluster gets a real node (tilt_operator.devcluster.node) and the operator runs as users deploy
it: the image built from the Dockerfile, under the name the manifests use, and ``kubectl apply -k
manifests/``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tilt_operator.config import DEFAULT_NAMESPACE, xdg_dir
from tilt_operator.devcluster.binaries import ensure_binaries, ensure_helm, repo_root
from tilt_operator.devcluster.cluster import DevCluster
from tilt_operator.devcluster.images import Image, ensure_image, pause_image
from tilt_operator.devcluster.node import Node, cluster_with_node

# The image the Deployment in manifests/ names, as containerd spells it.
MANIFEST_IMAGE = "docker.io/library/tilt-operator:dev"


def default_state_dir() -> Path:
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "tilt-operator" / "devcluster"


def link_programs(cluster: DevCluster, helm: Path | None = None) -> Path:
    """Put the cluster's kubectl, and ``helm`` when given, in ``state_dir/bin`` so one PATH entry
    serves every version."""
    bin_dir = cluster.bin_dir
    bin_dir.mkdir(exist_ok=True)
    for name, program in {"kubectl": cluster.binaries.kubectl, "helm": helm}.items():
        link = bin_dir / name
        link.unlink(missing_ok=True)
        if program is not None:
            link.symlink_to(program)
    return bin_dir


def install_extension_identity(cluster: DevCluster) -> None:
    """The operator's namespace, where the Secrets of private repos go, and the ServiceAccount
    extensions act as by default (with the Tilt API only), as manifests/ installs them."""
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {DEFAULT_NAMESPACE}}}\n"
    cluster.kubectl("apply", "-f", "-", stdin=namespace)
    cluster.kubectl("apply", "-f", str(repo_root() / "manifests" / "extension-identity.yaml"))


def install_api(cluster: DevCluster) -> None:
    """What an operator needs of a new cluster: the CRDs, its namespace and the account extensions act as."""
    cluster.install_crds(repo_root() / "crds")
    install_extension_identity(cluster)


def deploy_operator(node: Node, image: Image) -> None:
    """The operator as users deploy it: ``image`` under the name manifests/ uses, then ``kubectl apply -k``."""
    node.tag(image, MANIFEST_IMAGE)
    node.cluster.kubectl("apply", "-k", str(repo_root() / "manifests"))


@contextmanager
def _started(state_dir: Path, node: bool) -> Iterator[DevCluster]:
    binaries = ensure_binaries()
    if not node:
        with DevCluster(binaries, state_dir) as cluster:
            yield cluster
        return
    image = ensure_image(binaries)
    with cluster_with_node(binaries, state_dir, [pause_image(), image]) as started:
        started.cluster.install_crds(repo_root() / "crds")
        deploy_operator(started, image)
        yield started.cluster


@contextmanager
def dev_cluster(state_dir: Path, dashboard: str | None = None, node: bool = False) -> Iterator[DevCluster]:
    """A running local cluster with the CRDs and the operator's namespace; stopped on exit.

    ``dashboard`` is the address the operator will serve at, to print with the hints; with
    ``node``, the operator is deployed onto the cluster's node from manifests/ instead. Without
    it, the operator runs here with helm on its PATH, for Tilt's helm() (the image has none).
    """
    helm = None if node else ensure_helm()
    with _started(state_dir, node) as cluster:
        install_api(cluster)
        bin_dir = link_programs(cluster, helm)
        host, _, port = (dashboard or "").rpartition(":")
        print(
            f"\nlocal cluster ready at {cluster.server}; in another shell:\n"
            f"  export KUBECONFIG={cluster.kubeconfig} PATH={bin_dir}:$PATH\n"
            "  kubectl get tilt\n"
            + ("  kubectl get pods -n tilt-operator   # the operator, deployed from manifests/\n" if node else "")
            + (f"dashboard: http://{host}:{port}/ (kubectl tilt ui opens it)\n" if dashboard else ""),
            file=sys.stderr,
            flush=True,
        )
        yield cluster
