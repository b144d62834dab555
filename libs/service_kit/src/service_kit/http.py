"""What every service's HTTP API shares: one error model, the bearer-token check, and a
request body read under a size limit (before anything parses it)."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service_kit.projects import UnknownModelError
from service_kit.runtime import DependencyNotReady
from service_kit.secrets import ensure_secret_file
from service_kit.settings import BearerTokenAccess, ServiceSettings

logger = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """The body of every error answer of every service."""

    detail: str | list[dict[str, Any]] = Field(
        description="What went wrong: a sentence, or (422) one entry per invalid field with "
        "its location `loc`, message `msg` and type `type`."
    )


_MEANINGS = {
    400: "The body is not what this endpoint reads (not JSON, wrong shape)",
    401: "Missing or invalid bearer token (Authorization: Bearer <token>)",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Body or batch larger than the configured limits",
    422: "Invalid body or parameters (field errors)",
    500: "An unexpected failure (logged with its traceback)",
    503: "The service is not started, or a dependency it needs is unavailable",
    504: "No answer within the deadline",
}


def error_responses(*codes: int, **meanings: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of an endpoint's error answers, each with :class:`ErrorOut`;
    ``meanings`` (``e404="..."``) say what a status means here."""
    return {
        code: {
            "model": ErrorOut,
            "description": meanings.get(f"e{code}", _MEANINGS.get(code, "Error")),
        }
        for code in codes
    }


async def require_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """FastAPI dependency of every write endpoint: ``Authorization: Bearer <token>``,
    compared in constant time with the service's token (async: a plain function would run
    in a worker thread, a thread hop per request). Until the token is loaded, every
    request is refused."""
    token: bytes | None = getattr(request.app.state, "api_token", None)
    scheme, _, given = (authorization or "").partition(" ")
    if (
        not token
        or scheme.lower() != "bearer"
        # bytes: a str comparison rejects non-ASCII input
        or not secrets.compare_digest(given.encode(), token)
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid bearer token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def load_api_token(app: FastAPI, settings: ServiceSettings) -> None:
    """Load the token of a service whose settings take one (:class:`BearerTokenAccess`):
    the configured one; without it (dev only: production settings refuse an empty token)
    a random one kept in ``data_dir/api-token`` (0600, never logged)."""
    if not isinstance(settings, BearerTokenAccess):
        return
    if settings.api_token is not None:
        app.state.api_token = settings.api_token.get_secret_value().encode()
        return
    path = settings.data_dir / "api-token"
    app.state.api_token = ensure_secret_file(path).encode()
    prefix = str(settings.model_config.get("env_prefix", ""))
    logger.warning("no %sAPI_TOKEN set; using the generated token in %s", prefix, path)


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


def install_error_handlers(app: FastAPI) -> None:
    """Answer a dependency that is not ready with 503, a model no project declares with
    404, and any unexpected failure with a 500, all in the :class:`ErrorOut` shape."""

    async def not_ready(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=503)

    async def unknown_model(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.error(
            "request failed",
            exc_info=error,
            extra={"method": request.method, "path": request.url.path},
        )
        return JSONResponse(
            {"detail": f"internal error ({type(error).__name__}); see the service's log"},
            status_code=500,
        )

    app.add_exception_handler(DependencyNotReady, not_ready)
    app.add_exception_handler(UnknownModelError, unknown_model)
    app.add_exception_handler(Exception, unexpected)
