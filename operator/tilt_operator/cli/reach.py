"""How the command line reaches the operator's web server (the dashboard, the logs).

An operator running on this machine says where it listens (``tilt_operator.localserver``);
otherwise the operator runs in the cluster, and ``kubectl port-forward`` reaches its pod through
the API server, so Kubernetes RBAC decides who may look (``pods/portforward`` in its namespace).
With two replicas the logs live with the leader, so the forward goes to the pod that holds the
Lease (its holder is ``<pod>_<random>``); without a Lease, to the Deployment.
``TILT_OPERATOR_SERVER`` names the server outright.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import NamedTuple

from kubernetes.client.exceptions import ApiException

from tilt_operator import kube, localserver
from tilt_operator.cli.errors import Unreachable
from tilt_operator.cli.locate import kubectl
from tilt_operator.config import own_namespace
from tilt_operator.reconcilers.leadership import LEASE_NAME

DEPLOYMENT = "deployment/tilt-operator"
PORT = 10350
# How `kubectl port-forward` says where it listens.
_FORWARDING = re.compile(r"Forwarding from (127\.0\.0\.1|\[::1\]):(\d+)")


class Server(NamedTuple):
    url: str
    # Reached through `kubectl port-forward`, which lasts only as long as the ``with``.
    forwarded: bool


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """The operator's server: named, on this machine, or through a port-forward to its pod."""
    explicit = os.environ.get("TILT_OPERATOR_SERVER")
    if explicit:
        yield Server(explicit.rstrip("/"), forwarded=False)
        return
    local = localserver.find(kube.api_client().configuration.host)
    if local:
        yield Server(local, forwarded=False)
        return
    with _port_forward() as url:
        yield Server(url, forwarded=True)


@contextlib.contextmanager
def request(url: str) -> Iterator[http.client.HTTPResponse]:
    """GET ``url`` of the operator's server: a refusal is :class:`Unreachable` with the server's own
    message, and so is a server that does not answer (or stops answering while it is read)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            yield response
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read())["error"]
        except (ValueError, KeyError):
            message = f"{error.code} {error.reason}"
        raise Unreachable(message) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Unreachable(f"cannot reach the operator's server at {url.split('/api/')[0]}: {reason}") from None


def _leader_pod(namespace: str) -> str:
    """``pod/<the Lease holder's pod>``, or the Deployment when there is no holder to read."""
    try:
        lease = kube.send(kube.lease_get_call(namespace, LEASE_NAME))
    except ApiException:
        return DEPLOYMENT  # no right to read it: kubectl picks a pod of the Deployment
    holder = str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")
    pod = holder.rpartition("_")[0]
    return f"pod/{pod}" if pod else DEPLOYMENT


@contextlib.contextmanager
def _port_forward() -> Iterator[str]:
    """``kubectl port-forward`` to the operator's pod, on a port of the system's choosing."""
    namespace = own_namespace(os.environ)
    command = [kubectl(), "port-forward", "--namespace", namespace, _leader_pod(namespace), f":{PORT}"]
    forward = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        found = _FORWARDING.search(line)
        if not found:
            error = (forward.stderr.read() if forward.stderr else "").strip() if forward.poll() is not None else ""
            raise Unreachable(
                "no operator on this machine, and none reachable in the cluster "
                f"({' '.join(command[1:])}: {error or line.strip() or 'no answer'})"
            )
        yield f"http://{found.group(1)}:{found.group(2)}"
    finally:
        forward.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            forward.wait(5)
