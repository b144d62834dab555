"""The one place the predictor's concrete adapters are built, inside the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass

import torch

from churn_features import open_feature_store
from model_store import ModelStore
from predictor.serving import ModelSlot, ModelSwapper, Predictor
from predictor.settings import PredictorSettings
from service_kit import DependencyNotReady, ServiceRuntime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorComponents:
    """The running replica's scorer and model swapper."""

    predictor: Predictor
    swapper: ModelSwapper
    models: ModelStore


async def bootstrap(settings: PredictorSettings, runtime: ServiceRuntime) -> PredictorComponents:
    """Open the online feature store and the MLflow client, then load the champion."""
    torch.set_num_threads(settings.torch_threads)
    features = open_feature_store(settings.store_settings())
    # Feast and pandas leave a large heap of long-lived objects; a full collection walking
    # it stalls the loop ~200 ms. Freeze what exists now out of the collector's reach.
    gc.freeze()
    models = await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri)
    slot = ModelSlot()
    replica = settings.instance_id
    swapper = ModelSwapper(
        slot=slot,
        models=models,
        publisher=runtime.publisher,
        replica_id=replica,
        model_name=settings.model_name,
    )
    predictor = Predictor(
        slot=slot, features=features, publisher=runtime.publisher, replica_id=replica
    )
    return PredictorComponents(predictor=predictor, swapper=swapper, models=models)


class PredictorPlane:
    """Holds the components between the lifespan's start and stop hooks."""

    def __init__(self, settings: PredictorSettings) -> None:
        self.settings = settings
        self.components: PredictorComponents | None = None

    def require(self) -> PredictorComponents:
        """The running components; raises while the service is not started."""
        if self.components is None:
            raise DependencyNotReady("the predictor is not started yet")
        return self.components

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the adapters and load the champion before consuming."""
        self.components = await bootstrap(self.settings, runtime)
        await self.components.swapper.load_champion()

    async def store_ready(self) -> None:
        """Readiness: the online feature store answers a lookup."""
        try:
            await asyncio.to_thread(self.require().predictor.features.ping)
        except DependencyNotReady:
            raise
        except Exception as error:
            raise DependencyNotReady(f"online feature store did not answer: {error}") from error

    async def model_ready(self) -> None:
        """Readiness: the registry was asked for the champion and, if it has one, that
        model is loaded."""
        slot = self.require().swapper.slot
        if not slot.champion_checked:
            raise DependencyNotReady("the champion model is not loaded yet")
