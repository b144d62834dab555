"""Composition root of the ingest service: ``create_app(settings)``, no I/O at import."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from ingest.adapters.ledger import SqlRecordLedger
from ingest.handlers import IngestHttp, raw_record_handler, router
from ingest.service import IngestRecords
from ingest.settings import IngestSettings
from mlops_contracts import topic_spec
from service_kit import ServiceRuntime, create_service_app, decode_raw_json

logger = logging.getLogger(__name__)

RAW_RECORDS = "customer.records.raw"


def create_app(settings: IngestSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    ingest = IngestRecords(
        sink=runtime.publisher,
        ledger=SqlRecordLedger(runtime.processed),
        clock=lambda: datetime.now(UTC),
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
    )
    http = IngestHttp(ingest, max_batch=settings.max_batch, max_body_bytes=settings.max_body_bytes)
    # idempotent=False: the record-id ledger is the deduplication (a record's offset is
    # no identity: a recreated topic reuses offsets).
    runtime.consume(
        topic_spec(RAW_RECORDS),
        raw_record_handler(ingest),
        decoder=decode_raw_json,
        idempotent=False,
    )

    async def load_token(_runtime: ServiceRuntime) -> None:
        http.guard.load(settings.api_token, settings.data_dir, "INGEST_API_TOKEN")

    app = create_service_app(
        runtime,
        title="ingest",
        description="Validates customer activity and delayed churn labels and publishes them "
        "as CustomerActivityRecorded / LabelObserved events keyed by customer id.",
        routers=[router],
        on_start=[load_token],
    )
    app.state.ingest_http = http
    return app
