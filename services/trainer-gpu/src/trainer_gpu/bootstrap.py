"""The one place the trainer's concrete adapters are built, inside the lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import torch

from churn_features import open_feature_store
from churn_features.labels import SqlLabelLog
from model_store import ModelStore
from service_kit import DependencyNotReady, ServiceRuntime
from trainer_gpu.adapters.request_ledger import SqlRequestLedger
from trainer_gpu.device import resolve_device
from trainer_gpu.service import Trainer
from trainer_gpu.settings import TrainerSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerComponents:
    """The running service's adapters and worker."""

    trainer: Trainer
    labels: SqlLabelLog
    models: ModelStore


async def bootstrap(settings: TrainerSettings, runtime: ServiceRuntime) -> TrainerComponents:
    """Choose the device, open the label log, the request queue, the feature store and the
    MLflow client."""
    torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    logger.info(
        "training device chosen",
        extra={"device": str(device), "device_name": name, "threads": settings.torch_threads},
    )
    features = open_feature_store(settings.store_settings())
    labels = SqlLabelLog(runtime.engine)
    ledger = SqlRequestLedger(runtime.engine)
    await labels.create_schema()
    await ledger.create_schema()
    models = await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri)
    trainer = Trainer(
        ledger=ledger,
        labels=labels,
        features=features,
        models=models,
        publisher=runtime.publisher,
        config=settings.training_config(),
        device=device,
        model_names=settings.model_names,
        max_window=timedelta(days=settings.max_window_days),
    )
    return TrainerComponents(trainer=trainer, labels=labels, models=models)


class TrainerPlane:
    """Holds the components between the lifespan's start and stop hooks."""

    def __init__(self, settings: TrainerSettings) -> None:
        self.settings = settings
        self.components: TrainerComponents | None = None

    def require(self) -> TrainerComponents:
        """The running components; raises while the service is not started."""
        if self.components is None:
            raise DependencyNotReady("the trainer is not started yet")
        return self.components

    async def start(self, runtime: ServiceRuntime) -> None:
        """on_start hook: build the adapters, then start the training worker."""
        self.components = await bootstrap(self.settings, runtime)
        await self.components.trainer.start()

    async def stop(self, _runtime: ServiceRuntime) -> None:
        """on_stop hook: stop the worker (an unfinished run resumes on the next start)."""
        if self.components is not None:
            await self.components.trainer.stop()
