"""The one error every command ends with: ``error: <message>`` on stderr and exit code 1, as kubectl's."""

from __future__ import annotations


class CLIError(Exception):
    """A failure the user can fix; its message is the whole error line."""


class Unreachable(CLIError):
    """The operator's server cannot be reached, or refused: its own message, when it gave one."""
