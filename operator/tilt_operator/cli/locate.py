"""Which kubectl the command line runs: ``TILT_OPERATOR_KUBECTL``, else the one on PATH."""

from __future__ import annotations

import os
import shutil

from tilt_operator.cli.errors import CLIError


def kubectl() -> str:
    found = os.environ.get("TILT_OPERATOR_KUBECTL") or shutil.which("kubectl")
    if not found:
        raise CLIError("kubectl not found: put it on PATH or set TILT_OPERATOR_KUBECTL")
    return found
