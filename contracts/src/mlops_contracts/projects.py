"""The model project: one table, one label, one model, declared in one file.

A project says what the records of its entity look like (the fields, their types and
allowed values), which features the model reads (a field's latest value, or an aggregate
of a field over a window of the entity's records), what the label is and when it is
observed, and how the mesh trains, gates, monitors and retrains the model. Every section
but the entity, the fields and the label has a default: the values the mesh has always
used for churn.

The model is the project's name: a project ``credit`` is served, monitored and retrained
as the registered model ``credit``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

ProjectName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$", min_length=1, max_length=63)
]
"""A project's (and its model's) name: lower case letters, digits, ``_`` and ``-``."""

FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
"""A field's or a feature's name: an identifier (it becomes a column and a Feast field)."""

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A CSV header, when it differs from the field's name."""

FieldType = Literal["numeric", "integer", "boolean", "categorical"]
Aggregate = Literal["latest", "sum", "count", "mean", "min", "max"]
Task = Literal["binary_classification"]

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$")


def parse_duration(value: Any) -> Any:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"`` or a number of seconds."""
    if isinstance(value, timedelta) or value is None:
        return value
    if isinstance(value, bool):
        raise ValueError("a duration such as 30d, 12h, 90m or 45s")
    try:
        if isinstance(value, int | float):
            return timedelta(seconds=value)
        if isinstance(value, str) and (match := _DURATION.match(value)):
            return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    except (OverflowError, ValueError):
        raise ValueError(f"{value!r} is out of range for a duration") from None
    raise ValueError(f"{value!r} is not a duration such as 30d, 12h, 90m or 45s")


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: ``timedelta(days=30)`` -> ``"30d"``."""
    micros = value // timedelta(microseconds=1)
    for unit, size in _UNITS.items():
        if unit != "w" and micros >= size * 1_000_000 and micros % (size * 1_000_000) == 0:
            return f"{micros // (size * 1_000_000)}{unit}"
    whole, fraction = divmod(micros, 1_000_000)
    return f"{whole}.{fraction:06d}".rstrip("0").rstrip(".") + "s"  # exact, never 1e+06


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    Field(ge=timedelta(0)),
]
"""A length of time, written ``30d``, ``12h``, ``90m``, ``45s`` or ``2w`` in the file."""


class Section(BaseModel):
    """A part of the project: frozen. A key it does not know is ignored here, as every
    contract model ignores one (a newer release's project stays readable by an older
    service); reading a project *file* reports it (``mlops_projects.files``)."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)


class RecordField(Section):
    """One field of the entity's records."""

    type: FieldType
    """numeric (a float), integer, boolean, or categorical (one of `values`)."""
    values: tuple[str, ...] | None = Field(
        default=None, description="Every value a categorical field may take."
    )
    required: bool = Field(default=True, description="False: a record may leave it empty.")
    column: ColumnName | None = Field(
        default=None, description="The CSV header, when it is not the field's name."
    )
    description: str = ""
    """What the field means (documentation only)."""

    def check(self, value: object) -> float | int | bool | str | None:
        """``value`` (as JSON carries it) as this field's value; None when absent and not
        required. ValueError with the reason when it does not fit."""
        if value is None:
            if self.required:
                raise ValueError("is required")
            return None
        fits = False
        match self.type:
            case "numeric":
                fits = isinstance(value, int | float) and not isinstance(value, bool)
                fits = fits and _finite(value)
            case "integer":
                fits = isinstance(value, int) and not isinstance(value, bool)
                fits = fits or (isinstance(value, float) and value.is_integer())
                value = int(value) if fits else value  # type: ignore[call-overload]
            case "boolean":
                fits = isinstance(value, bool)
            case "categorical":
                if isinstance(value, str) and self.values and value not in self.values:
                    raise ValueError(f"{value!r} is not one of {', '.join(self.values)}")
                fits = isinstance(value, str)
        if not fits:
            raise ValueError(f"{value!r} is not {_A_TYPE[self.type]}")
        return value  # type: ignore[return-value]

    @model_validator(mode="after")
    def _values_for_categories(self) -> Self:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical field lists its values")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values are listed once each")
        elif self.values is not None:
            raise ValueError(f"only categorical fields list values, not {self.type} ones")
        return self


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (OverflowError, TypeError, ValueError):  # an integer too large for a float
        return False


_A_TYPE = {
    "numeric": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "categorical": "a category (text)",
}


class Entity(Section):
    """What a record, a label and a prediction are about (a customer, an applicant...)."""

    key: FieldName
    """The name of the entity id in records, labels and predictions (e.g. customer_id)."""
    column: ColumnName | None = None
    """The CSV header of the key, when it is not `key`."""
    description: str = ""
    """What an entity is (documentation only)."""


class Feature(Section):
    """One model input: a field's latest value, or an aggregate of a field (or a count of
    records) over the window of event time that ends at the prediction point."""

    name: FieldName
    """The feature's name: a model input and a Feast field."""
    field: FieldName | None = Field(default=None, description="The record field it reads.")
    aggregate: Aggregate = "latest"
    """latest: the field's value in the newest record; sum, count, mean, min, max: over `window`."""
    window: Duration | None = None
    """The window of event time before the prediction point an aggregate covers."""
    description: str = ""
    """What the feature means (documentation only)."""

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.aggregate == "latest":
            if self.field is None:
                raise ValueError("a latest-value feature names its field")
            if self.window is not None:
                raise ValueError("a latest-value feature has no window")
        else:
            if self.window is None or self.window <= timedelta(0):
                raise ValueError(f"a {self.aggregate} feature has a window, e.g. 30d")
            if self.aggregate != "count" and self.field is None:
                raise ValueError(f"a {self.aggregate} feature names its field")
        return self


class Label(Section):
    """The outcome the model predicts, observed some time after the prediction point."""

    field: FieldName
    """The label's name in label records."""
    column: ColumnName | None = None
    """The CSV header of the label, when it is not `field`."""
    positive: str = Field(description="The label value the model scores the probability of.")
    negative: str | None = Field(
        default=None,
        description="The other value; empty: every value but the positive one is negative.",
    )
    delay: Duration = Field(
        default=timedelta(0),
        description="How long after the prediction point the label is observed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _spelled_as_text(cls, data: Any) -> Any:
        # YAML reads `positive: yes` as a boolean and `positive: 1` as a number: the value
        # is the CSV's spelling.
        if isinstance(data, dict):
            return {
                key: str(value).lower()
                if isinstance(value, bool)
                else str(value)
                if key in ("positive", "negative") and isinstance(value, int | float)
                else value
                for key, value in data.items()
            }
        return data

    @model_validator(mode="after")
    def _two_values(self) -> Self:
        if self.negative is not None and _label_text(self.negative) == _label_text(self.positive):
            raise ValueError("positive and negative are different values")
        return self

    def outcome(self, value: str) -> bool:
        """True for the positive value, False for the negative one; ValueError otherwise."""
        text = _label_text(value)
        if text == _label_text(self.positive):
            return True
        if self.negative is None or text == _label_text(self.negative):
            if text == "":
                raise ValueError("the label is empty")
            return False
        raise ValueError(f"label {value!r} is neither {self.positive!r} nor {self.negative!r}")


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _label_text(value: str) -> str:
    """One spelling per label value: booleans in any spelling compare equal."""
    text = value.strip().lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    return value.strip()


class ModelSettings(Section):
    """The built-in PyTorch tabular network and how it is trained."""

    kind: Literal["mlp"] = "mlp"
    """The built-in network: a multi-layer perceptron over scaled numbers and one-hot categories."""
    hidden_sizes: tuple[Annotated[int, Field(ge=1, le=4096)], ...] = (64, 32)
    """Hidden layer widths."""
    max_epochs: int = Field(default=30, ge=1, le=1000)
    """Most epochs of a training run."""
    patience: int = Field(default=4, ge=1, description="Epochs without a better validation AUC.")
    batch_size: int = Field(default=512, ge=8, le=65536)
    """Examples per optimisation step."""
    learning_rate: float = Field(default=2e-3, gt=0, lt=1)
    """AdamW learning rate."""
    validation_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    """Share of each class held out for early stopping."""
    min_training_rows: int = Field(default=200, ge=10)
    """Fewer labelled rows in the data window fail the run."""
    seed: int = 7
    """Seed of the split, the initialisation and the shuffling."""


class Gate(Section):
    """When a newly trained version replaces the champion."""

    metric: Literal["roc_auc", "pr_auc", "log_loss", "accuracy"] = "roc_auc"
    """The metric challenger and champion are compared on (log_loss: lower is better)."""
    min_margin: float = Field(default=0.0, ge=0.0, le=1.0)
    """How much better than the champion a challenger must be (0: at least as good)."""
    min_metric: float | None = Field(
        default=0.6, description="The bar a version must reach, champion or not."
    )
    holdout: Duration = Field(
        default=timedelta(days=2), description="The newest labels, kept out of training."
    )
    holdout_min_rows: int = Field(default=100, ge=1)
    """Fewer fresh labelled rows: rejected, nothing compared."""


DriftMethod = Literal["wasserstein", "ks", "psi", "jensenshannon", "chisquare", "kl_div", "z"]


class Monitoring(Section):
    """The monitor's windows, its drift tests and its live performance check."""

    window: Duration = Field(default=timedelta(seconds=60), gt=timedelta(0))
    """Length of a monitoring window of predictions."""
    window_min_size: int = Field(default=200, ge=1)
    """Windows with fewer predictions are not judged."""
    numeric_method: DriftMethod = "wasserstein"
    """Drift test of numeric features (Evidently stat test)."""
    numeric_threshold: float = Field(default=0.1, gt=0)
    """Threshold of the numeric test."""
    categorical_method: DriftMethod = "jensenshannon"
    """Drift test of categorical features (Evidently stat test)."""
    categorical_threshold: float = Field(default=0.1, gt=0)
    """Threshold of the categorical test."""
    methods: dict[FieldName, DriftMethod] = Field(
        default_factory=dict, description="A drift test per feature, where not the default."
    )
    drift_share: float = Field(default=0.15, gt=0, le=1)
    """Share of drifted features at or above which a window is drifted."""
    performance_metric: Literal["roc_auc", "accuracy"] = "roc_auc"
    """The live metric judged per window from delayed labels."""
    performance_min_value: float = Field(default=0.65, ge=0, le=1)
    """Below this the window's performance is degraded."""
    performance_min_labels: int = Field(default=100, ge=1)
    """Labelled predictions a window needs to be judged."""


class Retraining(Section):
    """When the retrain trigger asks for a training of this project's model."""

    consecutive_drift_windows: int = Field(default=3, ge=1)
    """Drifted windows in a row that request a training."""
    consecutive_degraded_windows: int = Field(default=2, ge=1)
    """Degraded windows in a row that request a training."""
    cooldown: Duration = timedelta(minutes=60)
    """No new request this long after a training finished."""
    schedule: Duration | None = Field(default=None, description="Also train this often.")
    min_new_labels: int = Field(default=100, ge=0)
    """Labels observed since the last training needed for a new one."""
    data_window: Duration = Field(default=timedelta(days=30), gt=timedelta(0))
    """Length of a training's data window."""


class Project(Section):
    """A model project, as its file declares it (see the module's docstring)."""

    name: ProjectName
    """The project's name, and its registered model's."""
    description: str = ""
    """What the model predicts (documentation only)."""
    task: Task = "binary_classification"
    """binary_classification (the field lets other tasks follow without a format change)."""
    entity: Entity
    """What records, labels and predictions are about."""
    time_column: ColumnName | None = Field(
        default=None,
        description="The column of each row's event time: the table is a history. "
        "Empty: a snapshot (each row is its entity's record as of the load).",
    )
    fields: dict[FieldName, RecordField] = Field(min_length=1)
    """The record's fields, by name."""
    features: tuple[Feature, ...] = Field(
        default=(), description="Empty: the latest value of every field."
    )
    label: Label
    """The outcome the model predicts."""
    model: ModelSettings = ModelSettings()
    """The network and its training."""
    gate: Gate = Gate()
    """When a new version replaces the champion."""
    monitoring: Monitoring = Monitoring()
    """The monitor's windows, drift tests and performance check."""
    retraining: Retraining = Retraining()
    """When the retrain trigger requests a training."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = cross_problems(self.model_dump(mode="json"))
        if problems:
            raise ValueError("; ".join(f"{path}: {reason}" for path, reason in problems))
        return self

    @property
    def model_name(self) -> str:
        """The registered model this project trains and serves."""
        return self.name

    @property
    def inputs(self) -> tuple[Feature, ...]:
        """The features the model reads, in the order of its input vector."""
        return self.features or tuple(Feature(name=name, field=name) for name in self.fields)

    def feature_type(self, feature: Feature) -> FieldType:
        """The type of a feature's values."""
        if feature.aggregate == "count":
            return "integer"
        assert feature.field is not None
        source = self.fields[feature.field].type
        if feature.aggregate == "mean" or (feature.aggregate != "latest" and source == "boolean"):
            return "numeric"
        return source

    def check_values(
        self, values: Mapping[str, object]
    ) -> tuple[dict[str, float | int | bool | str | None], list[Problem]]:
        """A record's ``values`` checked against the fields: the values (every field, None
        where absent), and every problem as (field, reason)."""
        checked: dict[str, float | int | bool | str | None] = {}
        problems: list[Problem] = [
            (name, "no such field in the project") for name in values if name not in self.fields
        ]
        for name, field in self.fields.items():
            try:
                checked[name] = field.check(values.get(name))
            except ValueError as error:
                problems.append((name, str(error)))
        return checked, problems

    def input_signature(self) -> dict[str, Any]:
        """What a trained model's input depends on: each feature's name, computation, type
        and categories. Two versions of a project with one signature serve one model."""
        return {
            "entity": self.entity.key,
            "features": [
                {
                    "name": f.name,
                    "field": f.field,
                    "aggregate": f.aggregate,
                    "window_s": f.window.total_seconds() if f.window else None,
                    "type": self.feature_type(f),
                    "values": list(self.fields[f.field].values or ())
                    if f.field and f.aggregate == "latest"
                    else None,
                }
                for f in self.inputs
            ],
            "label": {"positive": self.label.positive, "negative": self.label.negative},
        }

    def fingerprint(self) -> str:
        """sha256 of the whole declaration (any change changes it)."""
        return _sha256(self.model_dump(mode="json"))

    def signature_fingerprint(self) -> str:
        """sha256 of :meth:`input_signature`."""
        return _sha256(self.input_signature())


def _sha256(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


Problem = tuple[str, str]
"""Where in the file (dotted path) and what is wrong."""


def _shared_columns(data: Mapping[str, Any], fields: object) -> list[Problem]:
    """A CSV column read by two parts of the project (a field reading the label's column
    would leak the outcome into the features)."""
    owners: dict[str, str] = {}
    problems: list[Problem] = []

    def claim(where: str, part: object, name_key: str) -> None:
        if not isinstance(part, Mapping):
            return
        column = part.get("column") or part.get(name_key)
        if not isinstance(column, str):
            return
        if column in owners:
            problems.append((where, f"reads column {column!r}, which {owners[column]} reads"))
        else:
            owners[column] = where

    claim("entity", data.get("entity"), "key")
    claim("label", data.get("label"), "field")
    if isinstance(data.get("time_column"), str):
        claim("time_column", {"column": data["time_column"]}, "column")
    if isinstance(fields, Mapping):
        for name, spec in fields.items():
            if isinstance(spec, Mapping):
                claim(f"fields.{name}", {"column": spec.get("column") or name}, "column")
    return problems


def cross_problems(data: Mapping[str, Any]) -> list[Problem]:
    """What is wrong between the sections of a project file (references to fields that do
    not exist, aggregates a field's type cannot take...). Tolerant of sections that are
    themselves malformed: those are reported by the schema, and skipped here."""
    problems: list[Problem] = []
    fields = data.get("fields")
    field_types: dict[str, Any] = (
        {
            name: spec.get("type") if isinstance(spec, Mapping) else None
            for name, spec in fields.items()
        }
        if isinstance(fields, Mapping)
        else {}
    )
    has_time = bool(data.get("time_column"))
    reserved = {}
    for section in ("entity", "label"):
        part = data.get(section)
        if isinstance(part, Mapping):
            name = part.get("key" if section == "entity" else "field")
            if isinstance(name, str):
                reserved[name] = section
    problems += _shared_columns(data, fields)
    features = data.get("features")
    names: set[str] = set()
    if isinstance(features, list | tuple):
        for index, feature in enumerate(features):
            if not isinstance(feature, Mapping):
                continue
            where = f"features[{index}]"
            name, field = feature.get("name"), feature.get("field")
            aggregate = feature.get("aggregate", "latest")
            if isinstance(name, str):
                if name in names:
                    problems.append((f"{where}.name", f"{name} is declared twice"))
                if name in reserved:
                    problems.append((f"{where}.name", f"{name} is the {reserved[name]}'s name"))
                names.add(name)
            if isinstance(field, str) and field_types and field not in field_types:
                problems.append(
                    (
                        f"{where}.field",
                        f"no record field {field} (fields: {', '.join(field_types)})",
                    )
                )
            elif (
                isinstance(field, str)
                and aggregate in ("sum", "mean", "min", "max")
                and field_types.get(field) == "categorical"
            ):
                problems.append((f"{where}.aggregate", f"{aggregate} of categorical field {field}"))
            if aggregate != "latest" and not has_time:
                problems.append(
                    (
                        f"{where}.window",
                        "windows need a history: set time_column (a snapshot table has "
                        "one record per entity)",
                    )
                )
    monitoring = data.get("monitoring")
    if isinstance(monitoring, Mapping) and isinstance(monitoring.get("methods"), Mapping):
        known = names or set(field_types)
        for feature in monitoring["methods"]:
            if known and feature not in known:
                problems.append((f"monitoring.methods.{feature}", "no feature of that name"))
    return problems
