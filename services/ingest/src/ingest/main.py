"""The ingest service, declared: its components, its subscription and its routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from ingest import routes
from ingest.adapters.ledger import SqlRecordLedger
from ingest.service import IngestRecords
from ingest.settings import IngestSettings
from mlops_contracts import topic_spec
from service_kit import Kafka, ServiceRuntime, decode_raw_json, each, service_app

RAW_RECORDS = "customer.records.raw"


async def build(settings: IngestSettings, runtime: ServiceRuntime) -> IngestRecords:
    """Validation against the contracts and the applied projects, the record-id ledger,
    the publisher."""
    return IngestRecords(
        sink=runtime.publisher,
        ledger=SqlRecordLedger(runtime.processed),
        clock=lambda: datetime.now(UTC),
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
        projects=await runtime.projects(),
    )


def create_app(settings: IngestSettings, kafka: Kafka | None = None) -> FastAPI:
    """The ingest service's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="ingest",
        description="Validates the records and labels of every model project (and the churn "
        "example's activity and labels) and publishes them as RecordObserved / "
        "OutcomeObserved (CustomerActivityRecorded / LabelObserved) events keyed by entity.",
        build=build,
        subscriptions=[
            each(
                topic_spec(RAW_RECORDS),
                lambda ingest: ingest.on_raw_record,
                decoder=decode_raw_json,
                # The record-id ledger is the deduplication (a record's offset is no
                # identity: a recreated topic reuses offsets).
                idempotent=False,
            )
        ],
        routers=[routes.router],
        kafka=kafka,
    )
