"""Settings of the retrain-trigger service; every field is read from ``RETRAIN_TRIGGER_<FIELD>``."""

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from retrain_trigger.domain.policy import TriggerPolicy
from service_kit import ServiceSettings
from service_kit.settings import BearerTokenAccess


class RetrainTriggerSettings(ServiceSettings, BearerTokenAccess):
    """Retrain trigger: turns drift and degradation into at most one training at a time."""

    model_config = SettingsConfigDict(env_prefix="RETRAIN_TRIGGER_", extra="forbid", frozen=True)

    service_name: str = "retrain-trigger"
    http_port: int = 8706
    consecutive_drift_windows: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Drifted windows in a row (of one model version) that request a training.",
    )
    consecutive_degraded_windows: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Degraded-performance windows in a row that request a training.",
    )
    cooldown_minutes: float = Field(
        default=60.0,
        ge=0,
        description="After a request, drift, performance and schedule signals request no "
        "other training for this long (manual requests are not held back).",
    )
    in_flight_timeout_minutes: float = Field(
        default=180.0,
        gt=0,
        description="A requested training with no ModelTrained/TrainingFailed after this long "
        "counts as lost and no longer blocks new requests.",
    )
    min_new_labels: int = Field(
        default=100,
        ge=0,
        description="Labels observed after the newest training window's end needed before an "
        "automatic signal requests a training (0: no minimum).",
    )
    schedule_interval_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Request a training when none was requested or finished for this long, "
        "judged once per interval slot. Empty: no schedule (the default).",
    )
    scheduled_models: tuple[str, ...] = Field(
        default=("churn",), description="Models the schedule requests trainings of."
    )
    window_days: float = Field(
        default=30.0, gt=0, le=400, description="Length of a requested training's data window."
    )
    holdout_days: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="A requested window ends this long before the request, leaving fresher "
        "labels to the promotion gate's holdout.",
    )
    label_retention_days: float = Field(
        default=60.0,
        gt=0,
        description="Labels observed longer ago than this are forgotten (only counts of recent "
        "labels matter).",
    )
    max_body_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest accepted POST /v1/trigger body, bytes."
    )

    def policy(self) -> TriggerPolicy:
        """The retraining policy these settings describe."""
        return TriggerPolicy(
            consecutive_drift_windows=self.consecutive_drift_windows,
            consecutive_degraded_windows=self.consecutive_degraded_windows,
            cooldown=timedelta(minutes=self.cooldown_minutes),
            in_flight_timeout=timedelta(minutes=self.in_flight_timeout_minutes),
            min_new_labels=self.min_new_labels,
            schedule_interval=(
                None
                if self.schedule_interval_minutes is None
                else timedelta(minutes=self.schedule_interval_minutes)
            ),
            window_days=self.window_days,
            holdout_days=self.holdout_days,
        )
