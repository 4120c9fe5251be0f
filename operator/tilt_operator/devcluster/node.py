"""A real node for the local cluster: a kubelet, containerd and runc to run its pods, kube-proxy for Services.

The node is this machine. Its pods live on a bridge of their own (``POD_CIDR``) whose address is
their gateway; the API server listens on that address (a cluster started with ``workloads=True``),
so the ``kubernetes`` Service that kube-proxy routes reaches it, and nothing of the pod network
leaves this machine. Images come from OCI archives (tilt_operator.devcluster.images): no registry
is pulled from. Every file lives under ``<state dir>/node``, and every pod in the node's own cgroup
tree (``CGROUP_ROOT``); the kubelet makes no iptables chains. On exit the node drains, stops its
processes and what containerd still runs, and its claim on the machine puts back everything else
it changed there, and nothing it did not make (tilt_operator.devcluster.machine). Needs root, like
any kubelet.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tilt_operator import timestamps
from tilt_operator.devcluster.binaries import Binaries
from tilt_operator.devcluster.cluster import DevCluster, free_port, spawn, terminate, write_kubeconfig
from tilt_operator.devcluster.images import Image
from tilt_operator.devcluster.machine import BRIDGE, CGROUP_ROOT, claimed
from tilt_operator.devcluster.pki import NODE_NAME, POD_CIDR, POD_GATEWAY

# containerd's namespace for what the kubelet runs (CRI).
_CRI_NAMESPACE = "k8s.io"
# containerd's socket in the node's directory; its shims are started with `-address <it>`.
_CONTAINERD_SOCKET = "containerd.sock"
# Longer than the operator's own grace period (30 s), which it never needs whole.
_DRAIN_TIMEOUT = 45.0


# What the node and the image build run, and the Debian package each comes from.
_TOOLS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "iptables": "iptables",
    "ip": "iproute2",
    "debootstrap": "debootstrap",
    "podman": "podman",
    "buildah": "buildah",
}


def unmet_needs() -> str | None:
    """Why a node cannot start on this machine (not root, packages missing), or None."""
    if os.geteuid() != 0:
        return "a node needs root: its kubelet, containerd and the image build with buildah run as root"
    missing = sorted({package for tool, package in _TOOLS.items() if not shutil.which(tool)})
    if missing:
        return f"a node needs these packages: {' '.join(missing)} (bash hack/bootstrap.sh node installs them)"
    return None


@dataclass
class Node:
    """One kubelet, with its containerd and kube-proxy, registered to ``cluster`` as ``NODE_NAME``."""

    cluster: DevCluster
    images: list[Image]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # When its kubelet started (to the second, as Kubernetes writes times).
    kubelet_started: datetime.datetime | None = None

    @staticmethod
    def directory_in(state_dir: Path) -> Path:
        return state_dir / "node"

    @property
    def directory(self) -> Path:
        return self.directory_in(self.cluster.state_dir)

    @property
    def socket(self) -> Path:
        return self.directory / _CONTAINERD_SOCKET

    @property
    def binaries(self) -> Binaries:
        return self.cluster.binaries

    def start(self, timeout: float = 120.0) -> None:
        """Start containerd, import the images, start the kubelet and kube-proxy; return when the node is Ready."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            containerd = Path(shutil.which("containerd") or "containerd")
            self._spawn("containerd", containerd, ["--config", str(self._containerd_config())])
            self._wait_for(lambda: self._ctr("version", check=False).returncode == 0, "containerd", timeout)
            for image in self.images:
                self._ctr("images", "import", str(image.archive))
            pki = self.cluster.pki
            kubelet_kubeconfig = self.directory / "kubelet.kubeconfig"
            write_kubeconfig(kubelet_kubeconfig, self.cluster.server, pki.ca.cert, pki.kubelet, "kubelet")
            proxy_kubeconfig = self.directory / "kube-proxy.kubeconfig"
            write_kubeconfig(proxy_kubeconfig, self.cluster.server, pki.ca.cert, pki.kube_proxy, "kube-proxy")
            self.kubelet_started = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
            self._spawn(
                "kubelet",
                self.binaries.kubelet,
                [
                    f"--config={self._kubelet_config()}",
                    f"--kubeconfig={kubelet_kubeconfig}",
                    f"--root-dir={self.directory / 'kubelet'}",
                    f"--cert-dir={self.directory / 'kubelet-pki'}",
                    f"--hostname-override={NODE_NAME}",
                    f"--node-ip={POD_GATEWAY}",
                ],
            )
            self._spawn("kube-proxy", self.binaries.kube_proxy, [f"--config={self._proxy_config(proxy_kubeconfig)}"])
            self._wait_for(self._ready, f"node {NODE_NAME}", timeout)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        """Ready as this kubelet said it, and schedulable: the node lifecycle controller has lifted the
        taint it registered with.

        A Ready that a kubelet before this one reported (a node killed moments ago) does not count:
        this one is Ready only once it has set up the machine (its kernel settings among it).
        """
        ready = '{.status.conditions[?(@.type=="Ready")]'
        found = self.cluster.kubectl(
            "get",
            "node",
            NODE_NAME,
            "-o",
            f"jsonpath={ready}.status}} {ready}.lastHeartbeatTime}} {{.spec.taints}}",
            check=False,
        )
        status, _, rest = found.stdout.partition(" ")
        heartbeat, _, taints = rest.partition(" ")
        return (
            status == "True"
            and not taints.strip()
            and self.kubelet_started is not None
            and timestamps.parse(heartbeat) >= self.kubelet_started
        )

    def tag(self, image: Image, name: str) -> None:
        """Give an imported image another name, such as the one the manifests use (``tilt-operator:dev``)."""
        self._ctr("images", "tag", "--force", image.ref, name)

    def _containerd_config(self) -> Path:
        cni = self.directory / "cni"
        cni.mkdir(exist_ok=True)
        network = {
            "cniVersion": "1.0.0",
            "name": "tilt-dev",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.directory / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (cni / "10-tilt-dev.conflist").write_text(json.dumps(network, indent=2))
        cri = {
            "sandbox_image": self.images[0].ref,
            # Pods never rank below this machine's own processes for the OOM killer: the kubelet
            # asks for -998 for every sandbox, which some kernels refuse (EIO) and which would
            # outrank the developer's own programs.
            "restrict_oom_score_adj": True,
            "netns_mounts_under_state_dir": True,
            "cni": {"bin_dir": "/usr/lib/cni", "conf_dir": str(cni)},
            "containerd": {
                "snapshotter": "overlayfs",
                # runc's own state under the node's directory too, not the machine's /run.
                "runtimes": {
                    "runc": {"runtime_type": "io.containerd.runc.v2", "options": {"Root": str(self.directory / "runc")}}
                },
            },
        }
        config = self.directory / "containerd.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.directory / "containerd"}"\n'
            f'state = "{self.directory / "containerd-state"}"\n'
            f'[grpc]\naddress = "{self.socket}"\n'
            f'[ttrpc]\naddress = "{self.directory / "containerd-ttrpc.sock"}"\n'
            '[plugins."io.containerd.grpc.v1.cri"]\n' + _toml(cri, 'plugins."io.containerd.grpc.v1.cri"')
        )
        return config

    def _kubelet_config(self) -> Path:
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # This machine's kernel may still mount cgroup v1, which the kubelet refuses by default.
            "failCgroupV1": False,
            "failSwapOn": False,
            "cgroupDriver": "cgroupfs",
            # Its pods in a cgroup tree of the node's own, never beside another cluster's kubepods.
            "cgroupRoot": f"/{CGROUP_ROOT}",
            # No chains of the kubelet's own (KUBE-FIREWALL, KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY):
            # they are machine-wide, and the node's pods need none of them.
            "makeIPTablesUtilChains": False,
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "address": POD_GATEWAY,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzPort": 0,
            # Only the API server talks to the kubelet: by certificate, authorised through the API server.
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.cluster.pki.ca.cert)},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDomain": "cluster.local",
            "podLogsDir": str(self.directory / "pod-logs"),
            "volumePluginDir": str(self.directory / "volume-plugins"),
            # Images cannot be pulled again here: never collect them, never evict for a full disk.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "registerNode": True,
            "rotateCertificates": False,
            # The kubelet's own OOM score: left as it is, as its pods' are (restrict_oom_score_adj).
            "oomScoreAdj": 0,
        }
        path = self.directory / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _proxy_config(self, kubeconfig: Path) -> Path:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "hostnameOverride": NODE_NAME,
            "clusterCIDR": POD_CIDR,
            "bindAddress": POD_GATEWAY,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # Leave the machine's conntrack settings, localhost routing and kube-proxy's OOM score alone.
            "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
            "oomScoreAdj": 0,
        }
        path = self.directory / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", _CRI_NAMESPACE, *args],
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def _spawn(self, name: str, binary: Path, args: list[str]) -> None:
        log = self.cluster.state_dir / "logs" / f"{name}.log"
        self.processes[name] = spawn(binary, args, log, self.directory)

    def _wait_for(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}; see {self.cluster.state_dir / 'logs'}"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Drain the node, stop the kubelet and kube-proxy, then whatever containerd still runs, then containerd.

        What the node changed on the machine is put back when its claim ends (``cluster_with_node``).
        """
        if self.processes.get("kubelet") and self._ready():
            self._drain()
        for name in ("kubelet", "kube-proxy"):
            self._terminate(name)
        if "containerd" in self.processes:
            self._remove_containers()
            self._terminate("containerd")

    def _drain(self) -> None:
        """As a node is drained: no new pods, and the kubelet stops each one its own way (its network
        torn down by CNI, its containers removed), within the pods' grace periods."""
        self.cluster.kubectl("cordon", NODE_NAME, check=False)
        self.cluster.kubectl(
            "delete",
            "pods",
            "--all-namespaces",
            f"--field-selector=spec.nodeName={NODE_NAME}",
            f"--timeout={_DRAIN_TIMEOUT:.0f}s",
            check=False,
        )

    def _remove_containers(self) -> None:
        """Kill and delete every task and container containerd still runs for the kubelet (after a failed drain)."""
        tasks = self._ctr("tasks", "list", "--quiet", check=False).stdout.split()
        for task in tasks:
            self._ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task, check=False)
        for task in tasks:
            self._ctr("tasks", "delete", "--force", task, check=False)
        containers = self._ctr("containers", "list", "--quiet", check=False).stdout.split()
        if containers:
            self._ctr("containers", "delete", *containers, check=False)

    def _terminate(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            terminate(process)

    def __enter__(self) -> Node:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()


def _toml(table: dict[str, object], prefix: str) -> str:
    """containerd's CRI settings as TOML: scalars and lists first, then each sub-table under its dotted name."""
    lines, tables = [], []
    for key, value in table.items():
        if isinstance(value, dict):
            tables.append(f"[{prefix}.{key}]\n" + _toml(value, f"{prefix}.{key}"))
        else:
            lines.append(f"{key} = {json.dumps(value)}\n")
    return "".join(lines) + "".join(tables)


@contextlib.contextmanager
def cluster_with_node(binaries: Binaries, state_dir: Path, images: list[Image]) -> Iterator[Node]:
    """A cluster for workloads with its node Ready, the images imported (the pause image first).

    Once the node is up, its claim writes down the kernel settings it set: only those are put back.
    """
    directory = Node.directory_in(state_dir)
    with (
        claimed(directory, directory / _CONTAINERD_SOCKET) as claim,
        DevCluster(binaries, state_dir, workloads=True) as cluster,
        Node(cluster, images) as node,
    ):
        claim.up()
        yield node
