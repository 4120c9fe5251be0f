"""Readiness probes as the kubelet runs them, against real servers on loopback."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from tilt_operator.reconcilers import probes


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def never(args: list[str], timeout: float) -> bool:
    raise AssertionError("no exec probe here")


def probe(handler: dict) -> dict:
    return {"handler": handler, "timeoutSeconds": 1}


def test_http_is_ready_on_2xx_and_3xx_only(http_server: int):
    ok = probe({"httpGet": {"port": http_server, "path": "/ok"}})
    failing = probe({"httpGet": {"port": http_server, "path": "/down"}})
    assert asyncio.run(probes.probe_once(ok, never)) is True
    assert asyncio.run(probes.probe_once(failing, never)) is False


def test_tcp_is_ready_when_the_connection_opens(http_server: int):
    assert asyncio.run(probes.probe_once(probe({"tcpSocket": {"port": http_server}}), never)) is True
    assert asyncio.run(probes.probe_once(probe({"tcpSocket": {"port": closed_port()}}), never)) is False


def test_exec_asks_the_runner_given():
    async def exit_zero_for_true(args: list[str], timeout: float) -> bool:
        return args == ["true"]

    assert asyncio.run(probes.probe_once(probe({"exec": {"command": ["true"]}}), exit_zero_for_true)) is True
    assert asyncio.run(probes.probe_once(probe({"exec": {"command": ["false"]}}), exit_zero_for_true)) is False


def test_thresholds_decide_when_readiness_flips():
    answers = iter([True, True, False, False, False])
    seen: list[bool] = []

    async def scripted(args: list[str], timeout: float) -> bool:
        try:
            return next(answers)
        except StopIteration:
            raise asyncio.CancelledError from None

    spec = {
        "handler": {"exec": {"command": ["x"]}},
        "periodSeconds": 1,
        "successThreshold": 2,
        "failureThreshold": 3,
    }

    async def run() -> None:
        with pytest.raises(asyncio.CancelledError):
            await probes.watch({**spec, "periodSeconds": 0.001}, scripted, seen.append)

    asyncio.run(run())
    assert seen == [True, False]  # ready after two successes, not ready after three failures
