"""HTTP entrypoint (read-only, for users and debugging): the current features of customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from churn_features.domain import FEATURE_VIEW_NAME, FeatureValue
from feature.service import FeatureService
from feature.settings import FeatureSettings
from mlops_contracts.events import Identifier
from service_kit import running, service_settings
from service_kit.http import error_responses

Features = Annotated[FeatureService, Depends(running)]
Settings = Annotated[FeatureSettings, Depends(service_settings)]

router = APIRouter(prefix="/v1/features", tags=["features"])


class CustomerFeatures(BaseModel):
    """The current features of one customer."""

    customer_id: str
    features: dict[str, FeatureValue] = Field(description="Feature name -> value.")
    as_of: datetime = Field(description="Event time of the customer's latest record.")
    feature_view: str = FEATURE_VIEW_NAME
    feature_view_version: str


class LookupRequest(BaseModel):
    """Customers to look up."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: list[Identifier] = Field(description="Customer ids (duplicates asked once).")


class LookupResponse(BaseModel):
    """Current features of the known customers; the others listed as unknown."""

    features: dict[str, dict[str, FeatureValue]] = Field(
        description="customer id -> feature name -> value, for known customers only."
    )
    as_of: dict[str, datetime] = Field(description="customer id -> event time of its row.")
    unknown: list[str] = Field(description="Requested ids the online store has no row for.")
    feature_view: str = FEATURE_VIEW_NAME
    feature_view_version: str


@router.get(
    "/{customer_id}",
    summary="Current features of one customer",
    responses=error_responses(404, 503, e404="The online store has no features for this customer."),
)
async def customer_features(customer_id: str, features: Features) -> CustomerFeatures:
    found = await features.lookup([customer_id])
    if customer_id not in found.features:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no features for customer {customer_id!r}: unknown customer, or none of its "
            "activity has been materialized yet",
        )
    return CustomerFeatures(
        customer_id=customer_id,
        features=dict(found.features[customer_id]),
        as_of=found.as_of[customer_id],
        feature_view_version=found.feature_view_version,
    )


@router.post(
    "/lookup",
    summary="Current features of a batch of customers",
    responses=error_responses(
        413, 422, 503, e413="More customer ids than `lookup_max_ids` allows."
    ),
)
async def lookup_features(
    body: LookupRequest, features: Features, settings: Settings
) -> LookupResponse:
    limit = settings.lookup_max_ids
    if len(body.customer_ids) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"at most {limit} customer ids per lookup, got {len(body.customer_ids)}",
        )
    found = await features.lookup(body.customer_ids)
    return LookupResponse(
        features={key: dict(values) for key, values in found.features.items()},
        as_of=dict(found.as_of),
        unknown=list(found.unknown),
        feature_view_version=found.feature_view_version,
    )
