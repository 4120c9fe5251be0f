"""Start and stop a local control plane: etcd, kube-apiserver and kube-controller-manager.

Each process listens on 127.0.0.1 on ports chosen free at start, so two clusters (two test
sessions, or a test session beside a developer's cluster) run side by side. The processes die
with their parent (PR_SET_PDEATHSIG), so a killed test run leaves no orphans behind.

A cluster for workloads (``workloads=True``, under a local node: tilt_operator.devcluster.node)
also runs kube-scheduler and the controllers that turn Deployments into pods, authorises the node
with the Node authorizer, and serves on the pod network's gateway so that pods reach it through
the ``kubernetes`` Service.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tilt_operator.devcluster.binaries import Binaries
from tilt_operator.devcluster.pki import POD_GATEWAY, SERVICE_CLUSTER_IP_RANGE, KeyPair, Pki, ensure_pki
from tilt_operator.processes import die_with_parent

_STOP_GRACE = 10.0
# The controllers a cluster without nodes needs: cascading deletes, namespace cleanup, service
# accounts (with their tokens) for the in-cluster RBAC tests, and the quota usage that the API
# server's ResourceQuota admission enforces.
_CONTROLLERS = (
    "garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,"
    "resourcequota-controller"
)
# What a node's pods need besides: Deployments into ReplicaSets into Pods, the CA bundle every
# pod's service-account volume projects, EndpointSlices for Services, PodDisruptionBudgets, the
# cleanup of pods whose node or owner is gone, and the node lifecycle (which lifts the not-ready
# taint a kubelet registers with once the node reports Ready).
_WORKLOAD_CONTROLLERS = (
    "deployment-controller,replicaset-controller,root-ca-certificate-publisher-controller,"
    "endpointslice-controller,pod-garbage-collector-controller,disruption-controller,node-lifecycle-controller"
)


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(binary: Path, args: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start one of the cluster's processes, its output appended to ``log``; it dies with this process.

    In a session of its own: a terminal's Ctrl-C reaches only the command that started it, which
    then stops the cluster in order (a node is drained while the API server and containerd still run).
    """
    with open(log, "ab") as output:
        return subprocess.Popen(
            [str(binary), *args],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )


def terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> None:
    """A kubeconfig with the certificates embedded by path, as kubectl and every client read it."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tilt-dev", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}],
        "contexts": [{"name": "tilt-dev", "context": {"cluster": "tilt-dev", "user": user}}],
        "current-context": "tilt-dev",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


@dataclass
class DevCluster:
    """One local control plane whose files all live in ``state_dir``.

    The etcd data and certificates are kept between starts, so objects survive a restart of the
    dev cluster as they would a restart of a real one.
    """

    binaries: Binaries
    state_dir: Path
    workloads: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    apiserver_port: int = 0
    _etcd_url: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def bin_dir(self) -> Path:
        """Where ``tilt-operator dev`` links this cluster's kubectl, for one PATH entry to serve."""
        return self.state_dir / "bin"

    @property
    def address(self) -> str:
        """Where the API server listens: loopback, or the pod network's gateway for a cluster with a node."""
        return POD_GATEWAY if self.workloads else "127.0.0.1"

    @property
    def server(self) -> str:
        return f"https://{self.address}:{self.apiserver_port}"

    @property
    def pki(self) -> Pki:
        return Pki(self.state_dir / "pki")

    def start(self, timeout: float = 120.0) -> None:
        """Start every process and return once the API server reports ready."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        pki = ensure_pki(self.state_dir / "pki")
        try:
            self._etcd_url = self._start_etcd()
            self.apiserver_port = free_port()
            self.start_apiserver(timeout)
            write_kubeconfig(self.kubeconfig, self.server, pki.ca.cert, pki.admin, "admin")
            cm_kubeconfig = self.state_dir / "controller-manager.kubeconfig"
            write_kubeconfig(cm_kubeconfig, self.server, pki.ca.cert, pki.controller_manager, "controller-manager")
            self._spawn(
                "kube-controller-manager",
                self.binaries.kube_controller_manager,
                self._controller_manager_args(pki, cm_kubeconfig),
            )
            if self.workloads:
                scheduler_kubeconfig = self.state_dir / "scheduler.kubeconfig"
                write_kubeconfig(scheduler_kubeconfig, self.server, pki.ca.cert, pki.scheduler, "scheduler")
                self._spawn(
                    "kube-scheduler",
                    self.binaries.kube_scheduler,
                    [
                        f"--kubeconfig={scheduler_kubeconfig}",
                        f"--authentication-kubeconfig={scheduler_kubeconfig}",
                        f"--authorization-kubeconfig={scheduler_kubeconfig}",
                        "--leader-elect=false",
                        "--bind-address=127.0.0.1",
                        f"--secure-port={free_port()}",
                    ],
                )
        except BaseException:
            self.stop()
            raise

    def start_apiserver(self, timeout: float = 120.0) -> None:
        """Start kube-apiserver on the cluster's port and wait until it reports ready (again, after a stop)."""
        self._spawn("kube-apiserver", self.binaries.kube_apiserver, self._apiserver_args(self.pki, self._etcd_url))
        self._wait_ready(self.pki, timeout)

    def kill_apiserver(self) -> None:
        """Kill kube-apiserver alone: an outage, as its clients see one when it crashes."""
        process = self.processes.pop("kube-apiserver")
        process.kill()
        process.wait()

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the cluster's own kubectl against it, as a user would."""
        result = subprocess.run(
            [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            input=stdin,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def install_crds(self, crds_dir: Path, timeout: float = 60.0) -> None:
        """Apply every CRD in ``crds_dir`` and wait until the API server serves them."""
        applied = self.kubectl("apply", "--server-side", "--force-conflicts", "-o", "name", "-k", str(crds_dir))
        self.kubectl("wait", "--for=condition=Established", f"--timeout={timeout:.0f}s", *applied.stdout.split())

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._spawn(
            "etcd",
            self.binaries.etcd,
            [
                "--name=default",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                # A development cluster trades durability on power loss for speed.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        return client_url

    def _apiserver_args(self, pki: Pki, etcd_url: str) -> list[str]:
        workloads = [
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={pki.kubelet_client.cert}",
            f"--kubelet-client-key={pki.kubelet_client.key}",
            # The node's name resolves nowhere; its address is the pod network's gateway.
            "--kubelet-preferred-address-types=InternalIP",
        ]
        return [
            f"--etcd-servers={etcd_url}",
            f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={self.state_dir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.apiserver.cert}",
            f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.ca.cert}",
            *(workloads if self.workloads else ["--authorization-mode=RBAC"]),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--profiling=false",
        ]

    def _controller_manager_args(self, pki: Pki, kubeconfig: Path) -> list[str]:
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--controllers={_CONTROLLERS},{_WORKLOAD_CONTROLLERS}"
            if self.workloads
            else f"--controllers={_CONTROLLERS}",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca.cert}",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={self.state_dir / 'controller-manager-certs'}",
        ]

    def _spawn(self, name: str, binary: Path, args: list[str]) -> None:
        self.processes[name] = spawn(binary, args, self.state_dir / "logs" / f"{name}.log", self.state_dir)

    def _wait_ready(self, pki: Pki, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {self.state_dir / 'logs'}")
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = str(error)
            time.sleep(0.2)
        raise TimeoutError(f"kube-apiserver not ready after {timeout:.0f}s: {last_error}")

    def stop(self) -> None:
        """Stop every process, newest first: SIGTERM, then SIGKILL after a grace period."""
        for name in reversed(list(self.processes)):
            terminate(self.processes.pop(name))

    def __enter__(self) -> DevCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
