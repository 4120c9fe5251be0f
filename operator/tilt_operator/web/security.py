"""Who the web server answers, and which requests may change anything.

A button can run a command, so a click must come from the dashboard itself, in a browser on this
machine, and from nothing else:

- **Loopback hosts only.** Every request must name a loopback host in its Host header, so a page
  of another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
- **Same origin.** A request that changes anything (any method but GET and HEAD) is refused when
  the browser says it comes from another origin (``Origin``, ``Sec-Fetch-Site``).
- **A per-session token.** Each page gets its own token when it connects (over the event stream,
  which only a page of this origin can read) and sends it with every click; a token is an HMAC of
  a random nonce under a key made at start-up, so it is checked without any state, and every
  token dies with the process.
- **Nothing runs that the page did not ship.** The Content-Security-Policy allows only this
  server's own script and style, and images from data: URIs (a button's iconSVG): a string an
  extension wrote is shown as text, and even markup that slipped into the page could not run.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_HEADER = "X-Tilt-Operator-Token"
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_SAFE_METHODS = {"GET", "HEAD"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class NotLoopback(ValueError):
    """The server may only listen on a loopback address."""


def check_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(
            f"the web server listens on loopback only (127.0.0.1 or ::1), not {host!r}: "
            "reach it from elsewhere with kubectl port-forward"
        )


def host_allowed(header: str | None) -> bool:
    """Whether the Host header names this machine: 127.0.0.1:10350, localhost, [::1]:8080…"""
    if not header:
        return False
    host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return host.strip("[]").lower() in _LOOPBACK_NAMES


def same_origin(method: str, host: str | None, origin: str | None, fetch_site: str | None) -> bool:
    """Whether a request may change state: a safe method, or nothing says it comes from elsewhere.

    Browsers send ``Origin`` with every POST and ``Sec-Fetch-Site`` with every request; a client
    that is not a browser sends neither, and needs the token all the same.
    """
    if method in _SAFE_METHODS:
        return True
    if origin is not None and origin != f"http://{host}":
        return False
    return fetch_site in (None, "same-origin", "none")


class Tokens:
    """Per-session tokens: issued to each page as it connects, checked on every click."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str | None) -> bool:
        nonce, dot, signature = (token or "").partition(".")
        return bool(nonce and dot) and hmac.compare_digest(signature, self._sign(nonce))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests for other hosts, and state changes from other origins."""
    headers = request.headers
    if not host_allowed(headers.get("Host")):
        return web.json_response({"error": "this server answers only requests for a loopback host"}, status=403)
    if not same_origin(request.method, headers.get("Host"), headers.get("Origin"), headers.get("Sec-Fetch-Site")):
        return web.json_response({"error": "refused: the request comes from another origin"}, status=403)
    return await handler(request)


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Added to every answer, streamed ones too, as it is prepared."""
    response.headers.update(HEADERS)
