"""Where a locally running operator serves its web page, so ``kubectl tilt logs`` finds it without flags.

An operator started on this machine (``tilt-operator dev``, or ``run`` against any cluster)
writes its address to a file named after the API server it reconciles, under
``$XDG_STATE_HOME/tilt-operator/servers/``, and removes it when it stops. The command line reads
the file for the API server of its own kubeconfig; with none there (or its operator gone) it
reaches an in-cluster operator through the API server instead. The file holds only an address
on the loopback interface, which answers nothing that does not come from this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tilt_operator.config import xdg_dir


def _file(api_server: str) -> Path:
    digest = hashlib.sha256(api_server.rstrip("/").encode()).hexdigest()[:16]
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "tilt-operator" / "servers" / f"{digest}.json"


def advertise(api_server: str, url: str) -> Path:
    """Say where this process serves for ``api_server``; returns the file to remove on the way out."""
    path = _file(api_server)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"api_server": api_server, "url": url, "pid": os.getpid()}))
    temporary.replace(path)
    return path


def withdraw(path: Path | None) -> None:
    """Stop advertising, unless another operator has taken the file over since."""
    if path is None:
        return
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find(api_server: str) -> str | None:
    """The address of the operator running on this machine for ``api_server``, if one is."""
    try:
        entry = json.loads(_file(api_server).read_text())
        os.kill(int(entry["pid"]), 0)  # still running?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(entry["url"])
