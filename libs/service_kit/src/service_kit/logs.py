"""Structured JSON logging with the current event id and correlation id on every line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_event_id: ContextVar[str | None] = ContextVar("event_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Record attributes that are not user `extra=` fields (uvicorn's color_message duplicates
# the message with terminal escapes).
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


@contextlib.contextmanager
def event_context(event_id: str | None, correlation_id: str | None) -> Iterator[None]:
    """Tag every log line emitted inside the block with these ids."""
    event_token = _event_id.set(event_id)
    correlation_token = _correlation_id.set(correlation_id)
    try:
        yield
    finally:
        _event_id.reset(event_token)
        _correlation_id.reset(correlation_token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra attributes passed with ``extra=`` are kept."""

    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self._static = {"service": service, "instance": instance}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self._static,
            "event_id": _event_id.get(),
            "correlation_id": _correlation_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, instance: str, level: str = "INFO") -> None:
    """Send every logger (uvicorn's and aiokafka's too) to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, instance))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "alembic"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    # aiokafka logs every rebalance step at INFO, Alembic every step of a migration (the
    # kit logs one line per migration): keep their warnings only.
    for chatty in ("aiokafka", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
