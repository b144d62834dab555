"""The retrain-trigger service, declared: its components, its subscriptions and its routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI

from mlops_contracts import (
    DriftDetected,
    LabelObserved,
    ModelPromoted,
    ModelTrained,
    PerformanceDegraded,
    topic_for,
)
from retrain_trigger import routes
from retrain_trigger.adapters import ledger
from retrain_trigger.adapters.ledger import SqlTriggerLedger
from retrain_trigger.service import RetrainTrigger
from retrain_trigger.settings import RetrainTriggerSettings
from service_kit import Kafka, ServiceRuntime, batches, each, every, service_app
from service_kit.runtime import BackgroundWork

logger = logging.getLogger(__name__)

LABEL_PRUNING_S = 6 * 3600


async def build(settings: RetrainTriggerSettings, runtime: ServiceRuntime) -> RetrainTrigger:
    """The policy over the ledger and the outbox."""
    return RetrainTrigger(
        ledger=SqlTriggerLedger(runtime.engine, runtime.outbox),
        outbox=runtime.outbox,
        policy=settings.policy(),
        projects=await runtime.projects(),
    )


def create_app(settings: RetrainTriggerSettings, kafka: Kafka | None = None) -> FastAPI:
    """The trigger's app; nothing connects before its lifespan runs."""
    label_age = timedelta(days=settings.label_retention_days)
    work: dict[str, Callable[[RetrainTrigger], BackgroundWork]] = {
        "prune labels": lambda trigger: every(
            LABEL_PRUNING_S,
            lambda: trigger.forget_labels_older_than(label_age),
            first_after_s=0,
        )
    }
    if settings.schedule_interval_minutes is not None:
        # Often enough to judge each slot early in it; a judged slot is not judged again.
        tick_s = max(1.0, min(60.0, settings.schedule_interval_minutes * 60 / 4))
        work["schedule"] = lambda trigger: every(
            tick_s, lambda: trigger.judge_schedules(settings.scheduled_models), first_after_s=0
        )
    return service_app(
        settings,
        title="retrain-trigger",
        description=(
            "Retrain trigger: turns drift and degradation into at most one training at a time."
        ),
        build=build,
        subscriptions=[
            each(topic_for(DriftDetected), lambda trigger: trigger.on_drift),
            each(topic_for(PerformanceDegraded), lambda trigger: trigger.on_performance),
            each(topic_for(ModelTrained), lambda trigger: trigger.on_training_result),
            each(topic_for(ModelPromoted), lambda trigger: trigger.on_gate_decision),
            # The service's own group (its Kafka ACLs allow no other); no processed-id rows
            # per label: the label count deduplicates on record id itself.
            batches(topic_for(LabelObserved), lambda trigger: trigger.on_labels, idempotent=False),
        ],
        background=work,
        routers=[routes.router],
        migrations=[ledger.MIGRATIONS],
        kafka=kafka,
    )
