"""Run one service under uvicorn: settings from the environment, JSON logs, graceful
SIGTERM (the lifespan drains consumers and commits offsets before the process exits).
``python -m <service> migrate`` upgrades the service's database and exits (what an
operator runs before a rollout, or a Kubernetes Job; a service also migrates at start)."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError

from service_kit.logs import configure_logging
from service_kit.runtime import ServiceRuntime
from service_kit.schema import Revisions
from service_kit.settings import ServiceSettings

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)

# EX_CONFIG. Under the mesh a process that exits at once counts as a failed start and is
# given up after a few retries; `mlops up` validates every service's settings beforehand.
EXIT_BAD_CONFIG = 78


YOUNG_GENERATION_THRESHOLD = 20_000
"""Allocations between two collections of the youngest generation (CPython: 700)."""


def _spare_the_startup_heap() -> None:
    """Imports and the app leave hundreds of thousands of long-lived objects (torch,
    pydantic schemas, FastAPI, feature stores): freeze them out of every later garbage
    collection, and collect the young generation less often. A hot consumer decodes and
    builds several objects per record; on the drain probe this cut the predictor's and
    the monitor's CPU per prediction by about 7%."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


def serve(
    settings_class: type[SettingsT],
    create_app: Callable[[SettingsT], FastAPI],
    argv: Sequence[str] | None = None,
) -> None:
    """Read settings, configure logging, build the app and serve it until SIGTERM/SIGINT;
    with the argument ``migrate``, upgrade the service's database instead and exit."""
    command = list(sys.argv[1:] if argv is None else argv)
    if command not in ([], ["migrate"]):
        print(
            f"usage: {settings_class.__name__} [migrate]; got {' '.join(command)}", file=sys.stderr
        )
        raise SystemExit(2)
    try:
        settings = settings_class()
    except ValidationError as error:
        prefix = settings_class.model_config.get("env_prefix", "")
        print(
            f"invalid settings for {settings_class.__name__} (env prefix {prefix}):",
            file=sys.stderr,
        )
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "(settings)"
            print(f"  {prefix}{field.upper()}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    configure_logging(settings.service_name, settings.instance_id, settings.log_level)
    app = create_app(settings)
    if command == ["migrate"]:
        before, after = asyncio.run(migrate_database(app))
        print(describe_migration(settings.service_name, before, after))
        return
    _spare_the_startup_heap()
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        # Start-up failed (port taken, dependency down): exit non-zero so the supervisor
        # restarts us with backoff instead of believing a clean stop.
        raise SystemExit(1)


async def migrate_database(app: FastAPI) -> Revisions:
    """Upgrade the state database of a service's ``app`` (not started) to this release's
    schema; returns its revisions before and after."""
    runtime: ServiceRuntime = app.state.runtime
    runtime.settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return await runtime.migrate()
    finally:
        await runtime.engine.dispose()


def describe_migration(service: str, before: set[str], after: set[str]) -> str:
    """One line for a person: what a migration did to a service's database."""
    if before == after:
        return f"{service}: at {', '.join(sorted(after))} already"
    return (
        f"{service}: migrated from {', '.join(sorted(before)) or 'an empty database'} "
        f"to {', '.join(sorted(after))}"
    )
