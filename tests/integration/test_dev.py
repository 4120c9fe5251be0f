"""`tilt-operator dev`, the embedded default, as a developer runs it: a cluster, the CRDs and the operator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import eventually
from tests.integration.test_machine import bridge_exists
from tilt_operator.devcluster.cluster import free_port
from tilt_operator.devcluster.machine import read_sysctls
from tilt_operator.processes import alive


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                address, port = local.split(":")
                found.add((_address(address, width), int(port, 16)))
    return found


def _address(hex_address: str, width: int) -> str:
    if width == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return "::" if int(hex_address, 16) == 0 else hex_address


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


def start_dev(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`tilt-operator dev ARGS` in a session of its own, as a terminal would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "tilt_operator", "dev", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def read_until(dev: subprocess.Popen[str], marker: str) -> list[str]:
    """What dev printed, up to and including the first line with ``marker`` (which it must print)."""
    output: list[str] = []
    assert dev.stdout is not None
    for line in dev.stdout:
        output.append(line)
        if marker in line:
            return output
    raise AssertionError(f"dev exited with {dev.wait()} before printing {marker!r}:\n{''.join(output)}")


def test_dev_runs_a_cluster_and_an_operator_that_listens_on_loopback_only(tmp_path: Path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    port = free_port()  # Tilt's 10350 by default; a free one here, beside a developer's own
    dev = start_dev("--data-dir", str(tmp_path / "data"), f"--serve=127.0.0.1:{port}", env=env)
    try:
        output = read_until(dev, "dashboard:")
        assert any("export KUBECONFIG=" in line for line in output), "".join(output)
        assert output[-1].startswith(f"dashboard: http://127.0.0.1:{port}/"), "".join(output)

        def operator() -> int | None:
            return next((pid for pid in children(dev.pid) if b"run" in Path(f"/proc/{pid}/cmdline").read_bytes()), None)

        pid = eventually(operator, what="the operator process")
        sockets = eventually(lambda: listening(pid), what="the operator's liveness endpoint")
        assert sockets, "the operator listens on nothing"
        assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
        page = eventually(lambda: _get(f"http://127.0.0.1:{port}/"), what="the dashboard")
        assert '<script src="/static/app.js"' in page
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in the developer's terminal
        dev.wait(60)
    assert dev.returncode is not None
    assert not alive(pid), "the operator stops with dev"


# Each pod's Ready condition: all of its containers (the operator and its runner) are ready.
READY = '.items[*].status.conditions[?(@.type=="Ready")].status'


def running_from(directory: Path) -> list[str]:
    """The command lines of every process that names ``directory``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in line:
            found.append(line)
    return found


def leftovers(state: Path) -> list[str]:
    """What a node left on this machine: its bridge, mounts, processes, iptables chains."""
    found = []
    if bridge_exists():
        found.append("the bridge tiltdev0")
    if str(state) in Path("/proc/self/mountinfo").read_text():
        found.append("mounts under the state directory")
    found += [f"a process: {line}" for line in running_from(state)]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    found += [f"a chain: {line}" for line in rules.splitlines() if line.startswith(":KUBE-")]
    return found


def wait_for_the_operator(dev: subprocess.Popen[str], state: Path) -> list[str]:
    """What `tilt-operator dev --node` printed, once the operator's two replicas are Ready on its node."""
    output = read_until(dev, "the operator, deployed from manifests/")
    kubectl = [str(state / "bin" / "kubectl"), f"--kubeconfig={state / 'kubeconfig'}"]

    def ready_pods() -> list[str] | None:
        shown = subprocess.run(
            [*kubectl, "get", "pods", "-n", "tilt-operator", "-o", f"jsonpath={{{READY}}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        return shown if shown == ["True", "True"] else None

    eventually(ready_pods, timeout=180, what="the two replicas Ready")
    nodes = subprocess.run([*kubectl, "get", "nodes", "-o", "name"], capture_output=True, text=True).stdout
    assert nodes == "node/tilt-dev-node\n"
    return output


def test_dev_node_deploys_the_manifests_onto_a_node_and_leaves_nothing_behind(tmp_path: Path):
    """`tilt-operator dev --node`: the image built, a node, manifests/ applied; Ctrl-C removes all of it.

    The first one is killed outright, as a closed terminal kills it: the second puts back what it left.
    """
    state = tmp_path / "state"
    settings = read_sysctls()
    killed = start_dev("--node", "--state-dir", str(state))
    try:
        wait_for_the_operator(killed, state)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(30)
    assert "the bridge tiltdev0" in leftovers(state), "a killed node leaves its bridge: nothing to put back"
    assert any(line.startswith("a process:") for line in leftovers(state)), "the pods outlive a killed node"

    dev = start_dev("--node", "--state-dir", str(state))
    output: list[str] = []
    try:
        output = wait_for_the_operator(dev, state)
        assert any("a node that was killed" in line and "putting them back" in line for line in output), output
    finally:
        os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C in the developer's terminal
        dev.wait(120)
    assert dev.returncode == 0, "".join(output)
    assert leftovers(state) == []
    # What the kubelet, kube-proxy and CNI set machine-wide is as it was (new keys aside: a module loaded).
    after = read_sysctls()
    assert {name: after[name] for name in settings} == settings


def test_dev_node_as_another_user_says_it_needs_root_and_starts_nothing(tmp_path: Path):
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    refused = subprocess.run(
        [*nobody, sys.executable, "-m", "tilt_operator", "dev", "--node", "--state-dir", str(tmp_path / "state")],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        "tilt-operator dev --node: a node needs root: its kubelet, containerd and the image build with buildah "
        "run as root\n"
    )
    assert not (tmp_path / "state").exists()
