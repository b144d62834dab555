"""HTTP entrypoints: ``POST /v1/trigger`` (a manual training request, bearer token) and
``GET /v1/decisions`` (what the trigger decided, newest first)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_contracts import TrainingReason
from retrain_trigger.adapters.ledger import StoredDecision
from retrain_trigger.domain.policy import ExplicitRequest, Outcome
from retrain_trigger.service import RetrainTrigger
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import running, service_settings
from service_kit.http import error_responses, read_limited_body, require_token

_ID = r"^\S+$"
_MODEL = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class TriggerIn(BaseModel):
    """A manual training request."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(default="churn", min_length=1, max_length=128, pattern=_MODEL)
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=_ID,
        description="Unique per request: sending it again returns the same decision and "
        "starts no second training. Absent: a new key (every call is a new request).",
    )
    force: bool = Field(
        default=False, description="Request even while another training is in flight."
    )
    window_days: float | None = Field(
        default=None, gt=0, le=400, description="Data window length; absent: the setting."
    )
    holdout_days: float | None = Field(
        default=None,
        ge=0,
        le=60,
        description="The window ends this long ago; absent: the setting.",
    )
    requested_by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        pattern=_ID,
        description="Who asks (recorded in the request).",
    )


class DecisionOut(BaseModel):
    """One decision of the trigger."""

    decision_id: str
    model_name: str
    signal: TrainingReason
    outcome: Outcome
    reason: str | None = Field(description="Why no training was requested (suppressed only).")
    detail: str
    triggering_event_ids: list[str]
    idempotency_key: str | None
    data_window_start: datetime | None
    data_window_end: datetime | None
    requested_by: str
    announced: bool = Field(description="Whether the decision is published as an event.")
    published: bool = Field(description="Whether the broker acknowledged that event.")
    event_id: str | None = Field(description="CloudEvents id of the event (announced only).")
    decided_at: datetime


class DecisionsOut(BaseModel):
    """Decisions, newest first."""

    decisions: list[DecisionOut]


def decision_view(stored: StoredDecision) -> DecisionOut:
    """The API's view of a stored decision."""
    decision = stored.decision
    return DecisionOut(
        decision_id=decision.decision_id,
        model_name=decision.model_name,
        signal=decision.signal,
        outcome=decision.outcome,
        reason=decision.reason.value if decision.reason else None,
        detail=decision.detail,
        triggering_event_ids=list(decision.triggering_event_ids),
        idempotency_key=decision.idempotency_key,
        data_window_start=decision.data_window_start,
        data_window_end=decision.data_window_end,
        requested_by=decision.requested_by,
        announced=decision.announce,
        published=stored.published,
        event_id=decision.event_id if decision.announce else None,
        decided_at=decision.decided_at,
    )


Trigger = Annotated[RetrainTrigger, Depends(running)]
Settings = Annotated[RetrainTriggerSettings, Depends(service_settings)]

router = APIRouter(tags=["retraining"])


@router.post(
    "/v1/trigger",
    summary="Request a training by hand, through the trigger's policy",
    response_model=DecisionOut,
    dependencies=[Depends(require_token)],
    responses={
        200: {"description": "A training was requested (or this key's request was, before)"},
        409: {
            "model": DecisionOut,
            "description": "Suppressed: a training is in flight (send force=true)",
        },
        **error_responses(401, 404, 413, 422, 500, 503, e404="No model project of that name"),
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": TriggerIn.model_json_schema()}},
        }
    },
)
async def trigger_training(request: Request, trigger: Trigger, settings: Settings) -> JSONResponse:
    """A manual request bypasses window counting, cooldown and the label minimum, but not
    a training in flight unless ``force``. The same ``idempotency_key`` always gets the
    same decision."""
    body = await read_limited_body(request, settings.max_body_bytes)
    try:
        wanted = TriggerIn.model_validate_json(body) if body.strip() else TriggerIn()
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    explicit = ExplicitRequest(
        model_name=wanted.model_name,
        idempotency_key=wanted.idempotency_key or f"manual-{wanted.model_name}-{uuid.uuid4()}",
        reason=TrainingReason.MANUAL,
        force=wanted.force,
        window_days=wanted.window_days,
        holdout_days=wanted.holdout_days,
        requested_by=wanted.requested_by or "retrain-trigger.api",
    )
    stored = await trigger.on_explicit(explicit)
    code = (
        status.HTTP_200_OK
        if stored.decision.outcome is Outcome.REQUESTED
        else status.HTTP_409_CONFLICT
    )
    return JSONResponse(decision_view(stored).model_dump(mode="json"), status_code=code)


@router.get(
    "/v1/decisions",
    summary="The trigger's decisions, newest first",
    responses=error_responses(422, 503),
)
async def recent_decisions(
    trigger: Trigger,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    model_name: Annotated[str | None, Query(max_length=128, pattern=_MODEL)] = None,
) -> DecisionsOut:
    """Every decision is here, including the suppressions that were not published."""
    stored = await trigger.recent(limit, model_name)
    return DecisionsOut(decisions=[decision_view(s) for s in stored])
