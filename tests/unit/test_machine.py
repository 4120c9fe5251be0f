"""What a node's claim decides to put back: only what the node made, and only what still holds its value.

tests/integration/test_machine.py does it for real, beside a stand-in for another cluster.
"""

from __future__ import annotations

import pytest

from tilt_operator.devcluster.machine import containerd_address, sysctls_to_put_back, undo_rules

# `iptables -t nat -S` of a machine where another cluster's kubelet made KUBE-FIREWALL, and the
# same once a node's kube-proxy has run.
BEFORE = [
    "-N KUBE-FIREWALL",
    "-A INPUT -j KUBE-FIREWALL",
    "-A KUBE-FIREWALL -d 127.0.0.0/8 -j DROP",
]
NOW = [
    "-N KUBE-FIREWALL",
    "-N KUBE-SERVICES",
    "-N KUBE-SVC-NPX46M4PTMTKRN6Y",
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    "-A INPUT -j KUBE-FIREWALL",
    "-A KUBE-FIREWALL -d 127.0.0.0/8 -j DROP",
    "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP",
    '-A KUBE-SERVICES -d 10.96.0.1/32 -m comment --comment "default/kubernetes:https" -j KUBE-SVC-NPX46M4PTMTKRN6Y',
    "-A KUBE-SVC-NPX46M4PTMTKRN6Y -j DNAT --to-destination 10.200.0.1:6443",
]


def test_only_the_chains_and_rules_made_since_are_removed_jumps_first():
    assert undo_rules(BEFORE, NOW) == [
        ["-D", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"],
        ["-D", "KUBE-FIREWALL", "-m", "mark", "--mark", "0x8000/0x8000", "-j", "DROP"],
        ["-F", "KUBE-SERVICES"],
        ["-F", "KUBE-SVC-NPX46M4PTMTKRN6Y"],
        ["-X", "KUBE-SERVICES"],
        ["-X", "KUBE-SVC-NPX46M4PTMTKRN6Y"],
    ]


def test_nothing_is_removed_when_nothing_was_made():
    assert undo_rules(BEFORE, BEFORE) == []
    assert undo_rules(BEFORE, []) == [], "what went meanwhile is not made again"


BEFORE_SETTINGS = {"kernel/panic": "0", "vm/overcommit_memory": "0", "net/ipv4/ip_forward": "0"}
NODE_SET = {"kernel/panic": "10", "vm/overcommit_memory": "1", "net/ipv4/ip_forward": "1"}


@pytest.mark.parametrize(
    ("now", "back", "changed"),
    [
        pytest.param(NODE_SET, BEFORE_SETTINGS, {}, id="as the node left them: all put back"),
        pytest.param(
            {**NODE_SET, "kernel/panic": "30"},
            {"vm/overcommit_memory": "0", "net/ipv4/ip_forward": "0"},
            {"kernel/panic": "30"},
            id="one changed since by someone else: left, and said",
        ),
        pytest.param(
            {**NODE_SET, "net/ipv4/ip_forward": "0"},
            {"kernel/panic": "0", "vm/overcommit_memory": "0"},
            {},
            id="one already as before: nothing to do",
        ),
    ],
)
def test_a_setting_is_put_back_only_while_it_holds_the_value_the_node_set(now, back, changed):
    assert sysctls_to_put_back(BEFORE_SETTINGS, NODE_SET, now) == (back, changed)


def test_a_setting_the_node_did_not_set_is_never_written_even_when_it_changed():
    now = {**NODE_SET, "vm/overcommit_memory": "2"}
    node = {"kernel/panic": "10"}
    assert sysctls_to_put_back(BEFORE_SETTINGS, node, now) == ({"kernel/panic": "0"}, {})


def test_a_node_that_died_before_it_was_up_owns_every_setting_that_differs():
    now = {"kernel/panic": "10", "vm/overcommit_memory": "0", "net/ipv4/ip_forward": "1", "vm/new": "1"}
    assert sysctls_to_put_back(BEFORE_SETTINGS, None, now) == ({"kernel/panic": "0", "net/ipv4/ip_forward": "0"}, {})


@pytest.mark.parametrize(
    ("argv", "address"),
    [
        pytest.param(
            ["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "abc", "-address", "/s/node/c.sock"],
            "/s/node/c.sock",
            id="a shim",
        ),
        pytest.param(["tail", "-f", "/s/node/c.sock"], None, id="a process that names the socket"),
        pytest.param(["containerd-shim-runc-v2", "-address"], None, id="no value"),
    ],
)
def test_a_shim_is_known_by_the_address_of_its_containerd(argv, address):
    assert containerd_address(argv) == address
