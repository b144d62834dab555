"""The Feast objects of the churn features, built from :mod:`churn_features.domain`.

The entity and the feature view are the same in both profiles; only the view's batch
source differs (a folder of parquet files in dev, a PostgreSQL table in production).
Imported by the adapter (``apply()``) and by the Feast repo's definitions file, so the
CLI and the services register identical objects.
"""

from __future__ import annotations

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.data_source import DataSource
from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import (
    PostgreSQLSource,
)
from feast.types import Float64, Int64, PrimitiveFeastType, String

from churn_features.domain import (
    CREATED_TIMESTAMP,
    ENTITY_JOIN_KEY,
    ENTITY_NAME,
    EVENT_TIMESTAMP,
    FEATURE_VIEW_NAME,
    FEATURE_VIEW_TTL,
    FEATURE_VIEW_VERSION,
    FEATURES,
    FeatureDtype,
)
from churn_features.settings import FeatureStoreSettings

SOURCE_NAME = f"{FEATURE_VIEW_NAME}_rows"

_FEAST_TYPES: dict[FeatureDtype, PrimitiveFeastType] = {
    "int64": Int64,
    "float64": Float64,
    "string": String,
}

customer = Entity(
    name=ENTITY_NAME,
    join_keys=[ENTITY_JOIN_KEY],
    value_type=ValueType.STRING,
    description="A customer of the subscription service (the churn model's unit).",
)


def offline_source(settings: FeatureStoreSettings) -> DataSource:
    """The view's batch source: where the feature service appends rows."""
    if settings.profile == "production":
        return PostgreSQLSource(
            name=SOURCE_NAME,
            table=settings.offline_table,
            timestamp_field=EVENT_TIMESTAMP,
            created_timestamp_column=CREATED_TIMESTAMP,
            description="Feature rows appended by the feature service.",
        )
    return FileSource(
        name=SOURCE_NAME,
        path=str(settings.offline_dir),
        timestamp_field=EVENT_TIMESTAMP,
        created_timestamp_column=CREATED_TIMESTAMP,
        description="Feature rows appended by the feature service (a folder of parquet files).",
    )


def customer_activity_view(source: DataSource) -> FeatureView:
    """The feature view over ``source``: account state and rolling activity aggregates."""
    return FeatureView(
        name=FEATURE_VIEW_NAME,
        entities=[customer],
        ttl=FEATURE_VIEW_TTL,
        schema=[
            Field(name=ENTITY_JOIN_KEY, dtype=String),
            *(
                Field(name=spec.name, dtype=_FEAST_TYPES[spec.dtype], description=spec.description)
                for spec in FEATURES
            ),
        ],
        source=source,
        online=True,
        description="A customer's account state as of their latest record, and activity "
        "counters summed over rolling event-time windows.",
        tags={"version": FEATURE_VIEW_VERSION, "owner": "feature-service"},
    )
