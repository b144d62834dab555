"""Settings of the predictor service; every field is read from ``PREDICTOR_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from churn_features.settings import FeatureStoreAccess
from model_store.access import ModelStoreAccess
from service_kit import ServiceSettings


class PredictorSettings(ServiceSettings, FeatureStoreAccess, ModelStoreAccess):
    """Predictor: micro-batched churn scoring with hot model swap (N replicas)."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_", extra="forbid", frozen=True)

    service_name: str = "predictor"
    http_port: int = 8710
