"""The operator's settings: read once from the environment at start-up, then frozen.

Every knob has one name (``TILT_OPERATOR_*``) and one default here, so the CLI, the kopf
handlers and the tests agree on where data lives and how long things may take.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def xdg_dir(variable: str, default: str) -> Path:
    """An XDG base directory: ``$<variable>`` when set, else ``~/<default>`` (``XDG_DATA_HOME``, ``.local/share``)."""
    return Path(os.environ.get(variable) or Path.home() / default)


def default_data_dir() -> Path:
    """Where checkouts live: Tilt's ``$XDG_DATA_HOME/tilt-dev``, default ``~/.local/share/tilt-dev``."""
    return xdg_dir("XDG_DATA_HOME", ".local/share") / "tilt-dev"


# The operator's own namespace (the Deployment's, and where ExtensionRepo Secrets live).
DEFAULT_NAMESPACE = "tilt-operator"
_POD_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace(env: Mapping[str, str]) -> str:
    """``TILT_OPERATOR_NAMESPACE``, else the pod's own namespace in a cluster, else ``tilt-operator``."""
    if env.get("TILT_OPERATOR_NAMESPACE"):
        return env["TILT_OPERATOR_NAMESPACE"]
    try:
        return _POD_NAMESPACE.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def default_identity() -> str:
    """Who this process is in the leader Lease: ``<pod or host>_<random>``, as client-go names holders.

    In a pod the part before ``_`` is the pod's name (``TILT_OPERATOR_POD_NAME``, from the downward
    API), which is how ``kubectl tilt`` finds the leader's pod.
    """
    return f"{os.environ.get('TILT_OPERATOR_POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _address(value: str) -> str | None:
    """``host:port``, or None for "none" (or nothing)."""
    return None if value.strip().lower() in {"", "none"} else value.strip()


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _paths(value: str | None) -> tuple[Path, ...]:
    """Absolute directories separated by ``:`` (``os.pathsep``), as PATH lists them; empty entries dropped."""
    return tuple(Path(entry) for entry in (value or "").split(os.pathsep) if entry.strip())


# The ServiceAccount an extension acts as when its Extension (or Tiltfile) names none: Flux's
# --default-service-account. manifests/ and `tilt-operator dev` install it with the Tilt API only.
DEFAULT_SERVICE_ACCOUNT = "tilt-extension"


@dataclass(frozen=True)
class Settings:
    """Everything the reconcilers need to know about their environment."""

    data_dir: Path
    # Seconds any single git command may take before it is killed.
    git_timeout: float = 120.0
    # An extra PEM bundle git trusts for https (internal git servers); added to, not replacing,
    # the system's certificate authorities.
    git_ca_bundle: Path | None = None
    # Seconds between re-checks of an unpinned https repo when its spec sets no interval.
    default_interval: float = 300.0
    # Whether Cmd objects may start processes on this machine.
    exec_enabled: bool = False
    # Limits for one Tiltfile run.
    tiltfile_timeout: float = 30.0
    tiltfile_memory_mb: int = 512
    # Starlark steps one run may take: a loop that would run for ever fails with "too many steps"
    # (10 to 15 s of a busy loop on 2 cores; the time limit is the other bound).
    tiltfile_max_steps: int = 1_000_000_000
    # Warm Tiltfile hosts, so Tiltfile runs at once: one per core (each run is CPU-bound).
    tiltfile_workers: int = max(2, os.cpu_count() or 1)
    # Where the web server (logs, the dashboard) listens: a loopback host and port (Tilt's 10350),
    # or None for no server.
    serve: str | None = "127.0.0.1:10350"
    # The namespace whose Secrets ExtensionRepos may name in spec.secretRef (and only that one),
    # and where the leader Lease is.
    namespace: str = DEFAULT_NAMESPACE
    # Leader election on a Lease, for several replicas (off: one process, kopf's standalone mode).
    # The timings are controller-runtime's defaults: a lease lasts 15 s, a leader that has not
    # renewed for 10 s stops all work, and every 2 s the leader renews and a standby tries.
    leader_elect: bool = False
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=default_identity)
    # The ServiceAccount (in ``namespace``) every extension acts as unless its Extension or Tiltfile
    # names another in spec.serviceAccountName: its writes impersonate it, its processes get a
    # token of it, never the operator's own credentials (docs/design.md, "Identity").
    default_service_account: str = DEFAULT_SERVICE_ACCOUNT
    # How long the tokens extension processes get are valid (the TokenRequest API allows 600 s at
    # least), and when they are renewed: after this many seconds, or (None) at 80% of their life.
    token_expiration: int = 3600
    token_renewal: float | None = None
    # The socket of the runner that starts the processes extensions supply (Cmds, Tiltfile hosts),
    # the operator pod's second container in a cluster; None: they are the operator's children.
    runner: Path | None = None
    # The directories under which file:// ExtensionRepos may be: none unless listed (``/`` in
    # `tilt-operator dev`, for local development as Tilt does it).
    file_roots: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if self.token_expiration < 600:
            raise ValueError("TILT_OPERATOR_TOKEN_EXPIRATION: the TokenRequest API issues tokens for 600 s at least")
        relative = [str(root) for root in self.file_roots if not root.is_absolute()]
        if relative:
            raise ValueError(f"TILT_OPERATOR_FILE_ROOTS: every directory must be absolute, not {', '.join(relative)}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        ca = env.get("TILT_OPERATOR_GIT_CA_BUNDLE")
        return cls(
            data_dir=Path(env["TILT_OPERATOR_DATA_DIR"]) if env.get("TILT_OPERATOR_DATA_DIR") else default_data_dir(),
            git_timeout=float(env.get("TILT_OPERATOR_GIT_TIMEOUT", cls.git_timeout)),
            git_ca_bundle=Path(ca) if ca else None,
            default_interval=float(env.get("TILT_OPERATOR_DEFAULT_INTERVAL", cls.default_interval)),
            exec_enabled=_flag(env.get("TILT_OPERATOR_EXEC")),
            tiltfile_timeout=float(env.get("TILT_OPERATOR_TILTFILE_TIMEOUT", cls.tiltfile_timeout)),
            tiltfile_memory_mb=int(env.get("TILT_OPERATOR_TILTFILE_MEMORY_MB", cls.tiltfile_memory_mb)),
            tiltfile_max_steps=int(env.get("TILT_OPERATOR_TILTFILE_MAX_STEPS", cls.tiltfile_max_steps)),
            tiltfile_workers=int(env.get("TILT_OPERATOR_TILTFILE_WORKERS", cls.tiltfile_workers)),
            serve=_address(env.get("TILT_OPERATOR_SERVE", cls.serve or "")),
            namespace=own_namespace(env),
            leader_elect=_flag(env.get("TILT_OPERATOR_LEADER_ELECT")),
            lease_duration=float(env.get("TILT_OPERATOR_LEASE_DURATION", cls.lease_duration)),
            renew_deadline=float(env.get("TILT_OPERATOR_RENEW_DEADLINE", cls.renew_deadline)),
            retry_period=float(env.get("TILT_OPERATOR_RETRY_PERIOD", cls.retry_period)),
            default_service_account=env.get("TILT_OPERATOR_DEFAULT_SERVICE_ACCOUNT") or cls.default_service_account,
            token_expiration=int(env.get("TILT_OPERATOR_TOKEN_EXPIRATION", cls.token_expiration)),
            token_renewal=float(env["TILT_OPERATOR_TOKEN_RENEWAL"]) if env.get("TILT_OPERATOR_TOKEN_RENEWAL") else None,
            file_roots=_paths(env.get("TILT_OPERATOR_FILE_ROOTS")),
            runner=Path(env["TILT_OPERATOR_RUNNER"]) if env.get("TILT_OPERATOR_RUNNER") else None,
        )
