"""``POST /v1/predict``: synchronous predictions over Kafka request/reply."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.replies import DeadlineExceeded, PendingReplies
from gateway.settings import GatewaySettings
from mlops_contracts import PredictionErrorCode, PredictionMade, PredictionStatus
from service_kit import running, service_settings
from service_kit.http import error_responses, read_limited_body, require_token, too_large

FeatureValue = float | int | str | bool

STATUS_OF_ERROR = {
    PredictionErrorCode.UNKNOWN_ENTITY: status.HTTP_404_NOT_FOUND,
    PredictionErrorCode.MISSING_FEATURE: status.HTTP_422_UNPROCESSABLE_CONTENT,
    PredictionErrorCode.INVALID_REQUEST: status.HTTP_422_UNPROCESSABLE_CONTENT,
    PredictionErrorCode.DEADLINE_EXCEEDED: status.HTTP_504_GATEWAY_TIMEOUT,
    PredictionErrorCode.MODEL_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    PredictionErrorCode.INTERNAL_ERROR: status.HTTP_500_INTERNAL_SERVER_ERROR,
}
"""HTTP status of a single prediction answered with an error."""


class PredictIn(BaseModel):
    """One prediction: a customer, optionally with inline feature values."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    features: dict[str, FeatureValue] | None = Field(
        default=None, description="Inline values overriding the online features."
    )


class PredictBatchIn(BaseModel):
    """Several predictions in one call, answered in order."""

    model_config = ConfigDict(extra="forbid")

    requests: list[PredictIn] = Field(min_length=1)


class PredictionsOut(BaseModel):
    """The answers of a batch, in request order (each ok or with its error)."""

    predictions: list[dict[str, object]]


Replies = Annotated[PendingReplies, Depends(running)]
Settings = Annotated[GatewaySettings, Depends(service_settings)]

router = APIRouter(tags=["predictions"])


@router.post(
    "/v1/predict",
    summary="Score one customer, or a batch",
    dependencies=[Depends(require_token)],
    responses={
        200: {"description": "The prediction (one), or every answer (batch)"},
        **error_responses(
            401,
            404,
            413,
            422,
            500,
            503,
            504,
            e404="Unknown customer (one)",
            e422="Invalid body (field errors), or invalid/missing features (one)",
            e503="No model is served yet, or the gateway is not started",
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            PredictIn.model_json_schema(),
                            PredictBatchIn.model_json_schema(),
                        ]
                    }
                }
            },
        }
    },
)
async def predict(request: Request, replies: Replies, settings: Settings) -> JSONResponse:
    body = await read_limited_body(request, settings.max_body_bytes)
    items, single = _parse(body, settings.max_batch)
    deadline = timedelta(milliseconds=settings.deadline_ms)
    metrics = replies.metrics
    metrics.in_flight.inc(len(items))
    started = time.perf_counter()
    try:
        answers = await asyncio.gather(
            *(replies.request(item.customer_id, item.features, deadline) for item in items),
            return_exceptions=True,
        )
    finally:
        metrics.in_flight.dec(len(items))
        metrics.latency.observe(time.perf_counter() - started)
    outs: list[dict[str, object]] = []
    for answer in answers:
        if isinstance(answer, DeadlineExceeded):
            metrics.outcomes.labels("timeout").inc()
            outs.append(
                {
                    "status": "error",
                    "error_code": PredictionErrorCode.DEADLINE_EXCEEDED.value,
                    "error_reason": str(answer),
                }
            )
        elif isinstance(answer, PredictionMade):
            metrics.outcomes.labels(answer.status.value).inc()
            outs.append(answer.model_dump(mode="json", exclude_none=True))
        else:
            raise answer  # an unexpected failure: a 500, logged
    if not single:
        return JSONResponse(PredictionsOut(predictions=outs).model_dump())
    [only] = outs
    code = status.HTTP_200_OK
    if only["status"] == PredictionStatus.ERROR.value:
        code = STATUS_OF_ERROR[PredictionErrorCode(str(only["error_code"]))]
    return JSONResponse(only, status_code=code)


def _parse(body: bytes, max_batch: int) -> tuple[list[PredictIn], bool]:
    """The predictions asked for, and whether it was a single one. A JSON object with a
    ``requests`` field is a batch; anything else is validated as one prediction."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: let the model report it as a 422
        parsed = None
    try:
        if isinstance(parsed, dict) and "requests" in parsed:
            batch = PredictBatchIn.model_validate(parsed)
            if len(batch.requests) > max_batch:
                raise too_large(
                    f"batch of {len(batch.requests)} predictions exceeds the limit of {max_batch}"
                )
            return batch.requests, False
        if parsed is None:
            return [PredictIn.model_validate_json(body)], True
        return [PredictIn.model_validate(parsed)], True
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
