"""The HTTP face every service shares: ``/health``, ``/ready``, ``/metrics``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service_kit.runtime import ServiceRuntime

LifecycleHook = Callable[[ServiceRuntime], Awaitable[None]]


def get_runtime(request: Request) -> ServiceRuntime:
    """FastAPI dependency: the running service's runtime."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]

operations = APIRouter(tags=["operations"])


@operations.get("/health", summary="Liveness: the process is up and serving HTTP")
async def health(runtime: Runtime) -> dict[str, str]:
    return {"status": "alive", "service": runtime.settings.service_name}


@operations.get(
    "/ready",
    summary="Readiness: every dependency answered just now",
    responses={503: {"description": "A dependency is not ready; `checks` says which."}},
)
async def ready(runtime: Runtime) -> JSONResponse:
    names = list(runtime.readiness)
    results = await asyncio.gather(
        *(_timed(runtime.readiness[name]) for name in names), return_exceptions=True
    )
    checks: dict[str, Any] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            checks[name] = {"ok": False, "error": str(result) or type(result).__name__}
        else:
            checks[name] = {"ok": True, "ms": result}
    is_ready = runtime.started and all(check["ok"] for check in checks.values())
    body = {
        "status": "ready" if is_ready else "not ready",
        "service": runtime.settings.service_name,
        "instance": runtime.settings.instance_id,
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if is_ready else 503)


@operations.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: Runtime) -> Response:
    return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)


async def _timed(check: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await asyncio.wait_for(check(), timeout=3.0)
    return round((time.perf_counter() - started) * 1000, 2)


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    on_start: Sequence[LifecycleHook] = (),
    on_stop: Sequence[LifecycleHook] = (),
) -> FastAPI:
    """A FastAPI app whose lifespan connects ``runtime``, runs the ``on_start`` hooks, then
    starts consuming; on shutdown it drains consumers before the ``on_stop`` hooks run.
    Nothing connects before the lifespan runs."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Order matters: handlers may need what the hooks load (a model, a feature store),
        # and hooks may publish, so: connect -> hooks -> consume. Shutdown mirrors it:
        # drain and commit -> hooks release -> close.
        await runtime.connect()
        try:
            for hook in on_start:
                await hook(runtime)
            await runtime.start_consuming()
            runtime.started = True
            yield
        finally:
            runtime.started = False
            await runtime.stop_consuming()
            for hook in reversed(on_stop):
                await hook(runtime)
            await runtime.close()

    app = FastAPI(title=title, description=description, lifespan=lifespan)
    app.state.runtime = runtime
    app.include_router(operations)
    for router in routers:
        app.include_router(router)
    return app
