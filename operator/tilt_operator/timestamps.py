"""Times as the tilt.dev API writes them: RFC 3339 in UTC with microseconds (Kubernetes' MicroTime).

Every time that goes into a status, and every time read back from one, passes through here.
"""

from __future__ import annotations

import datetime
import re

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# A Go duration, as Kubernetes writes them: 250ms, 30s, 5m, 1h30m.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def now() -> str:
    """The current time, as a status field holds it."""
    return datetime.datetime.now(datetime.UTC).strftime(FORMAT)


def from_epoch(seconds: float) -> str:
    """A file's modification time (or any Unix time) as a status field holds it."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime(FORMAT)


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``5m``, ``1h30m``, ``250ms``); ValueError for anything else."""
    if not _DURATION.fullmatch(text.strip()):
        raise ValueError(f"{text!r} is not a duration: use one like 30s, 5m or 1h30m")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


def parse(value: str) -> datetime.datetime:
    """A status time back as an aware datetime; accepts any RFC 3339 form, ``Z`` or an offset."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
