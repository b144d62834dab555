"""The one place the registry's concrete adapters are built, inside the lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from churn_features import open_feature_store
from churn_features.labels import SqlLabelLog
from model_store import ModelStore
from registry.adapters.decision_ledger import SqlDecisionLedger
from registry.service import PromotionGate
from registry.settings import RegistrySettings
from service_kit import DependencyNotReady, ServiceRuntime


@dataclass(frozen=True)
class RegistryComponents:
    """The running service's adapters and gate."""

    gate: PromotionGate
    labels: SqlLabelLog
    models: ModelStore
    decisions: SqlDecisionLedger


async def bootstrap(settings: RegistrySettings, runtime: ServiceRuntime) -> RegistryComponents:
    """Open the label log, the decision ledger, the feature store and the MLflow client."""
    labels = SqlLabelLog(runtime.engine)
    decisions = SqlDecisionLedger(runtime.engine)
    await labels.create_schema()
    await decisions.create_schema()
    models = await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri)
    gate = PromotionGate(
        models=models,
        labels=labels,
        features=open_feature_store(settings.store_settings()),
        decisions=decisions,
        publisher=runtime.publisher,
        policy=settings.gate_policy(),
        holdout_max_rows=settings.holdout_max_rows,
    )
    return RegistryComponents(gate=gate, labels=labels, models=models, decisions=decisions)


class RegistryPlane:
    """Holds the components between the lifespan's start and stop hooks."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self.components: RegistryComponents | None = None

    def require(self) -> RegistryComponents:
        """The running components; raises while the service is not started."""
        if self.components is None:
            raise DependencyNotReady("the registry is not started yet")
        return self.components

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the adapters."""
        self.components = await bootstrap(self.settings, runtime)
