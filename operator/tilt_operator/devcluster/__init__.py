"""The embedded local control plane: etcd, kube-apiserver and kube-controller-manager as processes.

With a node (``tilt-operator dev --node``), also kube-scheduler, a kubelet with containerd and
kube-proxy (``node``), its claim on the machine and how what it changed there is put back
(``machine``), and the operator's image built from the Dockerfile (``images``). And helm, for Tilt's
``helm()``, which ``tilt-operator dev`` and the tests put on the operator's PATH (``binaries``).

The operator's default way to run locally, and the cluster every integration test talks to. It is
never used by the operator in a real cluster; nothing outside this package imports from it but the
CLI and the tests.
"""

from tilt_operator.devcluster.binaries import Binaries, ensure_binaries, ensure_helm, pinned_versions
from tilt_operator.devcluster.cluster import DevCluster

__all__ = ["Binaries", "DevCluster", "ensure_binaries", "ensure_helm", "pinned_versions"]
