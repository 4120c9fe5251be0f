"""Who an extension acts as: a ServiceAccount of the operator's namespace, never the operator.

A Tiltfile runs as the ServiceAccount its ``spec.serviceAccountName`` names (an Extension's
Tiltfile carries its Extension's), else the operator's default (``--default-service-account``,
``tilt-extension``); a Cmd as the account its ``tilt.dev/service-account`` annotation names (set on
the Cmds a Tiltfile registers), else the default. What it writes through the operator (the
objects its Tiltfile registers, and their pruning) impersonates that account
(:mod:`~tilt_operator.reconcilers.owned`); every process it supplies (``local()``, its Cmds, the
Cmds its buttons start, the ``tilt`` command they call) gets an environment built from nothing
with a kubeconfig of that account (:func:`~tilt_operator.processes.child_environment`).

:class:`Identities` asks the TokenRequest API for each account's token (bound to the API server's
audience, short-lived), writes it beside that kubeconfig under ``<data>/identities/<account>/``,
and renews it before it expires: kubectl and client-go read a kubeconfig's ``tokenFile`` again as
it changes, so a watcher running for days keeps working. An account that does not exist is
:class:`ServiceAccountNotFound`, which the callers report and retry (docs/design.md, "Identity").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tilt_operator import processes, timestamps
from tilt_operator.api import ANNOTATION_SERVICE_ACCOUNT
from tilt_operator.kube import ClusterAccess, service_account_user
from tilt_operator.reconcilers.client import Client

logger = logging.getLogger(__name__)

# A token is renewed once this share of its life has passed, as the kubelet renews projected tokens.
RENEW_AT = 0.8
# After a renewal that failed (the API server away), the next try.
_RETRY_SECONDS = 10.0


class ServiceAccountNotFound(Exception):
    """The ServiceAccount an extension is to act as does not exist; the message names it and says what to do."""

    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            f"ServiceAccount {namespace}/{name} not found: create it "
            f"(kubectl -n {namespace} create serviceaccount {name}) or name another in spec.serviceAccountName"
        )
        self.namespace, self.name = namespace, name


@dataclass(frozen=True)
class Identity:
    """One ServiceAccount as an extension's processes and writes use it."""

    name: str
    username: str
    kubeconfig: Path
    home: Path

    def environment(self, env: Sequence[str] = ()) -> dict[str, str]:
        """A process's whole environment: this account's kubeconfig and HOME, ``env`` on top."""
        return processes.child_environment(env, kubeconfig=self.kubeconfig, home=self.home)


def service_account_of(obj: Mapping[str, Any], default: str) -> str:
    """The ServiceAccount a Tiltfile (or Extension) acts as: its spec's, else ``default``."""
    return str((obj.get("spec") or {}).get("serviceAccountName") or default)


def stamped_service_account(obj: Mapping[str, Any], default: str) -> str:
    """The ServiceAccount a Cmd's process or a KubernetesApply's writes act as: the one its Tiltfile
    stamped on it, else ``default``."""
    return str((obj["metadata"].get("annotations") or {}).get(ANNOTATION_SERVICE_ACCOUNT) or default)


def kubeconfig(access: ClusterAccess, namespace: str, name: str, token_file: Path) -> dict[str, Any]:
    """A kubeconfig that reaches the API server as the ServiceAccount whose token is in ``token_file``."""
    cluster: dict[str, Any] = {"server": access.server}
    if access.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(access.ca_pem).decode()
    if access.insecure:
        cluster["insecure-skip-tls-verify"] = True
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tilt-operator", "cluster": cluster}],
        # tokenFile, not token: readers take a renewed token from the file without a restart.
        "users": [{"name": name, "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": name, "context": {"cluster": "tilt-operator", "user": name, "namespace": namespace}}],
        "current-context": name,
    }


def renew_after(lifetime: float, renewal: float | None) -> float:
    """Seconds until a token that lives ``lifetime`` more seconds is renewed."""
    return max(min(renewal if renewal is not None else lifetime * RENEW_AT, lifetime * RENEW_AT), 1.0)


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` at once (a reader sees the old file or the new one), readable by this user
    and its group (a runner's processes), by no one else."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}-", delete=False) as file:
        file.write(text)
    os.chmod(file.name, 0o640)
    os.replace(file.name, path)


class Identities:
    """The tokens and kubeconfigs of the ServiceAccounts extensions act as, kept valid while the operator runs."""

    def __init__(
        self,
        *,
        client: Client,
        namespace: str,
        default: str,
        directory: Path,
        access: ClusterAccess,
        expiration: int,
        renewal: float | None = None,
        homes: Path | None = None,
    ) -> None:
        """``directory`` keeps each account's token and kubeconfig, which its processes must read;
        ``homes`` is where their HOMEs are, as the processes see it (default: beside the kubeconfig;
        with a runner, a directory of the runner's own that it makes)."""
        self._client, self.namespace, self.default = client, namespace, default
        self._directory, self._access, self._homes = directory, access, homes
        self._expiration, self._renewal = expiration, renewal
        self._known: dict[str, Identity] = {}
        self._requests: dict[str, asyncio.Task[Identity]] = {}
        self._renewals: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def username(self, name: str) -> str:
        return service_account_user(self.namespace, name)

    async def get(self, name: str) -> Identity:
        """The account's identity with a valid token; :class:`ServiceAccountNotFound` when it does not exist."""
        known = self._known.get(name)
        if known is not None:
            return known
        request = self._requests.get(name)
        if request is None:  # one TokenRequest however many reconciles ask at once
            request = self._requests[name] = asyncio.create_task(self._issue(name), name=f"token for {name}")
            request.add_done_callback(lambda _: self._requests.pop(name, None))
        return await asyncio.shield(request)

    async def _issue(self, name: str) -> Identity:
        """Ask for a new token, write it and the kubeconfig, and schedule the renewal."""
        answer = await self._client.request_token(self.namespace, name, self._expiration)
        if answer is None:
            self._forget(name)
            raise ServiceAccountNotFound(self.namespace, name)
        status = answer["status"]
        identity = await asyncio.to_thread(self._write, name, status["token"])
        self._known[name] = identity
        lifetime = timestamps.parse(status["expirationTimestamp"]).timestamp() - time.time()
        self._schedule(name, renew_after(lifetime, self._renewal))
        return identity

    def _write(self, name: str, token: str) -> Identity:
        # Readable by the runner's group (its processes read them), by no one else.
        self._directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        directory = self._directory / name
        directory.mkdir(mode=0o750, exist_ok=True)
        if self._homes is None:
            home = directory / "home"
            home.mkdir(mode=0o700, exist_ok=True)
        else:
            home = self._homes / name
        token_file, config_file = directory / "token", directory / "kubeconfig"
        _write_private(token_file, token)
        config = kubeconfig(self._access, self.namespace, name, token_file)
        _write_private(config_file, yaml.safe_dump(config, sort_keys=False))
        return Identity(name, self.username(name), config_file, home)

    def _schedule(self, name: str, delay: float) -> None:
        if (handle := self._renewals.pop(name, None)) is not None:
            handle.cancel()
        self._renewals[name] = asyncio.get_running_loop().call_later(delay, self._renew, name)

    def _renew(self, name: str) -> None:
        task = asyncio.create_task(self._renewing(name), name=f"renew the token of {name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _renewing(self, name: str) -> None:
        self._renewals.pop(name, None)
        try:
            await self._issue(name)
        except ServiceAccountNotFound as gone:
            logger.warning("%s: its token is no longer renewed", gone)
        except Exception as error:  # the API server away: the token still lives a while
            logger.warning("cannot renew the token of ServiceAccount %s/%s (%s): retrying", self.namespace, name, error)
            self._schedule(name, _RETRY_SECONDS)

    def _forget(self, name: str) -> None:
        """The account is gone: no identity, and no token of it left on disk."""
        self._known.pop(name, None)
        if (handle := self._renewals.pop(name, None)) is not None:
            handle.cancel()
        with contextlib.suppress(OSError):
            (self._directory / name / "token").unlink()

    async def stop(self) -> None:
        for handle in self._renewals.values():
            handle.cancel()
        self._renewals.clear()
        tasks = [*self._tasks, *self._requests.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
