"""Settings of the registry service; every field is read from ``REGISTRY_<FIELD>``."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from churn_features.settings import FeatureStoreAccess
from model_store.access import ModelStoreAccess
from registry.domain.gate import GatePolicy
from service_kit import ServiceSettings


class RegistrySettings(ServiceSettings, FeatureStoreAccess, ModelStoreAccess):
    """Registry: the promotion gate over the MLflow Model Registry."""

    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="forbid", frozen=True)

    service_name: str = "registry"
    http_port: int = 8704
    gate_metric: Literal["roc_auc", "accuracy", "log_loss"] = Field(
        default="roc_auc",
        description="Metric the gate compares on the holdout (log_loss: lower is better).",
    )
    min_margin: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="The challenger must beat the champion by at least this much "
        "(0: at least as good).",
    )
    min_metric: float = Field(
        default=0.6,
        description="The challenger's metric must reach this on the holdout, champion or not "
        "(an upper bound for log_loss).",
    )
    holdout_min_rows: int = Field(
        default=100, ge=1, description="Fewer fresh labelled rows: rejected, nothing compared."
    )
    holdout_max_rows: int = Field(
        default=20_000, ge=1, description="The newest this many labelled rows form the holdout."
    )

    def gate_policy(self) -> GatePolicy:
        """The promotion gate's rule."""
        return GatePolicy(
            metric=self.gate_metric,
            min_margin=self.min_margin,
            min_metric=self.min_metric,
            min_holdout_rows=self.holdout_min_rows,
        )
