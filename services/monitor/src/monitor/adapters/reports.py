"""Evidently reports on local disk, newest ``keep`` windows kept, read back by window id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

ReportFormat = Literal["html", "json"]

SAFE_WINDOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
"""Window ids that are safe as file names (no separators, no leading dot)."""


class ReportArchive:
    """``<folder>/<window_id>.html`` and ``.json``; older windows beyond ``keep`` are
    deleted after each save."""

    def __init__(self, folder: Path, keep: int) -> None:
        if keep < 1:
            raise ValueError("keep at least one report")
        self.folder = folder
        self.keep = keep

    def save(self, window_id: str, *, html: str, json: str) -> None:
        """Write both files (atomically: a reader never sees half a report), then prune."""
        self._check(window_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        for suffix, text in (("json", json), ("html", html)):
            target = self.folder / f"{window_id}.{suffix}"
            partial = self.folder / f".{window_id}.{suffix}.partial"
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        self.prune()

    def path(self, window_id: str, kind: ReportFormat) -> Path | None:
        """The stored file, or None (unknown or unsafe id)."""
        if not SAFE_WINDOW_ID.match(window_id) or ".." in window_id:
            return None
        candidate = self.folder / f"{window_id}.{kind}"
        if candidate.resolve().parent != self.folder.resolve() or not candidate.is_file():
            return None
        return candidate

    def window_ids(self) -> list[str]:
        """Stored windows, newest first (by the time they were saved)."""
        if not self.folder.is_dir():
            return []
        reports = [p for p in self.folder.glob("*.json") if not p.name.startswith(".")]
        reports.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        return [p.stem for p in reports]

    def prune(self) -> int:
        """Delete all but the newest ``keep`` windows' reports; return how many went."""
        removed = 0
        for window_id in self.window_ids()[self.keep :]:
            for suffix in ("json", "html"):
                (self.folder / f"{window_id}.{suffix}").unlink(missing_ok=True)
            removed += 1
        return removed

    @staticmethod
    def _check(window_id: str) -> None:
        if not SAFE_WINDOW_ID.match(window_id) or ".." in window_id:
            raise ValueError(f"unsafe window id {window_id!r}")
