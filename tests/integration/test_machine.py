"""A node's claim on this machine: one node at a time, never beside another cluster, and what it
made is put back, whoever stopped it, and nothing else.

These run the claim for real (the bridge, the lock, cgroups, iptables, the kernel's settings and
mounts), as root, without a kubelet: a node's own processes are stand-ins, a pod moved into its
cgroup tree and a shim started with its containerd's ``-address``, and its chain is made as
kube-proxy makes one. Another cluster is a stand-in too: a pod in the ``kubepods`` cgroup its
kubelet makes, under another root than the node's, the ``KUBE-FIREWALL`` chain it makes, a kernel
setting changed after the node started, a process called ``kubelet``.
tests/integration/test_dev.py kills a whole node and starts the next.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tilt_operator.devcluster.machine import BRIDGE, CGROUP_ROOT, CLAIM_DIR, Refused, claimed, read_sysctls
from tilt_operator.devcluster.node import unmet_needs
from tilt_operator.processes import alive

PANIC = Path("/proc/sys/kernel/panic")
OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")
# The chain a stand-in node makes, as kube-proxy makes one per Service, and a rule into it.
NODE_CHAIN = "KUBE-SVC-TESTNODE"
# The chain every kubelet makes (the node's kube-proxy makes it too, when it is not there).
FOREIGN_CHAIN = "KUBE-FIREWALL"

# A node that sets what a kubelet sets, makes what a node makes, says which of its processes run,
# then is killed, or stops with one of them stuck: itself, in its own cgroup tree.
NODE = f"""
import os, signal, subprocess, sys
from pathlib import Path
from tilt_operator.devcluster.machine import CGROUP_ROOT, claimed
directory, hierarchy, ending = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
socket = directory / "containerd.sock"
with claimed(directory, socket) as claim:
    Path("/proc/sys/kernel/panic").write_text("10")
    claim.up()
    (directory / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(directory / "mnt")], check=True)
    subprocess.run(["iptables", "-N", "{NODE_CHAIN}"], check=True)
    subprocess.run(["iptables", "-A", "OUTPUT", "-d", "203.0.113.1/32", "-j", "{NODE_CHAIN}"], check=True)
    shim = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()", "-address", str(socket)])
    pod = subprocess.Popen(["sleep", "infinity"])
    pods = hierarchy / CGROUP_ROOT / "kubepods" / "pod-test"
    pods.mkdir(parents=True)
    (pods / "cgroup.procs").write_text(str(pod.pid))
    print(shim.pid, pod.pid, flush=True)
    if ending == "killed":
        signal.pause()
    (hierarchy / CGROUP_ROOT / "cgroup.procs").write_text(str(os.getpid()))
"""


@pytest.fixture(autouse=True)
def as_root() -> None:
    unmet = unmet_needs()
    if unmet:
        pytest.fail(f"{unmet}; run the tests as root (CI does)")


def bridge_exists() -> bool:
    return subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0


def hierarchy() -> Path:
    """A cgroup hierarchy to put processes in: cgroup v1's pids, or the one of v2."""
    pids = Path("/sys/fs/cgroup/pids")
    return pids if (pids / "cgroup.procs").exists() else Path("/sys/fs/cgroup")


def node_cgroups() -> list[Path]:
    """The node's cgroup tree, at the top of each hierarchy that has it."""
    tops = [Path("/sys/fs/cgroup") / CGROUP_ROOT, *Path("/sys/fs/cgroup").glob(f"*/{CGROUP_ROOT}")]
    return [top for top in tops if top.is_dir()]


def iptables(*args: str) -> str:
    return subprocess.run(["iptables", *args], capture_output=True, text=True, check=True).stdout


def chains() -> set[str]:
    return {line.split()[1] for line in iptables("-S").splitlines() if line.startswith("-N ")}


def mounted(directory: Path) -> bool:
    return str(directory) in Path("/proc/self/mountinfo").read_text()


def dev_clean() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tilt_operator", "dev", "--clean"], capture_output=True, text=True, timeout=120
    )


@dataclass
class KilledNode:
    pid: int
    directory: Path
    shim: int
    pod: int


def kill_a_node(directory: Path) -> KilledNode:
    """A node that made all it makes, then was killed: all of it still there."""
    node = subprocess.Popen(
        [sys.executable, "-c", NODE, str(directory), str(hierarchy()), "killed"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert node.stdout is not None
        shim, pod = map(int, node.stdout.readline().split())
    finally:
        node.send_signal(signal.SIGKILL)
        node.wait()
    assert bridge_exists()
    assert PANIC.read_text().strip() == "10"
    assert alive(shim)
    assert alive(pod)
    assert mounted(directory)
    assert NODE_CHAIN in chains()
    return KilledNode(node.pid, directory, shim, pod)


def test_a_second_node_is_refused_while_one_runs_and_names_it(tmp_path: Path) -> None:
    with claimed(tmp_path / "first", tmp_path / "first" / "containerd.sock") as first:
        assert bridge_exists()
        with (
            pytest.raises(Refused, match=rf"a local node already runs on this machine \(pid {first.record.pid}, in "),
            claimed(tmp_path / "second", tmp_path / "second" / "containerd.sock"),
        ):
            pass
        assert bridge_exists(), "the refused node took nothing from the running one"
    assert not bridge_exists()


def test_the_next_node_puts_back_what_a_killed_one_changed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    before = read_sysctls()
    killed = kill_a_node(tmp_path / "killed" / "node")

    with claimed(tmp_path / "next" / "node", tmp_path / "next" / "node" / "containerd.sock"):
        err = capfd.readouterr().err
        assert f"a node that was killed (pid {killed.pid}, in {killed.directory}) left things behind" in err
        assert not alive(killed.shim), "its containerd's shim is stopped"
        assert not alive(killed.pod), "and its pod"
        assert not mounted(killed.directory), "what it mounted is unmounted"
        assert NODE_CHAIN not in chains(), "the chain it made is removed"
        assert PANIC.read_text().strip() == before["kernel/panic"], "the setting it made is put back"
        assert bridge_exists(), "the next node has a bridge of its own"
    assert not bridge_exists()
    assert node_cgroups() == []
    assert read_sysctls() == before


def test_dev_clean_puts_back_what_a_killed_node_left_and_says_what(tmp_path: Path) -> None:
    before = read_sysctls()
    killed = kill_a_node(tmp_path / "node")

    cleaned = dev_clean()
    assert cleaned.returncode == 0, cleaned.stderr
    settings = [
        f"put back {name.replace('/', '.')} = {before[name]}"
        for name, node in (("kernel/panic", "10"), ("net/ipv4/ip_forward", "1"))
        if before[name] != node
    ]
    assert cleaned.stdout.splitlines() == [
        f"a node that was killed (pid {killed.pid}, in {killed.directory}) left things behind: putting them back",
        "stopped 2 processes: its pods and its containerd's shims",
        f"unmounted 1 mount under {killed.directory}",
        "removed 1 iptables chain the node made",
        f"removed its cgroup tree {CGROUP_ROOT}",
        f"deleted the bridge {BRIDGE}",
        *settings,
    ]
    assert not alive(killed.shim)
    assert not alive(killed.pod)
    assert not mounted(killed.directory)
    assert NODE_CHAIN not in chains()
    assert node_cgroups() == []
    assert not bridge_exists()
    assert read_sysctls() == before

    again = dev_clean()
    assert (again.returncode, again.stdout) == (0, f"nothing to put back: no node left a record in {CLAIM_DIR}\n")


def test_every_step_of_a_stop_runs_when_one_fails_and_dev_clean_finishes(tmp_path: Path) -> None:
    before = read_sysctls()
    stuck = hierarchy() / CGROUP_ROOT
    node = subprocess.run(
        [sys.executable, "-c", NODE, str(tmp_path / "node"), str(hierarchy()), "stuck"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert node.returncode == 1
    assert f"removing its cgroups: could not remove {stuck}: Device or resource busy" in node.stderr
    assert not bridge_exists(), "the steps after the failed one ran"
    assert read_sysctls() == before
    assert NODE_CHAIN not in chains()

    cleaned = dev_clean()
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.splitlines()[1:] == [f"removed its cgroup tree {CGROUP_ROOT}"], cleaned.stdout
    assert node_cgroups() == []


@dataclass
class Foreign:
    """Another cluster's pod, its kubelet's chain and rules, on this machine."""

    pod: subprocess.Popen[bytes]
    cgroup: Path
    rules: list[str]


@pytest.fixture
def foreign() -> Iterator[Foreign]:
    """A pod where a kubelet with the cgroupfs driver puts it, and the chain every kubelet makes."""
    cgroup = hierarchy() / "kubepods" / "besteffort" / "pod-foreign"
    made = [path for path in (cgroup.parent.parent, cgroup.parent, cgroup) if not path.exists()]
    cgroup.mkdir(parents=True)
    pod = subprocess.Popen(["sleep", "infinity"])
    rules = [["OUTPUT", "-j", FOREIGN_CHAIN], [FOREIGN_CHAIN, "-d", "203.0.113.2/32", "-j", "DROP"]]
    try:
        (cgroup / "cgroup.procs").write_text(str(pod.pid))
        iptables("-N", FOREIGN_CHAIN)
        for rule in rules:
            iptables("-A", *rule)
        yield Foreign(pod, cgroup, [shlex.join(["-A", *rule]) for rule in rules])
    finally:
        pod.kill()
        pod.wait()
        subprocess.run(["iptables", "-D", *rules[0]], capture_output=True)
        subprocess.run(["iptables", "-F", FOREIGN_CHAIN], capture_output=True)
        subprocess.run(["iptables", "-X", FOREIGN_CHAIN], capture_output=True)
        for directory in reversed(made):
            directory.rmdir()


def test_a_nodes_stop_leaves_another_clusters_pod_chain_and_changed_setting_alone(
    tmp_path: Path, foreign: Foreign
) -> None:
    before = read_sysctls()
    someone_elses = next(value for value in ("30", "31") if value != before["kernel/panic"])
    directory = tmp_path / "node"
    pod = subprocess.Popen(["sleep", "infinity"])
    try:
        with claimed(directory, directory / "containerd.sock") as claim:
            pods = hierarchy() / CGROUP_ROOT / "kubepods" / "pod-test"
            pods.mkdir(parents=True)
            (pods / "cgroup.procs").write_text(str(pod.pid))
            iptables("-N", NODE_CHAIN)
            iptables("-A", "OUTPUT", "-d", "203.0.113.1/32", "-j", NODE_CHAIN)
            PANIC.write_text("10")  # as the kubelet sets both
            OVERCOMMIT.write_text("1")
            claim.up()
            PANIC.write_text(someone_elses)  # and then someone else sets one again

        assert not alive(pod.pid), "the node's pod is stopped"
        assert node_cgroups() == []
        assert NODE_CHAIN not in chains()
        assert OVERCOMMIT.read_text().strip() == before["vm/overcommit_memory"], "what the node set is put back"

        assert alive(foreign.pod.pid), "the other cluster's pod runs on"
        assert str(foreign.pod.pid) in (foreign.cgroup / "cgroup.procs").read_text().split()
        assert set(foreign.rules) <= set(iptables("-S").splitlines()), "its chain and rules stay"
        assert PANIC.read_text().strip() == someone_elses, "a setting changed since is someone else's"
    finally:
        pod.kill()
        pod.wait()
        PANIC.write_text(before["kernel/panic"])


@contextmanager
def running_as(name: str, directory: Path) -> Iterator[int]:
    """A process whose command is called ``name``, as another cluster's would be; its pid."""
    binary = directory / name
    shutil.copy("/bin/sleep", binary)
    other = subprocess.Popen([str(binary), "infinity"])
    try:
        yield other.pid
    finally:
        other.kill()
        other.wait()


def refusal(name: str, pid: int) -> str:
    return (
        f"a {name} that is not this node's runs on this machine (pid {pid}): a node beside another cluster "
        "would change the iptables chains and kernel settings that cluster uses; stop it first"
    )


def test_dev_node_refuses_to_start_beside_another_clusters_kubelet_and_says_why(tmp_path: Path) -> None:
    with running_as("kubelet", tmp_path) as kubelet:
        refused = subprocess.run(
            [sys.executable, "-m", "tilt_operator", "dev", "--node", "--state-dir", str(tmp_path / "state")],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1] == f"tilt-operator dev --node: {refusal('kubelet', kubelet)}"
    assert not bridge_exists()
    assert node_cgroups() == []
    assert not (CLAIM_DIR / "node.json").exists()


def test_a_node_refuses_to_start_beside_another_clusters_kube_proxy(tmp_path: Path) -> None:
    with (
        running_as("kube-proxy", tmp_path) as kube_proxy,
        pytest.raises(Refused, match=f"^{re.escape(refusal('kube-proxy', kube_proxy))}$"),
        claimed(tmp_path / "node", tmp_path / "node" / "containerd.sock"),
    ):
        pass
    assert not bridge_exists()


@pytest.mark.parametrize(
    ("make", "remove", "said"),
    [
        pytest.param(
            ["iptables", "-t", "nat", "-N", "KUBE-SERVICES"],
            ["iptables", "-t", "nat", "-X", "KUBE-SERVICES"],
            "another cluster's kube-proxy has its chain KUBE-SERVICES on this machine (iptables nat)",
            id="iptables",
        ),
        pytest.param(
            ["nft", "add", "table", "ip", "kube-proxy"],
            ["nft", "delete", "table", "ip", "kube-proxy"],
            "another cluster's kube-proxy has the nftables table ip kube-proxy on this machine",
            id="nftables",
        ),
    ],
)
def test_a_node_refuses_to_start_beside_the_rules_of_another_clusters_kube_proxy(
    tmp_path: Path, make: list[str], remove: list[str], said: str
) -> None:
    subprocess.run(make, check=True)
    try:
        with (
            pytest.raises(Refused, match="^" + re.escape(said)),
            claimed(tmp_path / "node", tmp_path / "node" / "containerd.sock"),
        ):
            pass
    finally:
        subprocess.run(remove, check=True)
    assert not bridge_exists()
