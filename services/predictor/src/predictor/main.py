"""The predictor service, declared: its components and its subscriptions."""

from __future__ import annotations

import asyncio
import gc

import torch
from fastapi import FastAPI

from churn_features import open_feature_store
from mlops_contracts import ModelPromoted, PredictionRequested, topic_for
from model_store import ModelStore
from model_store.access import mlflow_ready
from predictor.decoding import decode_prediction_request
from predictor.serving import ModelSlot, ModelSwapper, Predictor, Replica
from predictor.settings import PredictorSettings
from service_kit import Kafka, ServiceRuntime, batches, broadcast, each, service_app


async def build(settings: PredictorSettings, runtime: ServiceRuntime) -> Replica:
    """Open the online feature store and the MLflow client."""
    torch.set_num_threads(settings.torch_threads)
    features = open_feature_store(settings.store_settings())
    # Feast and pandas leave a large heap of long-lived objects; a full collection walking
    # it stalls the loop ~200 ms. Freeze what exists now out of the collector's reach.
    gc.freeze()
    slot = ModelSlot()
    return Replica(
        predictor=Predictor(
            slot=slot,
            features=features,
            publisher=runtime.publisher,
            replica_id=settings.instance_id,
            model_name=settings.model_name,
            projects=await runtime.projects(),
        ),
        swapper=ModelSwapper(
            slot=slot,
            models=await asyncio.to_thread(ModelStore, settings.mlflow_tracking_uri),
            publisher=runtime.publisher,
            replica_id=settings.instance_id,
            model_name=settings.model_name,
        ),
    )


def create_app(settings: PredictorSettings, kafka: Kafka | None = None) -> FastAPI:
    """The predictor's app; nothing connects before its lifespan runs."""
    return service_app(
        settings,
        title="predictor",
        description="Predictor: micro-batched churn scoring with hot model swap (N replicas).",
        build=build,
        on_start=[lambda replica: replica.swapper.load_champion()],
        subscriptions=[
            batches(
                topic_for(PredictionRequested),
                lambda replica: replica.predictor.serve,
                max_batch=settings.max_batch,
                max_wait_ms=settings.max_wait_ms,
                decoder=decode_prediction_request,
                # An answer is idempotent (same request id, same model): a redelivered
                # request is answered again rather than paying a dedup query on the hot path.
                idempotent=False,
                request_path=True,  # the gateway's callers wait on these
            ),
            # Every replica reads every decision: a group of its own.
            each(
                topic_for(ModelPromoted),
                lambda replica: replica.swapper.on_decision,
                group=broadcast,
            ),
        ],
        readiness={
            "model": lambda replica: replica.swapper.ready(),
            "feature_store": lambda replica: replica.predictor.features.ready(),
            "mlflow": lambda replica: mlflow_ready(replica.swapper.models),
        },
        kafka=kafka,
    )
