"""Secrets generated for the dev profile (production takes them from the environment)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def ensure_secret_file(path: Path) -> str:
    """The random secret kept in ``path``: created once, readable by its owner only from
    the first byte (O_EXCL, mode 0600), regenerated if a crash left it empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            value = ""
        if value:
            return value
        path.unlink(missing_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process is creating it: read theirs
            continue
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(f"could not create the secret file {path}")
    return value
