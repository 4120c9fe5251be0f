"""A Cmd's readinessProbe: whether its running process is ready, as a Kubernetes probe says it.

Tilt's Probe (``local_resource(readiness_probe=probe(...))``) with the kubelet's rules: after
``initialDelaySeconds``, one probe every ``periodSeconds``, each given ``timeoutSeconds``;
``successThreshold`` successes in a row make the process ready, ``failureThreshold`` failures in
a row make it not ready. An exec probe runs as the Cmd's process does (its identity, its
launcher); an HTTP probe is ready on 200-399; a TCP probe when the connection opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tilt_operator import processes

# Runs an exec probe's command and says whether it exited 0 in time.
Exec = Callable[[list[str], float], Awaitable[bool]]


async def _http_get(action: Mapping[str, Any], timeout: float) -> bool:
    scheme = str(action.get("scheme") or "http").lower()
    host, port = str(action.get("host") or "127.0.0.1"), int(action["port"])
    path = str(action.get("path") or "/")
    context = None
    if scheme == "https":
        # As the kubelet probes: the server's certificate is not verified.
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: tilt-operator-probe\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400


async def _tcp_socket(action: Mapping[str, Any], timeout: float) -> bool:
    host, port = str(action.get("host") or "127.0.0.1"), int(action["port"])
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def probe_once(probe: Mapping[str, Any], run: Exec) -> bool:
    """One probe: whether it succeeded within its timeout."""
    handler = probe.get("handler") or {}
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if handler.get("exec"):
            return await run([str(arg) for arg in handler["exec"]["command"]], timeout)
        if handler.get("httpGet"):
            return await _http_get(handler["httpGet"], timeout)
        if handler.get("tcpSocket"):
            return await _tcp_socket(handler["tcpSocket"], timeout)
    except (OSError, TimeoutError, ValueError):
        return False
    return False


async def watch(probe: Mapping[str, Any], run: Exec, changed: Callable[[bool], None]) -> None:
    """Probe until cancelled, calling ``changed`` with each new readiness (it starts not ready)."""
    period = float(probe.get("periodSeconds") or 10)
    successes_needed = int(probe.get("successThreshold") or 1)
    failures_needed = int(probe.get("failureThreshold") or 3)
    await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
    ready, successes, failures = False, 0, 0
    while True:
        if await probe_once(probe, run):
            successes, failures = successes + 1, 0
        else:
            successes, failures = 0, failures + 1
        if not ready and successes >= successes_needed:
            ready = True
            changed(True)
        elif ready and failures >= failures_needed:
            ready = False
            changed(False)
        await asyncio.sleep(period)


def exec_runner(launcher: processes.Launcher, *, cwd: str | None, env: Mapping[str, str]) -> Exec:
    """How a Cmd's exec probe runs: as its process runs, output dropped, killed at its timeout."""

    async def run(args: list[str], timeout: float) -> bool:
        try:
            child = await processes.start(launcher, args, cwd=cwd, env=env, output=lambda stream, lines: None)
        except OSError:
            return False
        try:
            return await asyncio.wait_for(child.process.wait(), timeout) == 0
        except TimeoutError:
            await processes.stop(child.process, 0)
            return False

    return run
