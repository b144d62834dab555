"""One service, declared in one place.

A service's ``main.py`` calls :func:`service_app` once: how its components are built from
its settings, which handler of those components takes each topic's events (``each`` one
at a time, or ``batches``), its readiness checks, its background work and its routes. The
kit does the rest, the same way for every service: connect, build, subscribe, consume;
``/health``, ``/ready`` and ``/metrics``; on SIGTERM, drain the handlers, commit, stop
the background work, release.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service_kit.http import install_error_handlers, load_api_token
from service_kit.kafka import Kafka
from service_kit.runtime import BackgroundWork, DependencyNotReady, ServiceRuntime
from service_kit.schema import Migrations
from service_kit.settings import ServiceSettings
from service_kit.subscriptions import Subscription

logger = logging.getLogger(__name__)

C = TypeVar("C")
S = TypeVar("S", bound=ServiceSettings)

Check = Callable[[C], Awaitable[None]]
Hook = Callable[[C], Awaitable[None]]


def service_app(
    settings: S,
    *,
    title: str,
    description: str,
    build: Callable[[S, ServiceRuntime], Awaitable[C]],
    subscriptions: Sequence[Subscription[C]] = (),
    readiness: Mapping[str, Check[C]] | None = None,
    background: Mapping[str, Callable[[C], BackgroundWork]] | None = None,
    on_start: Sequence[Hook[C]] = (),
    on_stop: Sequence[Hook[C]] = (),
    routers: Sequence[APIRouter] = (),
    migrations: Sequence[Migrations] = (),
    kafka: Kafka | None = None,
) -> FastAPI:
    """The service's app; nothing connects before its lifespan runs.

    Start: connect (migrate the state database to the kit's and ``migrations``' heads,
    connect the Kafka producer) -> ``build`` the components -> the
    ``on_start`` hooks -> background work -> subscriptions. Stop mirrors it: drain the
    handlers and commit -> stop the background work -> the ``on_stop`` hooks (in reverse)
    -> close. ``readiness`` checks run beside the kit's (Kafka, database) on every
    ``/ready``; ``kafka`` replaces the real client (component tests: ``InMemoryKafka``).
    """
    runtime = ServiceRuntime(settings, kafka, migrations)
    state = _Running[C]()
    for name, check in (readiness or {}).items():
        runtime.readiness[name] = state.checked(check)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.connect()
        try:
            load_api_token(app, settings)
            components = await build(settings, runtime)
            for hook in on_start:
                await hook(components)
            state.components = app.state.components = components
            for subscription in subscriptions:
                runtime.subscribe(subscription, components)
            for name, work in (background or {}).items():
                runtime.run_in_background(name, work(components))
            await runtime.start_consuming()
            runtime.started = True
            yield
        finally:
            runtime.started = False
            await runtime.stop_consuming()
            if state.components is not None:
                for hook in reversed(on_stop):
                    try:
                        await hook(state.components)
                    except Exception:
                        logger.exception("a stop hook failed; stopping the rest")
            await runtime.close()

    app = FastAPI(title=title, description=description, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.components = None
    install_error_handlers(app)
    app.include_router(operations)
    for router in routers:
        app.include_router(router)
    return app


class _Running(Generic[C]):
    """The components once built (None before)."""

    def __init__(self) -> None:
        self.components: C | None = None

    def checked(self, check: Check[C]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if self.components is None:
                raise DependencyNotReady("the service is not started yet")
            await check(self.components)

        return run


async def running(request: Request) -> Any:
    """FastAPI dependency: the running service's components (503 before they are built).
    Annotate it with the service's own type: ``Annotated[PromotionGate, Depends(running)]``.
    Async, as every dependency of the kit: FastAPI runs a plain function in a worker thread,
    a thread hop per request."""
    components = request.app.state.components
    if components is None:
        raise DependencyNotReady("the service is not started yet")
    return components


async def service_settings(request: Request) -> Any:
    """FastAPI dependency: the service's settings. Annotate it with the service's own
    type: ``Annotated[GatewaySettings, Depends(service_settings)]``."""
    return request.app.state.settings


async def get_runtime(request: Request) -> ServiceRuntime:
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
