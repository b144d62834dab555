"""The registry service, declared: its components, its subscriptions and its routes."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from churn_features import labels as label_log
from churn_features import open_feature_store
from churn_features.labels import SqlLabelLog, follow_labels, label_summary_router
from mlops_contracts import ModelTrained, topic_for
from model_store import ModelStore
from model_store.access import mlflow_ready
from registry import routes
from registry.adapters import decision_ledger
from registry.adapters.decision_ledger import SqlDecisionLedger
from registry.service import PromotionGate
from registry.settings import RegistrySettings
from service_kit import Kafka, ServiceRuntime, each, service_app


async def build(settings: RegistrySettings, runtime: ServiceRuntime) -> PromotionGate:
    """The gate over the label log, the decision ledger, the feature store and MLflow."""
    return PromotionGate(
        models=await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri),
        labels=SqlLabelLog(runtime.engine),
        features=open_feature_store(settings.store_settings()),
        decisions=SqlDecisionLedger(runtime.engine, runtime.outbox),
        outbox=runtime.outbox,
        policy=settings.gate_policy(),
        holdout_max_rows=settings.holdout_max_rows,
    )


def create_app(settings: RegistrySettings, kafka: Kafka | None = None) -> FastAPI:
    """The registry's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="registry",
        description="Registry: the promotion gate over the MLflow Model Registry, and a read "
        "API of champions, version history and lineage.",
        build=build,
        subscriptions=[
            each(topic_for(ModelTrained), lambda gate: gate.on_training_result),
            follow_labels(lambda gate: gate.labels),
        ],
        readiness={"mlflow": lambda gate: mlflow_ready(gate.models)},
        routers=[routes.router, label_summary_router(lambda gate: gate.labels)],
        migrations=[label_log.MIGRATIONS, decision_ledger.MIGRATIONS],
        kafka=kafka,
    )
