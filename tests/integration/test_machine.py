"""A node's claim on this machine: one node at a time, and what a killed one changed is put back.

These run the claim for real (the bridge, the lock, the kernel's settings and mounts), as root,
without a kubelet: a node's own processes are stand-ins that name its directory, as containerd's
shims do. tests/integration/test_dev.py kills a whole node and starts the next.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tilt_operator.devcluster.machine import BRIDGE, claimed, read_sysctls
from tilt_operator.devcluster.node import unmet_needs
from tilt_operator.processes import alive

FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")

# A node that changes what nodes change, says so, then waits to be killed.
KILLED_NODE = """
import subprocess, sys, time
from pathlib import Path
from tilt_operator.devcluster.machine import claimed
directory = Path(sys.argv[1])
with claimed(directory, Path("/nonexistent/kube-proxy")):
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    (directory / "mnt").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(directory / "mnt")], check=True)
    shim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", str(directory)])
    print(shim.pid, flush=True)
    time.sleep(600)
"""


@pytest.fixture(autouse=True)
def as_root() -> None:
    unmet = unmet_needs()
    if unmet:
        pytest.fail(f"{unmet}; run the tests as root (CI does)")


def bridge_exists() -> bool:
    return subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0


def test_a_second_node_is_refused_while_one_runs_and_names_it(tmp_path: Path) -> None:
    with claimed(tmp_path / "first", Path("/nonexistent/kube-proxy")):
        assert bridge_exists()
        with (
            pytest.raises(RuntimeError, match=rf"a local node already runs on this machine \(pid {os.getpid()}, in "),
            claimed(tmp_path / "second", Path("/nonexistent/kube-proxy")),
        ):
            pass
        assert bridge_exists(), "the refused node took nothing from the running one"
    assert not bridge_exists()


def test_the_next_node_puts_back_what_a_killed_one_changed(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    before = read_sysctls()
    directory = tmp_path / "killed" / "node"
    killed = subprocess.Popen([sys.executable, "-c", KILLED_NODE, str(directory)], stdout=subprocess.PIPE, text=True)
    try:
        assert killed.stdout is not None
        shim = int(killed.stdout.readline())
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert bridge_exists()
    assert FORWARDING.read_text().strip() == "1"
    assert alive(shim)
    assert str(directory) in Path("/proc/self/mountinfo").read_text()

    with claimed(tmp_path / "next" / "node", Path("/nonexistent/kube-proxy")):
        assert f"a node that was killed (pid {killed.pid}, in {directory}) left things behind" in capfd.readouterr().err
        assert not alive(shim), "what the killed node ran is stopped"
        assert str(directory) not in Path("/proc/self/mountinfo").read_text(), "and unmounted"
        assert FORWARDING.read_text().strip() == before["net/ipv4/ip_forward"]
        assert bridge_exists(), "the next node has a bridge of its own"
    assert not bridge_exists()
    assert read_sysctls() == before
