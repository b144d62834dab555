"""HTTP face of the dashboard: the page, its JSON snapshot and its live stream (SSE).

Read-only: nothing here changes the mesh. The page is a static document; every value it
shows comes from the JSON it fetches and is written into the DOM as text, never as markup.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from monitor.dashboard.feed import DashboardFeed, TooManyClients

# The page loads nothing from elsewhere: no CDN, no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # proxies must not buffer the stream
    "X-Content-Type-Options": "nosniff",
}
RECONNECT_MS = 2000
"""How soon a browser's EventSource reconnects after the stream ends."""


def _message(event: str, data: Any) -> bytes:
    # json.dumps never emits a raw newline, so one `data:` line holds the whole payload.
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def live_stream(
    feed: DashboardFeed,
    *,
    heartbeat_s: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[bytes, None]:
    """The server-sent events of one page: a ``snapshot`` first, then ``changes`` (lists of
    ``{kind, key, data}`` upserts), a new ``snapshot`` whenever the page fell too far behind,
    and a comment line as heartbeat when idle.

    It subscribes when the body starts (a response never sent holds nothing) and
    unsubscribes however it ends: client gone, cancelled, or closed."""
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    try:
        subscription = feed.subscribe()
    except TooManyClients:
        return
    try:
        subscription.resynced()  # before the snapshot: what comes after it is sent as changes
        yield _message("snapshot", feed.snapshot())
        while True:
            if not await subscription.wait(heartbeat_s):
                if await is_disconnected():
                    return
                yield b": heartbeat\n\n"
                continue
            if subscription.ended:
                return
            if subscription.needs_snapshot:
                subscription.resynced()
                yield _message("snapshot", feed.snapshot())
                continue
            changes = subscription.take()
            if changes:
                yield _message(
                    "changes", [{"kind": c.kind, "key": c.key, "data": c.data} for c in changes]
                )
    finally:
        feed.unsubscribe(subscription)


def dashboard_router(feed: DashboardFeed, *, heartbeat_s: float) -> APIRouter:
    """Routes of the dashboard, served by the monitor's app."""
    router = APIRouter(tags=["dashboard"])
    page = resources.files("monitor.dashboard").joinpath("static/index.html").read_bytes()

    @router.get(
        "/dashboard",
        summary="The live drift dashboard (HTML page)",
        response_class=HTMLResponse,
    )
    async def dashboard_page() -> Response:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @router.get(
        "/dashboard/state",
        summary="The dashboard's whole state: series, champion, replicas, timeline",
    )
    async def dashboard_state() -> JSONResponse:
        return JSONResponse(feed.snapshot(), headers={"Cache-Control": "no-store"})

    @router.get(
        "/dashboard/events",
        summary="Live updates of the dashboard (text/event-stream)",
        response_class=StreamingResponse,
        responses={503: {"description": "Too many live streams are open."}},
    )
    async def dashboard_events(request: Request) -> Response:
        if feed.is_full:
            return JSONResponse(
                {"detail": "too many live dashboard streams are open; try again later"},
                status_code=503,
                headers={"Retry-After": "10"},
            )
        return StreamingResponse(
            live_stream(
                feed,
                heartbeat_s=heartbeat_s,
                is_disconnected=request.is_disconnected,
            ),
            media_type="text/event-stream",
            headers=STREAM_HEADERS,
        )

    return router
