"""``POST /v1/models/{name}/predict`` and ``POST /v1/predict`` (the default model, churn):
synchronous predictions over Kafka request/reply."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
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


class EntityPredictIn(BaseModel):
    """One prediction of a model project: an entity, optionally with inline features."""

    model_config = ConfigDict(extra="forbid")

    entity_id: str = Field(
        min_length=1, max_length=200, pattern=r"^\S+$", description="The entity to score."
    )
    features: dict[str, FeatureValue] | None = Field(
        default=None, description="Inline values overriding the online features."
    )


class EntityPredictBatchIn(BaseModel):
    """Several predictions of one model in one call, answered in order."""

    model_config = ConfigDict(extra="forbid")

    requests: list[EntityPredictIn] = Field(min_length=1)


Wanted = tuple[str, dict[str, FeatureValue] | None]
"""One prediction asked for: the entity id and its inline features."""


class PredictionsOut(BaseModel):
    """The answers of a batch, in request order (each ok or with its error)."""

    predictions: list[dict[str, object]]


Replies = Annotated[PendingReplies, Depends(running)]
Settings = Annotated[GatewaySettings, Depends(service_settings)]

router = APIRouter(tags=["predictions"])


def _body(single: type[BaseModel], batch: type[BaseModel]) -> dict[str, object]:
    """The OpenAPI request body: one prediction or a batch, every schema inline."""
    item = single.model_json_schema()
    many = {
        "title": batch.__name__,
        "description": batch.__doc__,
        "type": "object",
        "properties": {"requests": {"type": "array", "items": item, "minItems": 1}},
        "required": ["requests"],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [item, many]}}},
        }
    }


def _responses(e404: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {"description": "The prediction (one), or every answer (batch)"},
        **error_responses(
            401,
            404,
            413,
            422,
            500,
            503,
            504,
            e404=e404,
            e422="Invalid body (field errors), or invalid/missing features (one)",
            e503="No model is served yet, or the gateway is not started",
        ),
    }


@router.post(
    "/v1/models/{model_name}/predict",
    summary="Score one entity, or a batch, with a model project's champion",
    dependencies=[Depends(require_token)],
    responses=_responses("No model project of that name, or unknown entity (one)"),
    openapi_extra=_body(EntityPredictIn, EntityPredictBatchIn),
)
async def predict_with(
    request: Request,
    replies: Replies,
    settings: Settings,
    model_name: Annotated[
        str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    ],
) -> JSONResponse:
    """Answers carry ``entity_id``, the model's name and version, the score and label (or
    the error)."""
    replies.projects.project(model_name)  # 404 for a model no project declares
    body = await read_limited_body(request, settings.max_body_bytes)
    items, single = _parse(body, settings.max_batch, EntityPredictIn, EntityPredictBatchIn)
    return await _answer(replies, settings, items, single, model_name)


@router.post(
    "/v1/predict",
    summary="Score one customer, or a batch, with the default model (churn)",
    dependencies=[Depends(require_token)],
    responses=_responses("Unknown customer (one)"),
    openapi_extra=_body(PredictIn, PredictBatchIn),
)
async def predict(request: Request, replies: Replies, settings: Settings) -> JSONResponse:
    body = await read_limited_body(request, settings.max_body_bytes)
    items, single = _parse(body, settings.max_batch, PredictIn, PredictBatchIn)
    return await _answer(replies, settings, items, single, None)


async def _answer(
    replies: PendingReplies,
    settings: GatewaySettings,
    items: list[Wanted],
    single: bool,
    model_name: str | None,
) -> JSONResponse:
    deadline = timedelta(milliseconds=settings.deadline_ms)
    metrics = replies.metrics
    metrics.in_flight.inc(len(items))
    started = time.perf_counter()
    try:
        answers = await asyncio.gather(
            *(
                replies.request(entity, features, deadline, model_name)
                for entity, features in items
            ),
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
            out = answer.model_dump(mode="json", exclude_none=True)
            if model_name is not None:  # a model project's answer names its entity
                out = {"entity_id": out.pop("customer_id"), **out}
            outs.append(out)
        else:
            raise answer  # an unexpected failure: a 500, logged
    if not single:
        return JSONResponse(PredictionsOut(predictions=outs).model_dump())
    [only] = outs
    code = status.HTTP_200_OK
    if only["status"] == PredictionStatus.ERROR.value:
        code = STATUS_OF_ERROR[PredictionErrorCode(str(only["error_code"]))]
    return JSONResponse(only, status_code=code)


def _parse(
    body: bytes, max_batch: int, single: type[BaseModel], batch: type[BaseModel]
) -> tuple[list[Wanted], bool]:
    """The predictions asked for, and whether it was a single one. A JSON object with a
    ``requests`` field is a ``batch``; anything else is validated as one ``single``."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: let the model report it as a 422
        parsed = None
    try:
        if isinstance(parsed, dict) and "requests" in parsed:
            items = batch.model_validate(parsed).requests  # type: ignore[attr-defined]
            if len(items) > max_batch:
                raise too_large(
                    f"batch of {len(items)} predictions exceeds the limit of {max_batch}"
                )
            return [_wanted(item) for item in items], False
        if parsed is None:
            return [_wanted(single.model_validate_json(body))], True
        return [_wanted(single.model_validate(parsed))], True
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


def _wanted(item: BaseModel) -> Wanted:
    if isinstance(item, EntityPredictIn):
        return item.entity_id, item.features
    assert isinstance(item, PredictIn)
    return item.customer_id, item.features
