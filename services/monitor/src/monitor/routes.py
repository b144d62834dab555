"""The monitor's Evidently reports over HTTP: ``GET /reports`` and
``GET /reports/{window_id}.html|.json``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import FileResponse

from monitor.adapters.reports import ReportArchive
from service_kit import running
from service_kit.http import error_responses

router = APIRouter(prefix="/reports", tags=["reports"])

_MEDIA_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}


async def _reports(monitor: Annotated[Any, Depends(running)]) -> ReportArchive:
    reports: ReportArchive = monitor.reports
    return reports


Reports = Annotated[ReportArchive, Depends(_reports)]


@router.get("", summary="Window ids with a stored report, newest first")
async def report_index(reports: Reports) -> dict[str, list[str]]:
    return {"windows": reports.window_ids()}


@router.get(
    "/{file_name}",
    summary="One window's Evidently report: `<window_id>.html` or `<window_id>.json`",
    response_class=FileResponse,
    responses=error_responses(404, 503, e404="No such report (never stored, or pruned)"),
)
async def report_file(
    file_name: Annotated[str, Path(max_length=210, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")],
    reports: Reports,
) -> FileResponse:
    window_id, _, kind = file_name.rpartition(".")
    if kind not in _MEDIA_TYPES or not window_id:
        raise HTTPException(404, "reports are <window_id>.html or <window_id>.json")
    path = reports.path(window_id, "html" if kind == "html" else "json")
    if path is None:
        raise HTTPException(404, f"no report for window {window_id!r}")
    return FileResponse(path, media_type=_MEDIA_TYPES[kind])
