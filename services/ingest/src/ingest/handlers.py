"""Entry points: translate HTTP bodies and raw Kafka records into the ingest use case."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ingest.service import BatchOutcome, IngestRecords
from mlops_contracts import Envelope
from service_kit import UnprocessableEvent
from service_kit.http_guards import BearerGuard, read_limited_body, too_large


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


class IngestHttp:
    """What the HTTP layer needs, attached to app.state by create_app."""

    def __init__(self, ingest: IngestRecords, *, max_batch: int, max_body_bytes: int) -> None:
        self.ingest = ingest
        self.max_batch = max_batch
        self.max_body_bytes = max_body_bytes
        self.guard = BearerGuard()


def _http(request: Request) -> IngestHttp:
    http: IngestHttp = request.app.state.ingest_http
    return http


def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """The bearer-token check of this API."""
    _http(request).guard(authorization)


router = APIRouter(tags=["records"])


@router.post(
    "/v1/records",
    response_model=BatchResponse,
    summary="Submit a batch of customer activity and label records",
    dependencies=[Depends(require_token)],
    responses={
        422: {
            "model": BatchResponse,
            "description": "Some records were rejected; the "
            "valid ones were accepted (see each result).",
        },
        400: {"description": "The body is not JSON or not {'records': [...]}"},
        401: {"description": "Missing or invalid bearer token"},
        413: {"description": "Body or batch larger than the configured limits"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RecordBatchIn.model_json_schema()}},
        }
    },
)
async def post_records(request: Request) -> JSONResponse:
    http = _http(request)
    records = _records_of(await read_limited_body(request, http.max_body_bytes), http.max_batch)
    outcome = await http.ingest(records)
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


def raw_record_handler(ingest: IngestRecords) -> Any:
    """Handler of the raw-records topic: one record per Kafka record; a record that fails
    validation is dead-lettered with every field error in its reason."""

    async def on_raw_record(envelope: Envelope[Any]) -> None:
        outcome = await ingest([envelope.data])
        rejected = [r for r in outcome.results if r.status == "rejected"]
        if rejected:
            reasons = "; ".join(f"{e.field}: {e.message}" for e in rejected[0].errors)
            raise UnprocessableEvent(f"invalid record: {reasons}")

    return on_raw_record
