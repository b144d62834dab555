"""The events of the MLOps mesh: one frozen Pydantic model per versioned CloudEvents type.

These models are the single source of the wire format. JSON Schema and AsyncAPI are generated
from them (`python -m mlops_contracts.generate`); golden samples in `contracts/samples/` must
keep parsing.

Evolution rules:
- Backward compatible change: add an *optional* field (with a default). Old consumers ignore it
  (``extra="ignore"``), new consumers read old events through the default.
- Anything else (removing, renaming, retyping or tightening a field, making one required) is a
  new class with a new versioned type (``...v2``), published beside the old one until every
  consumer has moved.

Payloads carry references (URIs, hashes), never model weights or data frames.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, ClassVar, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES",
    "ContractModel",
    "ContractType",
    "CustomerActivityRecorded",
    "DatasetSnapshot",
    "DriftDetected",
    "Event",
    "FeatureDrift",
    "FeaturesMaterialized",
    "LabelObserved",
    "ModelPromoted",
    "ModelRejected",
    "ModelTrained",
    "OutcomeObserved",
    "PerformanceDegraded",
    "Plan",
    "PredictionErrorCode",
    "PredictionMade",
    "PredictionRequested",
    "PredictionStatus",
    "PredictorModelLoaded",
    "PredictorModelRefused",
    "ProjectApplied",
    "RecordObserved",
    "RefusalReason",
    "RejectionReason",
    "TrainingFailed",
    "TrainingProgress",
    "TrainingReason",
    "TrainingRequested",
]

from .projects import Project

# --------------------------------------------------------------------------------------------
# Constrained types shared by the events
# --------------------------------------------------------------------------------------------

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
"""A non-empty id without whitespace (record ids, request ids, customer ids, run ids...)."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
"""Non-empty human-readable text (reasons, error messages)."""

ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
"""A registered model name (MLflow Model Registry), also used as a Kafka record key."""

ModelVersion = Annotated[int, Field(ge=1)]
"""A registered model version: MLflow numbers versions 1, 2, 3... per model name."""

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A lowercase hexadecimal SHA-256 digest."""

Uri = Annotated[
    str,
    StringConstraints(min_length=3, max_length=2048, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$"),
]
"""An absolute URI with a scheme (file:, s3:, runs:/, models:/, mlflow-artifacts:, http(s):)."""

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
]
"""An identifier-like name: feature names, metric names, feature view names."""

TopicName = Annotated[
    str, StringConstraints(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
]
"""A valid Kafka topic name."""

Device = Annotated[str, StringConstraints(pattern=r"^(cpu|cuda(:[0-9]+)?|mps(:[0-9]+)?)$")]
"""A torch device string: ``cpu``, ``cuda``, ``cuda:0``, ``mps``."""

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
FeatureValue = float | str
"""A feature value: numeric features are floats, categorical ones strings."""

# --------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------


class Plan(StrEnum):
    """Subscription plan of a customer."""

    BASIC = "basic"
    STANDARD = "standard"
    PREMIUM = "premium"


class ContractType(StrEnum):
    """Commitment of a customer's contract (a strong churn signal)."""

    MONTH_TO_MONTH = "month_to_month"
    ONE_YEAR = "one_year"
    TWO_YEAR = "two_year"


class PredictionStatus(StrEnum):
    """Outcome of a prediction request."""

    OK = "ok"
    ERROR = "error"


class PredictionErrorCode(StrEnum):
    """Why a prediction request could not be served."""

    UNKNOWN_ENTITY = "unknown_entity"
    MISSING_FEATURE = "missing_feature"
    INVALID_REQUEST = "invalid_request"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    MODEL_UNAVAILABLE = "model_unavailable"
    INTERNAL_ERROR = "internal_error"


class TrainingReason(StrEnum):
    """What caused a training request."""

    DRIFT = "drift"
    PERFORMANCE = "performance"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    BOOTSTRAP = "bootstrap"


class SuppressionReason(StrEnum):
    """Why the retrain trigger decided not to request a training."""

    NOT_DRIFTED = "not_drifted"
    NOT_DEGRADED = "not_degraded"
    TOO_FEW_CONSECUTIVE_WINDOWS = "too_few_consecutive_windows"
    COOLDOWN = "cooldown"
    TRAINING_IN_FLIGHT = "training_in_flight"
    TOO_FEW_NEW_LABELS = "too_few_new_labels"
    EPISODE_ALREADY_HANDLED = "episode_already_handled"
    STALE_MODEL_VERSION = "stale_model_version"


class RejectionReason(StrEnum):
    """Why the promotion gate rejected a challenger."""

    NOT_BETTER_THAN_CHAMPION = "not_better_than_champion"
    BELOW_MINIMUM = "below_minimum"
    EVALUATION_FAILED = "evaluation_failed"
    ARTIFACT_INVALID = "artifact_invalid"
    INSUFFICIENT_HOLDOUT = "insufficient_holdout"


class RefusalReason(StrEnum):
    """Why a predictor replica refused to load a promoted model."""

    SHA256_MISMATCH = "sha256_mismatch"
    ARTIFACT_UNAVAILABLE = "artifact_unavailable"
    INCOMPATIBLE_SPEC = "incompatible_spec"
    LOAD_FAILED = "load_failed"
    WARMUP_FAILED = "warmup_failed"


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


class ContractModel(BaseModel):
    """Base of every model on the wire (events and the nested models they carry)."""

    # frozen: an event is a fact; nobody edits it after it is made.
    # extra="ignore" (not "forbid") on purpose: a producer may already emit a newer version of
    # a type that gained an optional field; older consumers must keep parsing it and simply
    # not see the new field. That is what makes "add an optional field" a compatible change.
    # (Untrusted input at the edge, e.g. ingest's raw records, is validated with its own
    # strict models that forbid unknown fields.)
    # allow_inf_nan=False: NaN/inf are not JSON and would not survive a round trip.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class Event(ContractModel):
    """Base of every event. Subclasses set the three class variables below."""

    event_type: ClassVar[str]
    """Versioned CloudEvents type, ``mlops.<area>.<what happened>.v<N>``."""
    key_field: ClassVar[str]
    """Name of the field whose value is the Kafka record key (the entity the event is about)."""
    description: ClassVar[str]
    """One line saying what the event means (catalogue, README, AsyncAPI)."""

    def partition_key(self) -> str:
        """The Kafka record key of this event: the value of its key field, as a string."""
        return str(getattr(self, self.key_field))


def _check_window(start: datetime, end: datetime, what: str) -> None:
    if end < start:
        raise ValueError(f"{what} ends ({end.isoformat()}) before it starts ({start.isoformat()})")


def _unique_feature_names(features: tuple[FeatureDrift, ...]) -> tuple[FeatureDrift, ...]:
    names = [f.feature for f in features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"feature listed more than once: {', '.join(duplicates)}")
    return features


# --------------------------------------------------------------------------------------------
# Serving plane
# --------------------------------------------------------------------------------------------


class PredictionRequested(Event):
    """A client asks for a churn prediction for one customer.

    Published by streaming clients and by the gateway; consumed by the predictor replicas as
    one consumer group. The correlation id travels in the ``ce_correlationid`` header.
    """

    event_type: ClassVar[str] = "mlops.prediction.requested.v1"
    key_field: ClassVar[str] = "customer_id"
    description: ClassVar[str] = "A churn prediction is requested for one customer."

    request_id: Identifier = Field(
        description="Client-chosen id of this request; echoed in the PredictionMade answer."
    )
    customer_id: Identifier = Field(description="Customer to score (the entity; record key).")
    features: dict[Name, FeatureValue] | None = Field(
        default=None,
        description=(
            "Inline feature values that override the online store's values for this request "
            "(feature name -> number or category). Absent: use the online features only."
        ),
    )
    reply_to: TopicName | None = Field(
        default=None,
        description=(
            "Topic to which the answer is also published (e.g. a gateway instance's "
            "`predictions.replies.<instance-id>`); the results topic always gets it."
        ),
    )
    deadline: AwareDatetime | None = Field(
        default=None,
        description=(
            "Time after which the requester no longer waits; a predictor that picks the request "
            "up later answers with error `deadline_exceeded` instead of scoring it."
        ),
    )
    requested_at: AwareDatetime = Field(description="When the client made the request.")
    model_name: ModelName | None = Field(
        default=None,
        description=(
            "The model (model project) to score with; a model no project declares is "
            "answered with error `invalid_request`. Absent: the predictors' default model "
            "(churn)."
        ),
    )


class PredictionMade(Event):
    """The answer to one PredictionRequested: a score, or an explicit error.

    Every request gets exactly one answer so that no client waits forever; requests that are
    not even decodable go to the dead-letter topic instead.
    """

    event_type: ClassVar[str] = "mlops.prediction.made.v1"
    key_field: ClassVar[str] = "customer_id"
    description: ClassVar[str] = "The answer to a prediction request: a churn score or an error."

    request_id: Identifier = Field(description="The request_id of the request being answered.")
    customer_id: Identifier = Field(description="Customer that was scored (record key).")
    status: PredictionStatus = Field(description="`ok` with a score, or `error` with a code.")
    error_code: PredictionErrorCode | None = Field(
        default=None, description="Why the request could not be served (status `error` only)."
    )
    error_reason: Text | None = Field(
        default=None,
        description="Human-readable detail of the error, e.g. which feature is missing.",
    )
    score: Probability | None = Field(
        default=None, description="Predicted churn probability in [0, 1]; absent on error."
    )
    label: bool | None = Field(
        default=None,
        description="Predicted class (true = churn) at the model threshold; absent on error.",
    )
    model_name: ModelName | None = Field(
        default=None, description="Registered model that scored the request."
    )
    model_version: ModelVersion | None = Field(
        default=None, description="Version of the model that scored the request."
    )
    latency_ms: NonNegativeFloat = Field(
        description="Time spent in the predictor from receiving the request to answering, ms."
    )
    features: dict[Name, FeatureValue] = Field(
        default_factory=dict,
        description="The feature vector actually used (after inline overrides); empty on error.",
    )
    replica_id: Identifier = Field(description="Predictor replica that answered.")
    predicted_at: AwareDatetime = Field(description="When the answer was produced.")

    @model_validator(mode="after")
    def _status_matches_fields(self) -> Self:
        if self.status is PredictionStatus.OK:
            # Checked on every answer a predictor builds and every one a consumer decodes.
            if (
                self.score is None
                or self.label is None
                or self.model_name is None
                or self.model_version is None
            ):
                missing = [
                    name
                    for name in ("score", "label", "model_name", "model_version")
                    if getattr(self, name) is None
                ]
                raise ValueError(f"status 'ok' requires {', '.join(missing)}")
            if self.error_code is not None:
                raise ValueError("status 'ok' must not carry an error_code")
        else:
            if self.error_code is None or self.error_reason is None:
                raise ValueError("status 'error' requires error_code and error_reason")
            if self.score is not None or self.label is not None:
                raise ValueError("status 'error' must not carry a score or label")
        return self


class PredictorModelLoaded(Event):
    """A predictor replica has loaded, verified and warmed a model and now serves it."""

    event_type: ClassVar[str] = "mlops.predictor.model.loaded.v1"
    key_field: ClassVar[str] = "replica_id"
    description: ClassVar[str] = "A predictor replica switched to serving a model version."

    replica_id: Identifier = Field(description="Predictor replica that loaded the model (key).")
    model_name: ModelName = Field(description="Registered model name.")
    model_version: ModelVersion = Field(description="Version now served by this replica.")
    sha256: Sha256 = Field(description="Verified SHA-256 of the loaded weights artifact.")
    previous_version: ModelVersion | None = Field(
        default=None, description="Version served before the swap; absent on a replica's start."
    )
    load_ms: NonNegativeFloat = Field(description="Time to fetch, verify and load the model, ms.")
    warmup_ms: NonNegativeFloat = Field(description="Time spent warming the model up, ms.")
    loaded_at: AwareDatetime = Field(description="When the replica started serving the version.")


class PredictorModelRefused(Event):
    """A predictor replica refused a promoted model; the model it already had keeps serving."""

    event_type: ClassVar[str] = "mlops.predictor.model.refused.v1"
    key_field: ClassVar[str] = "replica_id"
    description: ClassVar[str] = "A predictor replica refused to load a model version."

    replica_id: Identifier = Field(description="Predictor replica that refused the model (key).")
    model_name: ModelName = Field(description="Registered model name.")
    model_version: ModelVersion = Field(description="Version that was refused.")
    reason: RefusalReason = Field(description="Why the model was refused.")
    detail: Text = Field(description="Human-readable detail (e.g. expected vs actual digest).")
    serving_version: ModelVersion | None = Field(
        default=None,
        description="Version the replica keeps serving; absent when it has no model yet.",
    )
    refused_at: AwareDatetime = Field(description="When the replica refused the model.")


# --------------------------------------------------------------------------------------------
# Data plane
# --------------------------------------------------------------------------------------------


class CustomerActivityRecorded(Event):
    """A validated activity record of one customer (ingest -> feature service).

    Account state (tenure, plan, contract, charges) is as of `observed_at`; the activity
    counters (tickets, usage, sessions, failed payments) cover the period since the customer's
    previous record, so the feature service can sum them over rolling windows by event time.
    """

    event_type: ClassVar[str] = "mlops.customer.activity.recorded.v1"
    key_field: ClassVar[str] = "customer_id"
    description: ClassVar[str] = "A validated activity record of one customer."

    record_id: Identifier = Field(
        description="Producer-chosen unique id of the record; re-sending it creates no duplicate."
    )
    customer_id: Identifier = Field(description="Customer the record is about (record key).")
    observed_at: AwareDatetime = Field(description="Event time: when the activity was observed.")
    tenure_months: int = Field(ge=0, le=1200, description="Months since the customer joined.")
    plan: Plan = Field(description="Current subscription plan.")
    contract_type: ContractType = Field(description="Current contract commitment.")
    monthly_charges: float = Field(
        ge=0.0, le=10_000.0, description="Current monthly bill, in the account's currency."
    )
    support_tickets: int = Field(
        ge=0, le=1000, description="Support tickets opened since the previous record."
    )
    usage_minutes: float = Field(
        ge=0.0, le=44_640.0, description="Minutes of service usage since the previous record."
    )
    sessions: int = Field(ge=0, le=100_000, description="Sessions since the previous record.")
    failed_payments: int = Field(
        ge=0, le=1000, description="Failed payment attempts since the previous record."
    )


class LabelObserved(Event):
    """The observed churn outcome of a customer, arriving later than the predictions."""

    event_type: ClassVar[str] = "mlops.customer.label.observed.v1"
    key_field: ClassVar[str] = "customer_id"
    description: ClassVar[str] = "A customer's churn outcome was observed (delayed label)."

    record_id: Identifier = Field(
        description="Producer-chosen unique id of the record; re-sending it creates no duplicate."
    )
    customer_id: Identifier = Field(description="Customer the label is about (record key).")
    churned: bool = Field(description="True when the customer churned.")
    observed_at: AwareDatetime = Field(
        description="Label time: when the outcome became known (used for point-in-time joins)."
    )
    prediction_request_id: Identifier | None = Field(
        default=None,
        description="request_id of the prediction this label resolves, when the source knows it.",
    )
    features_as_of: AwareDatetime | None = Field(
        default=None,
        description="The prediction point this outcome is about: training joins the features "
        "as of this time, so nothing recorded after the outcome was decided leaks into the "
        "training row. Absent: observed_at. Never after observed_at.",
    )

    @model_validator(mode="after")
    def _decided_before_observed(self) -> Self:
        if self.features_as_of is not None:
            _check_window(self.features_as_of, self.observed_at, "features_as_of .. observed_at")
        return self

    @property
    def prediction_point(self) -> datetime:
        """When to join features for this label: ``features_as_of``, else ``observed_at``."""
        return self.features_as_of or self.observed_at


class FeaturesMaterialized(Event):
    """The feature service wrote a batch of feature rows to the online and offline stores."""

    event_type: ClassVar[str] = "mlops.features.materialized.v1"
    key_field: ClassVar[str] = "feature_view"
    description: ClassVar[str] = "A batch of feature rows was written to the feature stores."

    feature_view: Name = Field(description="Feast feature view that was written (record key).")
    feature_view_version: Identifier = Field(
        description="Version of the feature view definition (lineage for training snapshots)."
    )
    entity_count: NonNegativeInt = Field(description="Distinct entities (customers) updated.")
    rows_written: NonNegativeInt = Field(description="Feature rows written in this batch.")
    event_time_start: AwareDatetime = Field(description="Earliest event time in the batch.")
    event_time_end: AwareDatetime = Field(description="Latest event time in the batch.")
    materialized_at: AwareDatetime = Field(description="When the batch was written.")

    @model_validator(mode="after")
    def _window_ordered(self) -> Self:
        _check_window(self.event_time_start, self.event_time_end, "event time range")
        return self


# --------------------------------------------------------------------------------------------
# Model plane
# --------------------------------------------------------------------------------------------


class TrainingRequested(Event):
    """Somebody (retrain trigger, schedule, a human, bootstrap) asks for a new model."""

    event_type: ClassVar[str] = "mlops.training.requested.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A training run is requested for a data window."

    idempotency_key: Identifier = Field(
        description="Unique key of this request; a replayed request starts no second run."
    )
    model_name: ModelName = Field(description="Registered model to train a version of (key).")
    reason: TrainingReason = Field(description="What caused the request.")
    data_window_start: AwareDatetime = Field(description="Start of the training data window.")
    data_window_end: AwareDatetime = Field(
        description="End of the training data window (labels observed before it train the "
        "model). The promotion gate judges the model on labels observed after it: end the "
        "window early enough to leave such fresh labels."
    )
    triggering_event_ids: tuple[Identifier, ...] = Field(
        default=(),
        description="CloudEvents ids of the events (e.g. DriftDetected) that led to the request.",
    )
    requested_by: Identifier | None = Field(
        default=None, description="Service or user that asked (e.g. `retrain-trigger`)."
    )
    requested_at: AwareDatetime = Field(description="When the training was requested.")

    @model_validator(mode="after")
    def _window_ordered(self) -> Self:
        _check_window(self.data_window_start, self.data_window_end, "data window")
        return self


class TrainingSuppressed(Event):
    """The retrain trigger judged a signal (drift, degraded performance, schedule, a manual
    request) and decided not to request a training; the reason says which policy held it back.

    Every decision is recorded, so the dashboard can show why a drifted window did not start
    a training.
    """

    event_type: ClassVar[str] = "mlops.training.suppressed.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "The retrain trigger decided not to request a training."

    decision_id: Identifier = Field(description="Unique id of this decision.")
    model_name: ModelName = Field(description="Model the signal was about (record key).")
    signal: TrainingReason = Field(description="Kind of signal that was judged.")
    reason: SuppressionReason = Field(description="Which policy held the training back.")
    detail: Text = Field(description="Human-readable explanation with the numbers.")
    triggering_event_ids: tuple[Identifier, ...] = Field(
        default=(), description="CloudEvents ids of the events that were judged."
    )
    decided_at: AwareDatetime = Field(description="When the decision was made.")


class TrainingProgress(Event):
    """One finished epoch of a training run (for the dashboard's progress bar)."""

    event_type: ClassVar[str] = "mlops.training.progress.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A training run finished an epoch."

    idempotency_key: Identifier = Field(description="Key of the TrainingRequested being served.")
    model_name: ModelName = Field(description="Model being trained (record key).")
    run_id: Identifier = Field(description="MLflow run id of the training run.")
    epoch: PositiveInt = Field(description="Epoch just finished, counting from 1.")
    max_epochs: PositiveInt = Field(
        description="Maximum number of epochs; early stopping may end the run before it."
    )
    train_loss: NonNegativeFloat = Field(description="Mean training loss of the epoch.")
    validation_metric: Name = Field(description="Name of the validation metric, e.g. `roc_auc`.")
    validation_value: float = Field(description="Value of the validation metric after the epoch.")
    eta_seconds: NonNegativeFloat | None = Field(
        default=None, description="Estimated seconds until the run ends; absent if unknown."
    )
    samples_per_second: NonNegativeFloat | None = Field(
        default=None, description="Training throughput of the epoch."
    )
    device: Device = Field(description="Torch device the run trains on, e.g. `cuda:0` or `cpu`.")
    reported_at: AwareDatetime = Field(description="When the epoch finished.")

    @model_validator(mode="after")
    def _epoch_within_max(self) -> Self:
        if self.epoch > self.max_epochs:
            raise ValueError(f"epoch {self.epoch} exceeds max_epochs {self.max_epochs}")
        return self


class DatasetSnapshot(ContractModel):
    """Lineage of a training set: which data, as of which feature definitions."""

    window_start: AwareDatetime = Field(description="Start of the label-time window.")
    window_end: AwareDatetime = Field(description="End of the label-time window.")
    row_count: NonNegativeInt = Field(description="Rows (labelled examples) in the training set.")
    content_sha256: Sha256 = Field(
        description="SHA-256 of the training set's canonical content (reproducibility check)."
    )
    feature_view_versions: dict[Name, Identifier] = Field(
        description="Feature view name -> version of its definition used to build the set."
    )
    uri: Uri | None = Field(
        default=None, description="Where the snapshot (or its manifest) is stored, if kept."
    )

    @model_validator(mode="after")
    def _window_ordered(self) -> Self:
        _check_window(self.window_start, self.window_end, "dataset window")
        return self


class ModelTrained(Event):
    """A training run registered a new model version (MLflow alias `challenger`)."""

    event_type: ClassVar[str] = "mlops.model.trained.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A new model version was trained and registered as challenger."

    idempotency_key: Identifier = Field(description="Key of the TrainingRequested it answers.")
    model_name: ModelName = Field(description="Registered model name (record key).")
    model_version: ModelVersion = Field(description="Newly registered version.")
    run_id: Identifier = Field(description="MLflow run id of the training run.")
    model_uri: Uri = Field(description="URI of the model artifact (safetensors + JSON spec).")
    sha256: Sha256 = Field(description="SHA-256 of the weights file; loaders verify it.")
    metrics: dict[Name, float] = Field(
        description="Final metrics of the run (validation split), metric name -> value."
    )
    dataset: DatasetSnapshot = Field(description="The training set's snapshot (lineage).")
    device: Device = Field(description="Torch device the model was trained on.")
    trained_at: AwareDatetime = Field(description="When training finished.")


class TrainingFailed(Event):
    """A training run failed; the model registry was left unchanged."""

    event_type: ClassVar[str] = "mlops.training.failed.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A training run failed; nothing was registered."

    idempotency_key: Identifier = Field(description="Key of the TrainingRequested it answers.")
    model_name: ModelName = Field(description="Model that was being trained (record key).")
    run_id: Identifier | None = Field(
        default=None, description="MLflow run id, when the run got that far."
    )
    error_type: Name = Field(description="Kind of error, e.g. the exception class name.")
    reason: Text = Field(description="Human-readable reason of the failure.")
    failed_at: AwareDatetime = Field(description="When the run failed.")


class _GateDecision(Event):
    """Fields shared by the promotion gate's two outcomes (not an event on its own)."""

    model_name: ModelName = Field(description="Registered model name (record key).")
    model_version: ModelVersion = Field(description="The challenger version that was judged.")
    model_uri: Uri = Field(description="URI of the challenger's model artifact.")
    sha256: Sha256 = Field(description="SHA-256 of the challenger's weights file.")
    gate_metric: Name = Field(description="Metric the gate compares, e.g. `roc_auc`.")
    challenger_metric: float = Field(description="Challenger's gate metric on the holdout.")
    champion_metric: float | None = Field(
        default=None,
        description="Champion's gate metric on the same holdout; absent when there is none yet.",
    )
    min_margin: float = Field(
        description="Margin by which the challenger must beat the champion to be promoted."
    )
    holdout_rows: NonNegativeInt = Field(
        description="Rows of the fresh holdout both models were evaluated on."
    )


class ModelPromoted(_GateDecision):
    """The challenger won the gate and is now the champion (MLflow alias `champion`).

    Every predictor replica consumes this event in its own consumer group (broadcast) and
    hot-swaps to the new version.
    """

    event_type: ClassVar[str] = "mlops.model.promoted.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A model version was promoted to champion."

    previous_version: ModelVersion | None = Field(
        default=None, description="The champion it replaces; absent for the first champion."
    )
    promoted_at: AwareDatetime = Field(description="When the alias moved.")


class ModelRejected(_GateDecision):
    """The challenger lost the gate; the champion stays."""

    event_type: ClassVar[str] = "mlops.model.rejected.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "A model version was rejected by the promotion gate."

    champion_version: ModelVersion | None = Field(
        default=None, description="The champion that stays; absent when there is none."
    )
    reason: RejectionReason = Field(description="Why the challenger was rejected.")
    detail: Text = Field(description="Human-readable explanation with the numbers.")
    rejected_at: AwareDatetime = Field(description="When the decision was made.")


# --------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------


class FeatureDrift(ContractModel):
    """Drift of one feature in a monitoring window against the reference data."""

    feature: Name = Field(description="Feature name.")
    score: NonNegativeFloat = Field(
        description="Drift score from the method (a p-value or a distance, see `method`)."
    )
    method: Name = Field(description="Evidently drift method, e.g. `ks`, `psi`, `wasserstein`.")
    threshold: NonNegativeFloat = Field(description="Threshold the score is compared against.")
    drifted: bool = Field(description="Whether the method judged this feature drifted.")


class DriftDetected(Event):
    """Data drift report of one monitoring window (emitted once per evaluated window).

    `dataset_drift` says whether the window counts as drifted; windows without drift are
    reported too, so the retrain trigger can count consecutive drifted windows and the
    dashboard can plot scores against thresholds.
    """

    event_type: ClassVar[str] = "mlops.monitoring.drift.detected.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "Data drift of a monitoring window was measured."

    window_id: Identifier = Field(description="Id of the monitoring window (unique per model).")
    window_start: AwareDatetime = Field(description="Start of the window (prediction time).")
    window_end: AwareDatetime = Field(description="End of the window (prediction time).")
    sample_count: NonNegativeInt = Field(description="Predictions in the window.")
    model_name: ModelName = Field(description="Model whose traffic was monitored (record key).")
    model_version: ModelVersion = Field(
        description="Version that served the window; its training snapshot is the reference."
    )
    features: tuple[FeatureDrift, ...] = Field(description="Drift per feature.")
    drift_share: Probability = Field(description="Share of features judged drifted.")
    drift_share_threshold: Probability = Field(
        description="Share at or above which the whole window counts as drifted."
    )
    dataset_drift: bool = Field(description="Whether the window counts as drifted.")
    report_uri: Uri | None = Field(
        default=None, description="URI of the Evidently report (HTML/JSON), when saved."
    )
    detected_at: AwareDatetime = Field(description="When the check finished.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_window(self.window_start, self.window_end, "window")
        _unique_feature_names(self.features)
        return self


class PerformanceDegraded(Event):
    """Live model performance of one window, from predictions joined with delayed labels.

    Emitted once per evaluated window; `degraded` says whether the metric crossed its threshold.
    """

    event_type: ClassVar[str] = "mlops.monitoring.performance.degraded.v1"
    key_field: ClassVar[str] = "model_name"
    description: ClassVar[str] = "Live model performance of a monitoring window was measured."

    window_id: Identifier = Field(description="Id of the monitoring window (unique per model).")
    window_start: AwareDatetime = Field(description="Start of the window (prediction time).")
    window_end: AwareDatetime = Field(description="End of the window (prediction time).")
    model_name: ModelName = Field(description="Model whose predictions were judged (record key).")
    model_version: ModelVersion = Field(description="Version that made the predictions.")
    metric: Name = Field(description="Metric measured, e.g. `accuracy` or `roc_auc`.")
    value: float = Field(description="Metric value over the labelled predictions of the window.")
    threshold: float = Field(description="Value below which performance counts as degraded.")
    baseline_value: float | None = Field(
        default=None, description="The model's value of the metric at training time, if known."
    )
    labelled_count: NonNegativeInt = Field(description="Predictions in the window with a label.")
    degraded: bool = Field(description="Whether the value is below the threshold.")
    report_uri: Uri | None = Field(
        default=None, description="URI of the Evidently report (HTML/JSON), when saved."
    )
    detected_at: AwareDatetime = Field(description="When the check finished.")

    @model_validator(mode="after")
    def _window_ordered(self) -> Self:
        _check_window(self.window_start, self.window_end, "window")
        return self


# --------------------------------------------------------------------------------------------
# Model projects
# --------------------------------------------------------------------------------------------


RecordValue = float | int | bool | str | None
"""A record field's value: a number, an integer, a boolean, a category, or missing."""


class RecordObserved(Event):
    """A record of a model project's entity, validated against the project's fields
    (ingest -> the services that compute its features)."""

    event_type: ClassVar[str] = "mlops.record.observed.v1"
    key_field: ClassVar[str] = "entity_id"
    description: ClassVar[str] = "A record of a model project's entity was validated."

    record_id: Identifier = Field(
        description="Producer-chosen unique id of the record; re-sending it creates no duplicate."
    )
    project: ModelName = Field(description="The model project the record belongs to.")
    project_version: PositiveInt = Field(
        description="The version of the project the record was validated against."
    )
    entity_id: Identifier = Field(description="The entity the record is about (record key).")
    observed_at: AwareDatetime = Field(description="Event time: when the values were true.")
    values: dict[Name, RecordValue] = Field(
        description="Every field of the project: its value, or null when missing."
    )


class OutcomeObserved(Event):
    """The observed label of a model project's entity, arriving later than the
    predictions (ingest -> training, the gate, live performance)."""

    event_type: ClassVar[str] = "mlops.outcome.observed.v1"
    key_field: ClassVar[str] = "entity_id"
    description: ClassVar[str] = "The label of a model project's entity was observed."

    record_id: Identifier = Field(
        description="Producer-chosen unique id of the record; re-sending it creates no duplicate."
    )
    project: ModelName = Field(description="The model project the label belongs to.")
    entity_id: Identifier = Field(description="The entity the label is about (record key).")
    positive: bool = Field(description="True when the label is the project's positive value.")
    observed_at: AwareDatetime = Field(description="Label time: when the outcome became known.")
    as_of: AwareDatetime | None = Field(
        default=None,
        description="The prediction point the outcome is about: training joins the features "
        "as of this time. Absent: observed_at. Never after observed_at.",
    )

    @model_validator(mode="after")
    def _decided_before_observed(self) -> Self:
        if self.as_of is not None:
            _check_window(self.as_of, self.observed_at, "as_of .. observed_at")
        return self


class ProjectApplied(Event):
    """A model project was applied to the mesh (``mlops project apply``): every service
    learns the project, and each new version of it, from this event.

    Carried on a compacted topic keyed by the project's name: the newest version of every
    project stays readable from the beginning of the topic, in every deployment.
    """

    event_type: ClassVar[str] = "mlops.project.applied.v1"
    key_field: ClassVar[str] = "project_name"
    description: ClassVar[str] = "A model project (or a new version of one) was applied."

    project_name: ModelName = Field(description="The project's and its model's name (key).")
    version: PositiveInt = Field(description="1 for a new project, then +1 per change.")
    fingerprint: Sha256 = Field(description="sha256 of the whole project declaration.")
    signature: Sha256 = Field(
        description="sha256 of the model's input signature (features, types, categories, "
        "label classes): versions with one signature serve one trained model."
    )
    project: Project = Field(description="The project, as its file declares it.")
    applied_by: Text = Field(description="Who applied it (user@host, or a service).")
    applied_at: AwareDatetime = Field(description="When it was applied.")

    @classmethod
    def of(
        cls, project: Project, *, version: int, applied_by: str, applied_at: datetime
    ) -> ProjectApplied:
        """``project`` applied as ``version``, with its fingerprints."""
        return cls(
            project_name=project.name,
            version=version,
            fingerprint=project.fingerprint(),
            signature=project.signature_fingerprint(),
            project=project,
            applied_by=applied_by,
            applied_at=applied_at,
        )

    @model_validator(mode="after")
    def _describes_its_project(self) -> Self:
        # The fingerprints are the applier's (``of``), not recomputed here: a release that
        # adds a defaulted field to the project would otherwise disown every stored event.
        if self.project.name != self.project_name:
            raise ValueError(f"project {self.project.name!r} under the key {self.project_name!r}")
        return self


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

ALL_EVENTS: tuple[type[Event], ...] = (
    PredictionRequested,
    PredictionMade,
    CustomerActivityRecorded,
    LabelObserved,
    FeaturesMaterialized,
    TrainingRequested,
    TrainingSuppressed,
    TrainingProgress,
    ModelTrained,
    TrainingFailed,
    ModelPromoted,
    ModelRejected,
    PredictorModelLoaded,
    PredictorModelRefused,
    DriftDetected,
    PerformanceDegraded,
    ProjectApplied,
    RecordObserved,
    OutcomeObserved,
)
"""Every event class, in catalogue order."""

_EVENT_TYPE_PATTERN = re.compile(r"^mlops(\.[a-z][a-z0-9]*)+\.v[1-9][0-9]*$")


def _build_registry(classes: tuple[type[Event], ...]) -> Mapping[str, type[Event]]:
    registry: dict[str, type[Event]] = {}
    for cls in classes:
        event_type = cls.__dict__.get("event_type")
        if not isinstance(event_type, str) or not _EVENT_TYPE_PATTERN.match(event_type):
            raise TypeError(f"{cls.__name__}.event_type must match {_EVENT_TYPE_PATTERN.pattern}")
        if event_type in registry:
            raise TypeError(
                f"{cls.__name__} and {registry[event_type].__name__} share type {event_type!r}"
            )
        if cls.key_field not in cls.model_fields:
            raise TypeError(f"{cls.__name__}.key_field {cls.key_field!r} is not one of its fields")
        key = cls.model_fields[cls.key_field]
        if key.annotation is not str or not key.is_required():
            raise TypeError(f"{cls.__name__}.key_field {cls.key_field!r} must be a required str")
        if not cls.__dict__.get("description"):
            raise TypeError(f"{cls.__name__} needs a one-line description")
        registry[event_type] = cls
    return MappingProxyType(registry)


EVENT_TYPES: Mapping[str, type[Event]] = _build_registry(ALL_EVENTS)
"""Versioned CloudEvents type string -> event class."""
