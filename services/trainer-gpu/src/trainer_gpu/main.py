"""The trainer-gpu service, declared: its components, its subscriptions and its routes."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import torch
from fastapi import FastAPI

from churn_features import labels as label_log
from churn_features import open_feature_store
from churn_features.labels import SqlLabelLog, follow_labels, label_summary_router
from mlops_contracts import TrainingRequested, topic_for
from model_store import ModelStore
from model_store.access import mlflow_ready
from service_kit import Kafka, ServiceRuntime, each, service_app
from trainer_gpu.adapters import request_ledger
from trainer_gpu.adapters.request_ledger import SqlRequestLedger
from trainer_gpu.device import resolve_device
from trainer_gpu.service import Trainer
from trainer_gpu.settings import TrainerSettings

logger = logging.getLogger(__name__)


async def build(settings: TrainerSettings, runtime: ServiceRuntime) -> Trainer:
    """Choose the device; open the label log, the request queue, the feature store and
    the MLflow client."""
    torch.set_num_threads(settings.torch_threads)
    device = resolve_device(settings.device)
    logger.info(
        "training device chosen",
        extra={
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": settings.torch_threads,
        },
    )
    return Trainer(
        ledger=SqlRequestLedger(runtime.engine, runtime.outbox),
        labels=SqlLabelLog(runtime.engine),
        features=open_feature_store(settings.store_settings()),
        models=await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri),
        publisher=runtime.publisher,
        outbox=runtime.outbox,
        config=settings.training_config(),
        device=device,
        model_names=settings.model_names,
        max_window=timedelta(days=settings.max_window_days),
    )


def create_app(settings: TrainerSettings, kafka: Kafka | None = None) -> FastAPI:
    """The trainer's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="trainer-gpu",
        description="Trainer: trains the churn classifier on CUDA when present, else on the "
        "CPU, and registers each model as the challenger in MLflow.",
        build=build,
        subscriptions=[
            each(topic_for(TrainingRequested), lambda trainer: trainer.on_request),
            follow_labels(lambda trainer: trainer.labels),
        ],
        readiness={"mlflow": lambda trainer: mlflow_ready(trainer.models)},
        background={"training worker": lambda trainer: trainer.work},
        routers=[label_summary_router(lambda trainer: trainer.labels)],
        migrations=[label_log.MIGRATIONS, request_ledger.MIGRATIONS],
        kafka=kafka,
    )
