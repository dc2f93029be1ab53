"""One structured (JSON) log line per request: who, what, how long, and how it ended."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone
from typing import Any

LOGGER = logging.getLogger("emospeaker.server")


def configure(stream: Any = None, level: int = logging.INFO) -> None:
    """Log lines to stderr as they are (each is already one JSON object)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False


def event(name: str, **fields: Any) -> None:
    """A server event (start, drain, stop) in the same JSON form as request lines."""
    LOGGER.info(json.dumps({"ts": _now(), "event": name, **fields}, default=str))


class RequestLog:
    """Collects the fields of one request and writes them once, when it ends."""

    def __init__(self, method: str, peer: str) -> None:
        self.fields: dict[str, Any] = {"method": method, "peer": peer}
        self.status = "OK"
        self._started = time.perf_counter()
        self._written = False

    def set(self, **fields: Any) -> None:
        self.fields.update(fields)

    def fail(self, status: str, message: str) -> None:
        self.status = status
        self.fields["error"] = message

    def write(self) -> None:
        if self._written:
            return
        self._written = True
        line = {
            "ts": _now(),
            "event": "request",
            **self.fields,
            "status": self.status,
            "ms": round((time.perf_counter() - self._started) * 1000, 1),
        }
        LOGGER.info(json.dumps(line, default=str))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
