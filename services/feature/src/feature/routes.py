"""HTTP entrypoint (read-only, for users and debugging): the current features of customers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from churn_features.domain import FEATURE_VIEW_NAME, FeatureValue
from feature.bootstrap import FeatureComponents, FeaturePlane
from feature.service import lookup
from mlops_contracts.events import Identifier


def get_components(request: Request) -> FeatureComponents:
    """FastAPI dependency: the running adapters (503 before the store is open)."""
    plane: FeaturePlane = request.app.state.features
    if plane.components is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "feature store not open yet")
    return plane.components


Components = Annotated[FeatureComponents, Depends(get_components)]

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
    responses={404: {"description": "The online store has no features for this customer."}},
)
async def customer_features(customer_id: str, components: Components) -> CustomerFeatures:
    found = await lookup([customer_id], store=components.store)
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
    responses={413: {"description": "More customer ids than `lookup_max_ids` allows."}},
)
async def lookup_features(body: LookupRequest, components: Components) -> LookupResponse:
    limit = components.settings.lookup_max_ids
    if len(body.customer_ids) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"at most {limit} customer ids per lookup, got {len(body.customer_ids)}",
        )
    found = await lookup(body.customer_ids, store=components.store)
    return LookupResponse(
        features={key: dict(values) for key, values in found.features.items()},
        as_of=dict(found.as_of),
        unknown=list(found.unknown),
        feature_view_version=found.feature_view_version,
    )
