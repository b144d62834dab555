"""``POST /v1/records``: a batch of raw records over HTTP, into the ingest use case."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ingest.service import BatchOutcome, IngestRecords
from ingest.settings import IngestSettings
from service_kit import running, service_settings
from service_kit.http import error_responses, read_limited_body, require_token, too_large


class FieldErrorOut(BaseModel):
    field: str = Field(description="Dotted path of the offending field ('' = the record).")
    message: str = Field(description="What is wrong with it.")


class RecordResultOut(BaseModel):
    index: int = Field(description="Position of the record in the request.")
    record_id: str | None = Field(description="The record's id, when it had a readable one.")
    status: Literal["accepted", "duplicate", "rejected"] = Field(
        description="accepted: published now; duplicate: its record_id was accepted "
        "before (nothing published); rejected: see errors."
    )
    errors: list[FieldErrorOut] = Field(default_factory=list)


class BatchResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[RecordResultOut]


class RecordBatchIn(BaseModel):
    """Request body (documentation only: the body is parsed under a size limit)."""

    records: list[dict[str, Any]] = Field(
        description="Activity records (kind=activity, the fields of "
        "CustomerActivityRecorded) and label records (kind=label, the fields of "
        "LabelObserved)."
    )


Ingest = Annotated[IngestRecords, Depends(running)]
Settings = Annotated[IngestSettings, Depends(service_settings)]

router = APIRouter(tags=["records"])


@router.post(
    "/v1/records",
    response_model=BatchResponse,
    summary="Submit a batch of customer activity and label records",
    dependencies=[Depends(require_token)],
    responses={
        **error_responses(
            400, 401, 413, 500, 503, e400="The body is not JSON or not {'records': [...]}"
        ),
        422: {
            "model": BatchResponse,
            "description": "Some records were rejected; the "
            "valid ones were accepted (see each result).",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RecordBatchIn.model_json_schema()}},
        }
    },
)
async def post_records(request: Request, ingest: Ingest, settings: Settings) -> JSONResponse:
    records = _records_of(
        await read_limited_body(request, settings.max_body_bytes), settings.max_batch
    )
    outcome = await ingest(records)
    body = _batch_response(outcome)
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if body.rejected else status.HTTP_200_OK
    return JSONResponse(body.model_dump(), status_code=code)


def _records_of(body: bytes, max_batch: int) -> list[object]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as error:  # bad UTF-8/JSON, absurd nesting
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not JSON: {error}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("records"), list):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, 'body must be a JSON object {"records": [...]}'
        )
    unknown = sorted(set(parsed) - {"records"})
    if unknown:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown body field(s): {unknown}")
    records: list[object] = parsed["records"]
    if len(records) > max_batch:
        raise too_large(f"batch of {len(records)} records exceeds the limit of {max_batch}")
    return records


def _batch_response(outcome: BatchOutcome) -> BatchResponse:
    return BatchResponse(
        accepted=outcome.count("accepted"),
        duplicates=outcome.count("duplicate"),
        rejected=outcome.count("rejected"),
        results=[
            RecordResultOut(
                index=result.index,
                record_id=result.record_id,
                status=result.status,
                errors=[FieldErrorOut(field=e.field, message=e.message) for e in result.errors],
            )
            for result in outcome.results
        ],
    )
