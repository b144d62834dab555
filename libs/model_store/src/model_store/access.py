"""What a service that talks to MLflow shares: the tracking URI setting (refused in
production when left at the embedded default) and the readiness check."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, model_validator

from service_kit import DependencyNotReady

if TYPE_CHECKING:
    from model_store import ModelStore

EMBEDDED_TRACKING_URI = "http://127.0.0.1:8720"
"""The MLflow server of the embedded mesh (``mlops up``)."""


class ModelStoreAccess(BaseModel):
    """Settings fields of a service that reads or writes models (a mixin for its
    ``ServiceSettings``; expects ``profile``)."""

    mlflow_tracking_uri: str = Field(
        default=EMBEDDED_TRACKING_URI,
        min_length=1,
        description="MLflow tracking server and model registry (runs, versions, artifacts). "
        "Must be set explicitly with profile=production.",
    )

    @model_validator(mode="after")
    def _production_names_its_tracking_server(self) -> ModelStoreAccess:
        if (
            getattr(self, "profile", "dev") == "production"
            and self.mlflow_tracking_uri == EMBEDDED_TRACKING_URI
        ):
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(
                f"profile=production needs {prefix}MLFLOW_TRACKING_URI: the embedded "
                f"default {EMBEDDED_TRACKING_URI} is only the dev mesh's server"
            )
        return self


async def mlflow_ready(models: ModelStore) -> None:
    """Readiness check: the tracking server answers."""
    try:
        await asyncio.to_thread(models.ping)
    except Exception as error:
        raise DependencyNotReady(f"MLflow did not answer: {error}") from error
