"""Times as the tilt.dev API writes them: RFC 3339 in UTC with microseconds (Kubernetes' MicroTime).

Every time that goes into a status, and every time read back from one, passes through here.
"""

from __future__ import annotations

import datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> str:
    """The current time, as a status field holds it."""
    return datetime.datetime.now(datetime.UTC).strftime(FORMAT)


def from_epoch(seconds: float) -> str:
    """A file's modification time (or any Unix time) as a status field holds it."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(FORMAT)


def parse(value: str) -> datetime.datetime:
    """A status time back as an aware datetime; accepts any RFC 3339 form, ``Z`` or an offset."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
