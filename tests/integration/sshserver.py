"""A real OpenSSH server for the tests: Debian's sshd, on loopback, with a host key of its own.

It serves the git repos of a :class:`~tests.integration.gitserver.GitServer` over ssh to one
client key, as the current user (``ssh://<user>@127.0.0.1:<port>/<path>.git``); the test set-up
starts and stops it. Nothing of the system's sshd configuration or service is used.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from pathlib import Path

from tests.conftest import eventually
from tilt_operator.devcluster.cluster import free_port

SSHD = Path("/usr/sbin/sshd")


def keypair(path: Path) -> Path:
    """A new ed25519 key without a passphrase at ``path`` (and ``path``.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


class SshServer:
    def __init__(self, workdir: Path) -> None:
        self.directory = workdir / "sshd"
        self.directory.mkdir(parents=True)
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = keypair(self.directory / "host_key")
        self.client_key = keypair(self.directory / "client_key")
        (self.directory / "authorized_keys").write_text(self.client_key.with_suffix(".pub").read_text())
        self.config = self.directory / "sshd_config"
        self.config.write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.directory / 'authorized_keys'}\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PidFile none\n"
            "LogLevel VERBOSE\n"
        )
        self.log = self.directory / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def known_hosts(self, key: Path | None = None) -> str:
        """The known_hosts line for this server: its own host key, or ``key`` (to pin the wrong one)."""
        kind, data = (key or self.host_key).with_suffix(".pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {data}\n"

    def url(self, bare: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{bare}"

    def start(self) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation directory
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        eventually(self._listening, timeout=20, what="sshd to listen")

    def _listening(self) -> bool:
        assert self._process is not None
        assert self._process.poll() is None, self.log.read_text()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None
