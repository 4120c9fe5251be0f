"""Log lines about one object, prefixed with its name as kopf prefixes its own: ``[sleeper] starting``.

A user greps the operator's log for their object's name; every line the reconcilers write about
an object goes through :func:`for_object`.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any


class ObjectLog(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self.extra['name'] if self.extra else ''}] {msg}", kwargs


def for_object(logger: logging.Logger, name: str) -> ObjectLog:
    return ObjectLog(logger, {"name": name})
