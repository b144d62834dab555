"""Composition root of the trainer-gpu service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from churn_features.labels import follow_labels
from mlops_contracts import TrainingRequested, topic_for
from model_store.access import mlflow_readiness
from service_kit import ServiceRuntime, create_service_app
from trainer_gpu.bootstrap import TrainerPlane
from trainer_gpu.handlers import request_handler
from trainer_gpu.settings import TrainerSettings


def create_app(settings: TrainerSettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    plane = TrainerPlane(settings)
    runtime.consume(topic_for(TrainingRequested), request_handler(plane.require))
    labels = follow_labels(runtime, lambda: plane.require().labels)
    runtime.readiness["mlflow"] = mlflow_readiness(lambda: plane.require().models)
    app = create_service_app(
        runtime,
        title="trainer-gpu",
        description="Trainer: trains the churn classifier on CUDA when present, else on the "
        "CPU, and registers each model as the challenger in MLflow.",
        routers=[labels],
        on_start=[plane.start],
        on_stop=[plane.stop],
    )
    app.state.trainer = plane
    return app
