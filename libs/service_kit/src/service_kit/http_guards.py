"""What a service's public HTTP API shares: the bearer-token check and a request body read
under a size limit (before anything parses it)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Header, HTTPException, Request, status
from pydantic import SecretStr

from service_kit.secrets import ensure_secret_file

logger = logging.getLogger(__name__)


class BearerGuard:
    """A FastAPI dependency (``Depends(guard)``) that requires ``Authorization: Bearer
    <token>``, compared in constant time. Until :meth:`load` ran, every request is refused."""

    def __init__(self) -> None:
        self.token: str | None = None

    def load(self, configured: SecretStr | None, data_dir: Path, variable: str) -> None:
        """Use the configured token; without one (dev only: production settings refuse an
        empty token) a random one kept in ``data_dir/api-token`` (0600, never logged)."""
        if configured is not None:
            self.token = configured.get_secret_value()
            return
        path = data_dir / "api-token"
        self.token = ensure_secret_file(path)
        logger.warning("no %s set; using the generated token in %s", variable, path)

    def __call__(self, authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if (
            not self.token
            or scheme.lower() != "bearer"
            # bytes: a str comparison rejects non-ASCII input
            or not secrets.compare_digest(given.encode(), self.token.encode())
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes (declared
    or streamed), so a huge body is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(f"body exceeds the limit of {limit} bytes")
    return bytes(body)


def too_large(message: str) -> HTTPException:
    """A 413 with ``message``."""
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, message)
