"""How a message quotes what a user wrote: never whole when it is long.

A URL, a path or a name comes back in ``status.error``, the operator's log and Events; a
5,000-character URL must not come back 5,000 characters long. Every message that echoes user
input passes it through :func:`clip`.
"""

from __future__ import annotations

ECHO_LIMIT = 200
ELLIPSIS = "…"


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` as it is when it is short, else its first ``limit - 1`` characters and an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def quoted(value: object, limit: int = ECHO_LIMIT) -> str:
    """How messages quote a value inline (``'main'``): its ``repr``, clipped."""
    return clip(repr(value), limit)
