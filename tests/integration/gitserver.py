"""A real https git server for the tests: `git http-backend` behind a local TLS server.

The certificate comes from a CA the test makes; the operator is told to trust that CA through
its own setting (TILT_OPERATOR_GIT_CA_BUNDLE), never by turning verification off.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tilt_operator.devcluster.cluster import free_port
from tilt_operator.devcluster.pki import ensure_pki

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


class _Backend(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._cgi(b"")

    def do_POST(self) -> None:
        self._cgi(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _cgi(self, body: bytes) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        authorized = self.server.authorized
        if authorized is not None and self.headers.get("Authorization") not in authorized:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            **self.server.environ,
            **GIT_ENV,
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": self.client_address[0],
        }
        result = subprocess.run(
            [self.server.git, "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for key, value in headers:
            if key.lower() != "status":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        # A throttled server sends slowly, so a test can catch a client in the middle of a fetch.
        chunk = 64 * 1024 if self.server.throttle else len(payload) or 1
        for start in range(0, len(payload), chunk):
            self.wfile.write(payload[start : start + chunk])
            time.sleep(self.server.throttle)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    requests: list[str]
    throttle: float = 0.0
    authorized: set[str] | None = None
    # Fixed when the server starts: tests running meanwhile may change PATH or the environment.
    git: str
    environ: dict[str, str]


class GitServer:
    """Bare repos under ``root`` served at ``https://127.0.0.1:<port>/<name>.git``; stoppable and restartable."""

    def __init__(self, workdir: Path, pki_dir: Path | None = None, host: str = "127.0.0.1") -> None:
        """``pki_dir`` shares another server's CA, so clients that trust one trust both; ``host`` is
        where it listens (a local node's pods reach the pod network's gateway, never loopback)."""
        self.root = workdir / "repos"
        self.root.mkdir(parents=True)
        self.pki = ensure_pki(pki_dir or workdir / "pki")
        self.host = host
        self.port = free_port()
        self.requests: list[str] = []
        self.throttle = 0.0
        # The Authorization headers it accepts (changed in place to rotate), or None for no login.
        self.authorized: set[str] | None = None
        self.git = shutil.which("git") or "git"
        self.environ = dict(os.environ)
        self._server: _Server | None = None

    @property
    def ca_bundle(self) -> Path:
        return self.pki.ca.cert

    def url(self, name: str) -> str:
        return f"https://{self.host}:{self.port}/{name}.git"

    def start(self) -> None:
        server = _Server((self.host, self.port), _Backend)
        server.root, server.requests, server.throttle = self.root, self.requests, self.throttle
        server.authorized = self.authorized
        server.git, server.environ = self.git, self.environ
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.pki.apiserver.cert, self.pki.apiserver.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def create_repo(self, name: str, files: dict[str, str], *, branch: str = "main") -> Path:
        """A bare repo with one commit holding ``files``; returns its work tree for more commits."""
        bare = self.root / f"{name}.git"
        git("init", "--bare", f"--initial-branch={branch}", str(bare))
        work = self.root / f"{name}.work"
        git("clone", str(bare), str(work))
        git("checkout", "-B", branch, cwd=work)
        self.commit(work, files, "initial")
        return work

    def commit(self, work: Path, files: dict[str, str], message: str) -> str:
        """Write ``files`` (a script, one that starts with ``#!``, executable), commit and push the
        current branch; returns the new commit id."""
        for rel, text in files.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
            if text.startswith("#!"):
                (work / rel).chmod(0o755)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", message, cwd=work)
        git("push", "-q", "origin", "HEAD", "--tags", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)
