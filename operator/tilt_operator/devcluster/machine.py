"""What a local node changes on this machine, written down before it changes it, and put back.

Unlike the control plane, whose processes and files stay in its state directory, a node reaches
into the machine: the pods' bridge, the iptables chains kube-proxy and the kubelet make, the
kernel settings they and CNI tune, the kubelet's cgroups, what it mounts, and containerd's shims,
which outlive containerd by design. So one node runs per machine, and it holds a claim for as long
as it runs: a lock in ``CLAIM_DIR`` (kept until the machine restarts, like everything a node
changes) and a record beside it of the node's directory and of the kernel settings as they were.

A node stopped in order puts it all back when the claim ends. A node that was killed (SIGKILL, a
closed terminal, a machine out of memory) cannot; the next node to claim the machine finds the
record the dead one left, stops what still runs of it and puts the machine back first, from the
record, before it changes anything itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tilt_operator.devcluster.pki import POD_CIDR, POD_GATEWAY
from tilt_operator.processes import alive

CLAIM_DIR = Path("/run/tilt-operator")
BRIDGE = "tiltdev0"
# The cgroup the kubelet puts every pod under, in each hierarchy (cgroup v1) or the one (v2).
_PODS_CGROUP = "kubepods"
_KUBELET_CHAINS = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")
_KILL_TIMEOUT = 10.0

# The machine-wide settings a node changes: the kubelet sets its kernel tunables, kube-proxy its
# conntrack and localhost settings, the CNI bridge plugin turns on forwarding. Each is put back as
# it was before the node started (a setting the kernel did not have then is left alone).
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
)


def read_sysctls() -> dict[str, str]:
    """The present value of each of ``SYSCTLS`` this kernel has."""
    found = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            found[name] = (Path("/proc/sys") / name).read_text().strip()
    return found


@dataclass(frozen=True)
class Record:
    """What a node needs to be undone: whose it was, its directory, its kube-proxy, the settings before it."""

    pid: int
    directory: str
    kube_proxy: str
    sysctls: dict[str, str]


def _record_path() -> Path:
    return CLAIM_DIR / "node.json"


def _read_record() -> Record | None:
    try:
        return Record(**json.loads(_record_path().read_text()))
    except (OSError, ValueError, TypeError):
        return None


@contextlib.contextmanager
def claimed(directory: Path, kube_proxy: Path) -> Iterator[None]:
    """This machine, for the node whose files are in ``directory``; the pods' bridge up while it runs.

    Refuses while another node runs; puts back first what a killed one left; puts back on exit
    what this one changed.
    """
    CLAIM_DIR.mkdir(parents=True, exist_ok=True)
    with open(CLAIM_DIR / "node.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record()
            where = f" (pid {holder.pid}, in {holder.directory})" if holder else ""
            raise RuntimeError(f"a local node already runs on this machine{where}: stop it first") from None
        left = _read_record()
        if left is not None:
            print(
                f"a node that was killed (pid {left.pid}, in {left.directory}) left things behind: putting them back",
                file=sys.stderr,
                flush=True,
            )
            put_back(left)
            _record_path().unlink()
        record = Record(os.getpid(), str(directory.resolve()), str(kube_proxy), read_sysctls())
        partial = _record_path().with_suffix(".partial")
        partial.write_text(json.dumps(asdict(record)))
        partial.rename(_record_path())
        try:
            _add_bridge()
            yield
        finally:
            put_back(record)
            _record_path().unlink(missing_ok=True)


def _add_bridge() -> None:
    prefix = ipaddress.ip_network(POD_CIDR).prefixlen
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
    except RuntimeError as error:
        raise RuntimeError(
            f"the bridge {BRIDGE} exists, though no node claims this machine: delete it with "
            f"`ip link delete {BRIDGE}` if nothing of yours uses it ({error})"
        ) from None
    _ip("addr", "replace", f"{POD_GATEWAY}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def put_back(record: Record) -> None:
    """Undo what the node of ``record`` did to this machine, whether it stopped in order or was killed.

    Leaves no process of it running, nothing mounted under its directory, no chain, cgroup or
    bridge of it, and the kernel settings as they were before it started.
    """
    directory = Path(record.directory)
    _kill(_pod_processes() | _processes_naming(directory))
    if Path(record.kube_proxy).is_file():
        subprocess.run([record.kube_proxy, "--cleanup"], capture_output=True)
    _remove_kubelet_chains()
    _unmount_under(directory)
    _remove_pod_cgroups()
    _ip("link", "delete", BRIDGE, ignore="Cannot find device")
    for name, value in record.sysctls.items():
        with contextlib.suppress(OSError):
            (Path("/proc/sys") / name).write_text(value)


def _ip(*args: str, ignore: str = "") -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0 and not (ignore and ignore in result.stderr):
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _pod_cgroup_roots() -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [top for top in [root / _PODS_CGROUP, *root.glob(f"*/{_PODS_CGROUP}")] if top.is_dir()]


def _pod_processes() -> set[int]:
    """Every process in a pod's cgroup: containers whose shim and containerd are gone still run there."""
    found: set[int] = set()
    for top in _pod_cgroup_roots():
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in procs.read_text().split())
    return found


def _processes_naming(directory: Path) -> set[int]:
    """Every process whose command line names ``directory``: containerd's shims (``-address …``)."""
    found = set()
    needle = str(directory).encode()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if needle in cmdline.read_bytes():
                found.add(int(cmdline.parent.name))
    return found - {os.getpid()}


def _kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + _KILL_TIMEOUT
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)


def _remove_kubelet_chains() -> None:
    """The iptables chains the kubelet makes for itself (kube-proxy's go with ``kube-proxy --cleanup``)."""
    for command in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            listed = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True).stdout
            for rule in listed.splitlines():
                words = shlex.split(rule)
                if words[:1] == ["-A"] and words[-2:] in (["-j", chain] for chain in _KUBELET_CHAINS):
                    subprocess.run([command, "-t", table, "-D", *words[1:]], capture_output=True)
            for chain in _KUBELET_CHAINS:
                if f"-N {chain}" in listed.splitlines():
                    subprocess.run([command, "-t", table, "-F", chain], capture_output=True)
                    subprocess.run([command, "-t", table, "-X", chain], capture_output=True)


def _unmount_under(directory: Path) -> None:
    """Unmount what the kubelet and containerd mounted under ``directory``, deepest first."""
    prefix = str(directory)
    mounts = [
        line.split()[4].encode().decode("unicode_escape")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for mount in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True)


def _remove_pod_cgroups() -> None:
    """Remove the kubelet's cgroup tree from every hierarchy, deepest first, once nothing runs in it."""
    for top in _pod_cgroup_roots():
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
