"""The registry's read API: the current champion, the version history with the gate's
numbers, and the lineage of one version (run, parameters, dataset snapshot)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from model_store import CHAMPION, ModelStoreError, ModelVersionInfo
from registry.service import PromotionGate
from service_kit import running

router = APIRouter(prefix="/v1/models", tags=["models"])

ModelNameParam = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class VersionView(BaseModel):
    """One registered version with its aliases, digest and gate outcome."""

    name: str
    version: int
    aliases: list[str]
    run_id: str | None
    source: str = Field(description="Artifact URI (spec.json + weights.safetensors).")
    sha256: str | None
    created_at: datetime | None
    gate: str | None = Field(description="`promoted`, `rejected`, or null before the gate.")
    tags: dict[str, str]


class VersionHistory(BaseModel):
    """Every version of a model, oldest first."""

    name: str
    champion: int | None
    versions: list[VersionView]


class Lineage(BaseModel):
    """Where a version came from."""

    version: VersionView
    run_status: str
    params: dict[str, str]
    metrics: dict[str, float]
    dataset_snapshot: dict[str, Any] | None


Gate = Annotated[PromotionGate, Depends(running)]


def _view(info: ModelVersionInfo) -> VersionView:
    return VersionView(
        name=info.name,
        version=info.version,
        aliases=list(info.aliases),
        run_id=info.run_id,
        source=info.source,
        sha256=info.sha256,
        created_at=info.created_at,
        gate=info.tags.get("gate"),
        tags=dict(info.tags),
    )


async def _call(function: Any, *args: Any) -> Any:
    try:
        return await asyncio.to_thread(function, *args)
    except ModelStoreError as error:
        raise HTTPException(503, f"MLflow is unavailable: {error}") from error


@router.get("/{name}/champion", response_model=VersionView)
async def champion(name: ModelNameParam, gate: Gate) -> VersionView:
    """The version serving as champion; 404 when there is none yet."""
    info = await _call(gate.models.by_alias, name, CHAMPION)
    if info is None:
        raise HTTPException(404, f"model {name!r} has no champion yet")
    return _view(info)


@router.get("/{name}/versions", response_model=VersionHistory)
async def versions(name: ModelNameParam, gate: Gate) -> VersionHistory:
    """Every version, oldest first, with the gate's numbers in its tags."""
    found: list[ModelVersionInfo] = await _call(gate.models.versions, name)
    if not found:
        raise HTTPException(404, f"model {name!r} has no versions")
    champion_version = next((v.version for v in found if CHAMPION in v.aliases), None)
    return VersionHistory(name=name, champion=champion_version, versions=[_view(v) for v in found])


@router.get("/{name}/versions/{version}", response_model=Lineage)
async def lineage(name: ModelNameParam, version: Annotated[int, Path(ge=1)], gate: Gate) -> Lineage:
    """The version, its training run's parameters and metrics, and its dataset snapshot."""
    found: list[ModelVersionInfo] = await _call(gate.models.versions, name)
    info = next((v for v in found if v.version == version), None)
    if info is None:
        raise HTTPException(404, f"model {name!r} has no version {version}")
    if info.run_id is None:
        raise HTTPException(404, f"version {version} of {name!r} records no run")
    run = await _call(gate.models.run, info.run_id)
    snapshot = await _call(gate.models.read_json, info.run_id, "dataset_snapshot.json")
    return Lineage(
        version=_view(info),
        run_status=run.status,
        params=dict(run.params),
        metrics=dict(run.metrics),
        dataset_snapshot=snapshot,
    )
