"""The open windows saved on a graceful stop and restored at the next start, so that a
planned restart (a deploy) loses no prediction of the windows still filling: their offsets
were committed once their batches were handled (at the latest when the consumer stops)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class WindowSnapshotFile:
    """One JSON file in the service's data dir; read once and removed at start."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, document: dict[str, Any]) -> None:
        """Write atomically (a crash mid-write leaves the previous file or none)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(document), encoding="utf-8")
        partial.replace(self.path)

    def take(self) -> dict[str, Any] | None:
        """The saved document, removed from disk (a stale one must not be restored
        twice); None when there is none or it is unreadable (logged)."""
        if not self.path.is_file():
            return None
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            logger.warning("unreadable window snapshot ignored", extra={"error": str(error)})
            document = None
        self.path.unlink(missing_ok=True)
        return document if isinstance(document, dict) else None
