"""Settings of the predictor service; every field is read from ``PREDICTOR_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class PredictorSettings(ServiceSettings):
    """Predictor: micro-batched churn scoring with hot model swap (N replicas)."""

    model_config = SettingsConfigDict(env_prefix="PREDICTOR_", extra="forbid", frozen=True)

    service_name: str = "predictor"
    http_port: int = 8710
