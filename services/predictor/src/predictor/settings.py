"""Settings of the predictor service; every field is read from ``PREDICTOR_<FIELD>``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from churn_features.settings import FeatureStoreAccess
from model_store.access import ModelStoreAccess
from service_kit import BATCH_WAIT_MS, ServiceSettings


class PredictorSettings(ServiceSettings, FeatureStoreAccess, ModelStoreAccess):
    """Predictor: micro-batched churn scoring with hot model swap (N replicas)."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_", extra="forbid", frozen=True)

    service_name: str = "predictor"
    http_port: int = 8710
    model_name: str = Field(default="churn", min_length=1, description="Registered model served.")
    max_batch: int = Field(
        default=256,
        ge=1,
        le=10_000,
        description="Requests scored together: one feature lookup and one forward pass.",
    )
    max_wait_ms: int = Field(
        default=BATCH_WAIT_MS,
        ge=1,
        le=1000,
        description="Longest poll for requests while none arrive: a batch is whatever has "
        "arrived (up to max_batch) as soon as any has, and the next poll starts at once.",
    )
    torch_threads: int = Field(
        default=1, ge=1, description="CPU threads torch may use (1 is fastest on 2 cores)."
    )
