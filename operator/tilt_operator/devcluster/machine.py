"""What a local node changes on this machine, written down before it changes it, and put back.

Unlike the control plane, whose processes and files stay in its state directory, a node reaches
into the machine: the pods' bridge, the iptables chains kube-proxy makes, the kernel settings the
kubelet and CNI tune, the kubelet's cgroups, what it mounts, and containerd's shims, which outlive
containerd by design. So one node runs per machine, and it holds a claim for as long as it runs: a
lock in ``CLAIM_DIR`` (kept until the machine restarts, like everything a node changes) and a
record beside it of what was there before the node: its directory and containerd socket, the
kernel settings, the ``KUBE-`` chains and the rules into them.

The node touches only what it made (docs/design.md, "The image and the local node"). Its pods live
in a cgroup tree of its own, ``CGROUP_ROOT``, the kubelet's ``cgroupRoot``: only that tree is
killed and removed, never another cluster's ``kubepods``. Only the shims started for its own
containerd (``-address <its socket>``) are stopped. Only the ``KUBE-`` chains and rules that were
not there before it are removed. A kernel setting is put back only where it still holds the value
the node left (written down once the node is up); one changed since is someone else's. It refuses
to start beside another cluster's kubelet or kube-proxy, whose cgroups, chains and settings it
would share. Every step of the clean-up runs even when one before it fails, and every failure is
reported at the end.

A node stopped in order puts it all back when the claim ends. A node that was killed (SIGKILL, a
closed terminal, a machine out of memory) cannot; its record stays, and the next node to claim the
machine, or ``tilt-operator dev --clean``, stops what still runs of it and puts the machine back
from the record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import ipaddress
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tilt_operator.devcluster.pki import POD_CIDR, POD_GATEWAY
from tilt_operator.processes import alive

CLAIM_DIR = Path("/run/tilt-operator")
BRIDGE = "tiltdev0"
# The node's cgroup tree, at the top of every hierarchy: the kubelet's cgroupRoot, all its pods under it.
CGROUP_ROOT = "tilt-dev-node"
_KILL_TIMEOUT = 10.0
_IPTABLES = ("iptables", "ip6tables")
_TABLES = ("filter", "nat", "mangle")
# The chains kube-proxy (iptables mode) writes whole, replacing what is in them: another cluster's
# kube-proxy left them, running or not, and a node's kube-proxy would take them over.
_PROXY_CHAINS = (
    "KUBE-SERVICES",
    "KUBE-NODEPORTS",
    "KUBE-POSTROUTING",
    "KUBE-MARK-MASQ",
    "KUBE-EXTERNAL-SERVICES",
    "KUBE-FORWARD",
    "KUBE-PROXY-FIREWALL",
)
# The nftables table of a kube-proxy in nftables mode, which one in iptables mode deletes at start.
_PROXY_TABLE = "kube-proxy"
# The components of another cluster this machine may run, by their command name.
_FOREIGN = ("kubelet", "kube-proxy")
_FORWARDING = "net/ipv4/ip_forward"

# The machine-wide settings a node changes: the kubelet sets its kernel tunables, the CNI bridge
# plugin turns on forwarding (kube-proxy is told to leave its own alone, node.py). Each is put
# back only if it still holds the value the node left (a setting the kernel did not have before is
# left alone).
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    _FORWARDING,
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
)


class Refused(RuntimeError):
    """The machine cannot take a node now: another runs, or another cluster's kubelet or kube-proxy."""


def read_sysctls() -> dict[str, str]:
    """The present value of each of ``SYSCTLS`` this kernel has."""
    found = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            found[name] = (Path("/proc/sys") / name).read_text().strip()
    return found


@dataclass(frozen=True)
class Record:
    """What a node needs to be undone, written before it changes anything.

    ``sysctls`` and ``rules`` are the machine before the node: the kernel settings, and for each
    ``"<command> <table>"`` that could be listed, its ``KUBE-`` chains and the rules in or into them
    (``iptables -S`` lines). ``node_sysctls`` is what the node had set once it was up (None before).
    """

    pid: int
    directory: str
    containerd: str
    cgroup: str
    sysctls: dict[str, str]
    rules: dict[str, list[str]]
    node_sysctls: dict[str, str] | None = None


def _record_path() -> Path:
    return CLAIM_DIR / "node.json"


def _read_record() -> Record | None:
    try:
        return Record(**json.loads(_record_path().read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_record(record: Record) -> None:
    partial = _record_path().with_suffix(".partial")
    partial.write_text(json.dumps(dataclasses.asdict(record)))
    partial.rename(_record_path())


@dataclass
class Claim:
    """A running node's hold on this machine, and its record."""

    record: Record

    def up(self) -> None:
        """Write down the kernel settings the node has set, now that it is up: at the end, only these
        are put back, and only where they still hold the value it set."""
        before = self.record.sysctls
        node = {name: value for name, value in read_sysctls().items() if name in before and value != before[name]}
        self.record = dataclasses.replace(self.record, node_sysctls=node)
        _write_record(self.record)


def _say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """The machine's node lock, or :class:`Refused` naming the node that holds it."""
    CLAIM_DIR.mkdir(parents=True, exist_ok=True)
    with open(CLAIM_DIR / "node.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record()
            where = f" (pid {holder.pid}, in {holder.directory})" if holder else ""
            raise Refused(f"a local node already runs on this machine{where}: stop it first") from None
        yield


def _put_back_what_was_left(say: Callable[[str], None]) -> bool:
    """Under the lock: put back what a node that is gone left, from its record; whether there was one."""
    left = _read_record()
    if left is None:
        return False
    say(f"a node that was killed (pid {left.pid}, in {left.directory}) left things behind: putting them back")
    put_back(left, say)
    _record_path().unlink()
    return True


def clean(say: Callable[[str], None]) -> None:
    """Put back what a killed node left on this machine, saying what (``tilt-operator dev --clean``)."""
    with _locked():
        if not _put_back_what_was_left(say):
            say(f"nothing to put back: no node left a record in {CLAIM_DIR}")


@contextlib.contextmanager
def claimed(directory: Path, containerd: Path) -> Iterator[Claim]:
    """This machine, for the node whose files are in ``directory`` and whose containerd listens on
    ``containerd``; its cgroup tree and the pods' bridge made while it runs.

    Refuses while another node runs, or another cluster's kubelet or kube-proxy; puts back first
    what a killed node left; puts back on exit what this one changed, and keeps its record if
    something could not be.
    """
    with _locked():
        _put_back_what_was_left(_say_on_stderr)
        rules = _kube_rules()
        _refuse_if_taken(rules)
        claim = Claim(
            Record(os.getpid(), str(directory.resolve()), str(containerd), CGROUP_ROOT, read_sysctls(), rules)
        )
        _write_record(claim.record)
        try:
            _make_cgroups(CGROUP_ROOT)
            _add_bridge()
            yield claim
        finally:
            put_back(claim.record, lambda _: None)
            _record_path().unlink()


def _refuse_if_taken(rules: dict[str, list[str]]) -> None:
    """:class:`Refused` if the node's bridge is there already, or another cluster's kubelet or
    kube-proxy runs or left the rules a node's kube-proxy would take over (``rules``: the machine's)."""
    if Path("/sys/class/net", BRIDGE).exists():
        raise Refused(
            f"the bridge {BRIDGE} exists, though no node claims this machine: delete it with "
            f"`ip link delete {BRIDGE}` if nothing of yours uses it"
        )
    others = _processes_named(_FOREIGN)
    if others:
        pid, name = others[0]
        raise Refused(
            f"a {name} that is not this node's runs on this machine (pid {pid}): a node beside another "
            "cluster would change the iptables chains and kernel settings that cluster uses; stop it first"
        )
    for where, listed in rules.items():
        for chain in _PROXY_CHAINS:
            if f"-N {chain}" in listed:
                raise Refused(
                    f"another cluster's kube-proxy has its chain {chain} on this machine ({where}), which the "
                    "node's kube-proxy would take over: stop that cluster, or remove its rules if none runs"
                )
    if shutil.which("nft"):
        for family in ("ip", "ip6"):
            if subprocess.run(["nft", "list", "table", family, _PROXY_TABLE], capture_output=True).returncode == 0:
                raise Refused(
                    f"another cluster's kube-proxy has the nftables table {family} {_PROXY_TABLE} on this machine, "
                    "which the node's kube-proxy would delete: stop that cluster, or delete the table if none runs"
                )


def _processes_named(names: tuple[str, ...]) -> list[tuple[int, str]]:
    """Each live process whose command name is one of ``names``, with it."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            name, pid = comm.read_text().strip(), int(comm.parent.name)
            if name in names and alive(pid):
                found.append((pid, name))
    return found


def _add_bridge() -> None:
    """The pods' bridge, their gateway's address on it, and forwarding on.

    The CNI bridge plugin turns forwarding on with the first pod, after the node is up: here it is
    turned on before, so that ``Claim.up`` writes it down as the node's.
    """
    prefix = ipaddress.ip_network(POD_CIDR).prefixlen
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "replace", f"{POD_GATEWAY}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    (Path("/proc/sys") / _FORWARDING).write_text("1")


def _ip(*args: str, ignore: str = "") -> bool:
    """Run ``ip``; whether it did something (False: it failed with ``ignore`` in its message)."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        if ignore and ignore in result.stderr:
            return False
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return True


def put_back(record: Record, say: Callable[[str], None]) -> None:
    """Undo what the node of ``record`` did to this machine, whether it stopped in order or was killed.

    Leaves no process of it running, nothing mounted under its directory, none of the chains and
    rules it made, no cgroup tree or bridge of it, and each kernel setting it changed as it was,
    unless someone changed it since. Says what it did with ``say``. Every step runs; then
    RuntimeError lists each that failed.
    """
    errors = []
    steps: list[tuple[str, Callable[[Record, Callable[[str], None]], None]]] = [
        ("stopping its processes", _stop_processes),
        ("unmounting", _unmount),
        ("removing its iptables chains", _remove_rules),
        ("removing its cgroups", _remove_cgroups),
        ("deleting the bridge", _delete_bridge),
        ("putting back kernel settings", _put_back_sysctls),
    ]
    for what, step in steps:
        try:
            step(record, say)
        except Exception as error:  # the next steps run all the same
            errors.append(f"{what}: {error}")
    if errors:
        raise RuntimeError(f"the node in {record.directory} could not be put back whole: " + "; ".join(errors))


def _stop_processes(record: Record, say: Callable[[str], None]) -> None:
    """SIGKILL what still runs in the node's cgroup tree (containers whose shim and containerd are
    gone still run there) and the shims of its containerd, until none is left."""
    stopped: set[int] = set()
    deadline = time.monotonic() + _KILL_TIMEOUT
    while True:
        running = {pid for pid in _cgroup_processes(record.cgroup) | _shims_of(record.containerd) if alive(pid)}
        running.discard(os.getpid())
        if not running:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"still running after SIGKILL: pids {' '.join(map(str, sorted(running)))}")
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stopped |= running
        time.sleep(0.05)
    if stopped:
        say(f"stopped {_count(len(stopped), 'process', 'processes')}: its pods and its containerd's shims")


def _cgroup_processes(root: str) -> set[int]:
    found: set[int] = set()
    for hierarchy in _hierarchies():
        for procs in (hierarchy / root).rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in procs.read_text().split())
    return found


def _shims_of(containerd: str) -> set[int]:
    """Every process started for the containerd at ``containerd``: its argv says ``-address <it>``."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
            if containerd_address(argv) == containerd:
                found.add(int(cmdline.parent.name))
    return found


def containerd_address(argv: list[str]) -> str | None:
    """The containerd a shim serves, from its command line: the value after ``-address``."""
    for flag, value in itertools.pairwise(argv):
        if flag == "-address":
            return value
    return None


def _unmount(record: Record, say: Callable[[str], None]) -> None:
    """Unmount what the kubelet and containerd mounted under the node's directory, deepest first."""
    prefix = record.directory
    mounts = [
        line.split()[4].encode().decode("unicode_escape")
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    under = sorted({m for m in mounts if m == prefix or m.startswith(prefix + "/")}, key=len, reverse=True)
    failed = [mount for mount in under if subprocess.run(["umount", "--lazy", mount], capture_output=True).returncode]
    if len(under) > len(failed):
        say(f"unmounted {_count(len(under) - len(failed), 'mount')} under {prefix}")
    if failed:
        raise RuntimeError(f"could not unmount {', '.join(failed)}")


def _kube_rules() -> dict[str, list[str]]:
    """For each ``"<command> <table>"`` that can be listed: its ``KUBE-`` chains and the rules in or into them."""
    found = {}
    for command in _IPTABLES:
        for table in _TABLES:
            listed = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True)
            if listed.returncode == 0:
                found[f"{command} {table}"] = [
                    line for line in listed.stdout.splitlines() if _is_kube(shlex.split(line))
                ]
    return found


def _is_kube(words: list[str]) -> bool:
    if words[:1] in (["-N"], ["-A"]) and words[1].startswith("KUBE-"):
        return True
    return any(flag in ("-j", "-g") and target.startswith("KUBE-") for flag, target in itertools.pairwise(words))


def undo_rules(before: list[str], now: list[str]) -> list[list[str]]:
    """The ``iptables -t <table>`` arguments that remove what is in ``now`` and was not in ``before``
    (``iptables -S`` lines): the new rules in chains that stay, then the new chains, flushed, then deleted."""
    old = set(before)
    made = [shlex.split(line) for line in now if line not in old]
    chains = [words[1] for words in made if words[0] == "-N"]
    rules = [["-D", *words[1:]] for words in made if words[0] == "-A" and words[1] not in chains]
    return rules + [["-F", chain] for chain in chains] + [["-X", chain] for chain in chains]


def _remove_rules(record: Record, say: Callable[[str], None]) -> None:
    """Remove the ``KUBE-`` chains, and the rules in or into them, that were not there before the node."""
    now = _kube_rules()
    removed = 0
    failed = []
    for where, before in record.rules.items():
        command, table = where.split()
        for args in undo_rules(before, now.get(where, [])):
            result = subprocess.run([command, "-t", table, *args], capture_output=True, text=True)
            if result.returncode:
                failed.append(f"{where} {shlex.join(args)}: {result.stderr.strip()}")
            elif args[0] == "-X":
                removed += 1
    if removed:
        say(f"removed {_count(removed, 'iptables chain')} the node made")
    if failed:
        raise RuntimeError("; ".join(failed))


def _hierarchies() -> list[Path]:
    """Where each cgroup hierarchy is mounted: one per controller (v1), or the one (v2)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] in ("cgroup", "cgroup2"):
            found.append(Path(fields[4].encode().decode("unicode_escape")))
    return list(dict.fromkeys(found))


def _make_cgroups(root: str) -> None:
    """The node's cgroup tree in every hierarchy, as the kubelet expects its cgroupRoot to be."""
    for hierarchy in _hierarchies():
        (hierarchy / root).mkdir(exist_ok=True)


def _remove_cgroups(record: Record, say: Callable[[str], None]) -> None:
    """Remove the node's cgroup tree from every hierarchy, deepest first."""
    failed = []
    removed = False
    for hierarchy in _hierarchies():
        top = hierarchy / record.cgroup
        if not top.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
            try:
                os.rmdir(directory)
                removed = True
            except OSError as error:
                failed.append(f"{directory}: {error.strerror}")
    if removed:
        say(f"removed its cgroup tree {record.cgroup}")
    if failed:
        raise RuntimeError(f"could not remove {', '.join(failed)}")


def _delete_bridge(record: Record, say: Callable[[str], None]) -> None:
    if _ip("link", "delete", BRIDGE, ignore="Cannot find device"):
        say(f"deleted the bridge {BRIDGE}")


def sysctls_to_put_back(
    before: dict[str, str], node: dict[str, str] | None, now: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Which kernel settings to write back, and which someone else changed since: ``({name: the
    value before the node}, {name: the value now})``.

    A setting is the node's if it holds the value the node left (``node``, written down once it
    was up). A node that died before it was up wrote none down: every setting that differs from
    before is taken for its own.
    """
    if node is None:
        node = {name: value for name, value in now.items() if name in before and value != before[name]}
    back = {name: before[name] for name, value in node.items() if now.get(name) == value}
    changed = {
        name: now[name]
        for name, value in node.items()
        if name in now and now[name] != value and now[name] != before[name]
    }
    return back, changed


def _put_back_sysctls(record: Record, say: Callable[[str], None]) -> None:
    back, changed = sysctls_to_put_back(record.sysctls, record.node_sysctls, read_sysctls())
    failed = []
    for name, value in back.items():
        try:
            (Path("/proc/sys") / name).write_text(value)
            say(f"put back {_dotted(name)} = {value}")
        except OSError as error:
            failed.append(f"{_dotted(name)}: {error.strerror}")
    for name, value in changed.items():
        say(f"left {_dotted(name)} = {value}: changed since the node set it")
    if failed:
        raise RuntimeError(f"could not write {', '.join(failed)}")


def _dotted(name: str) -> str:
    return name.replace("/", ".")


def _count(number: int, noun: str, plural: str = "") -> str:
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
