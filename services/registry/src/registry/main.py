"""Composition root of the registry service: ``create_app(settings)``, no I/O at import."""

from fastapi import FastAPI

from churn_features.labels import follow_labels
from mlops_contracts import ModelTrained, topic_for
from model_store.access import mlflow_readiness
from registry import routes
from registry.bootstrap import RegistryPlane
from registry.handlers import training_result_handler
from registry.settings import RegistrySettings
from service_kit import ServiceRuntime, create_service_app


def create_app(settings: RegistrySettings) -> FastAPI:
    """Build the app; connections open in its lifespan, not here."""
    runtime = ServiceRuntime(settings)
    plane = RegistryPlane(settings)
    runtime.consume(topic_for(ModelTrained), training_result_handler(plane.require))
    labels = follow_labels(runtime, lambda: plane.require().labels)
    runtime.readiness["mlflow"] = mlflow_readiness(lambda: plane.require().models)
    app = create_service_app(
        runtime,
        title="registry",
        description="Registry: the promotion gate over the MLflow Model Registry, and a read "
        "API of champions, version history and lineage.",
        routers=[routes.router, labels],
        on_start=[plane.start],
    )
    app.state.registry = plane
    return app
