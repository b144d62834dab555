"""Drift knobs: what changes (features or the churn relationship), by how much, when, how fast.

A drift is written ``KIND:FEATURES:MAGNITUDE[:OPTION...]`` on the command line (see the
README), or built in Python with :meth:`DriftSpec.covariate` / :meth:`DriftSpec.concept`:

- **covariate** drift changes what customers look like (P(X)) and keeps the churn relationship
  (P(y|X)): a numeric feature's values are scaled by ``1 + magnitude`` (``-0.4``: 40 % lower);
  ``plan=premium`` / ``contract_type=month_to_month`` moves a ``magnitude`` share of the other
  customers to that category. Churn is computed from the drifted values.
- **concept** drift changes the churn relationship (P(y|X)) and keeps the features: the
  feature's effect on the churn log-odds is multiplied by ``1 + magnitude`` (``off`` = -1: the
  feature stops mattering; ``flip`` = -2: its effect is reversed).

Timing is measured from the start of the stream phase the drift is given to, in event-time
seconds or in activity records; ``sudden`` applies the full magnitude at the start,
``gradual=<span>`` ramps it linearly over that span.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from simulator.durations import format_duration, parse_duration
from simulator.records import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES

DEFAULT_RAMP_SECONDS = 60.0
"""Ramp length of ``gradual`` written without a span."""

_MAGNITUDE_WORDS = {"off": -1.0, "flip": -2.0}

COVARIATE_RANGE = (-0.99, 100.0)
"""Bounds of a numeric covariate drift's relative change: at most 99 % lower (values stay
above zero), at most 100 times higher (a 101x multiplier; values stay far from overflow)."""
CONCEPT_RANGE = (-11.0, 9.0)
"""Bounds of a concept drift's magnitude: its effect multiplier ``1 + magnitude`` stays
within [-10, 10] (``flip`` = -2 is a multiplier of -1)."""
_RECORDS = re.compile(r"^\s*(\d+)\s*(?:rec|records)\s*$")


class DriftKind(StrEnum):
    """What a drift changes."""

    COVARIATE = "covariate"
    """The feature distribution (P(X)); the churn relationship stays."""
    CONCEPT = "concept"
    """The churn relationship (P(y|X)); the feature distribution stays."""


@dataclass(frozen=True, slots=True)
class Offset:
    """A distance along a stream phase: event-time seconds or activity records (exactly one)."""

    seconds: float | None = None
    records: int | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.records is None):
            raise ValueError("an offset is either seconds or records, exactly one of them")
        if (self.seconds is not None and (self.seconds < 0 or not math.isfinite(self.seconds))) or (
            self.records is not None and self.records < 0
        ):
            raise ValueError("an offset cannot be negative")

    @classmethod
    def parse(cls, text: str) -> Offset:
        """``60s``, ``2m``, ``1d`` (event time) or ``5000rec`` (activity records)."""
        match = _RECORDS.match(text)
        if match is not None:
            return cls(records=int(match.group(1)))
        try:
            return cls(seconds=parse_duration(text).total_seconds())
        except ValueError:
            raise ValueError(
                f"invalid offset {text!r}: use a duration (30s, 2m, 1d) or a count of "
                "activity records (5000rec)"
            ) from None

    @classmethod
    def coerce(cls, value: Offset | str | float) -> Offset:
        """An offset from itself, its text, or a number of seconds."""
        if isinstance(value, Offset):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls(seconds=float(value))

    def __str__(self) -> str:
        if self.records is not None:
            return f"{self.records}rec"
        assert self.seconds is not None
        return format_duration(self.seconds)


@dataclass(frozen=True, slots=True)
class DriftSpec:
    """One drift: ``kind`` on ``features`` by ``magnitude``, from ``after``, over ``ramp``.

    ``features`` are activity-record fields; a covariate drift on a category names its target,
    ``"contract_type=month_to_month"``. ``ramp=None`` is a sudden drift.
    """

    kind: DriftKind
    features: tuple[str, ...]
    magnitude: float
    after: Offset = field(default_factory=lambda: Offset(seconds=0.0))
    ramp: Offset | None = None

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("a drift needs at least one feature")
        if not math.isfinite(self.magnitude):
            raise ValueError("the drift magnitude must be a finite number")
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"feature listed twice in {','.join(self.features)}")
        for feature in self.features:
            if self.kind is DriftKind.COVARIATE:
                _check_covariate_feature(feature, self.magnitude)
            elif feature not in FEATURES:
                raise ValueError(_unknown_feature(feature, concept=True))
        low, high = CONCEPT_RANGE
        if self.kind is DriftKind.CONCEPT and not low <= self.magnitude <= high:
            raise ValueError(
                f"concept magnitude {self.magnitude:g} out of range: it must be within "
                f"[{low:g}, {high:g}], so the effect multiplier 1 + magnitude stays within "
                f"[{1 + low:g}, {1 + high:g}] (off = -1, flip = -2)"
            )
        if self.ramp is not None and (self.ramp.seconds == 0 or self.ramp.records == 0):
            raise ValueError("a gradual drift needs a ramp longer than zero (or use sudden)")

    @classmethod
    def covariate(
        cls,
        features: str | Iterable[str],
        magnitude: float,
        *,
        after: Offset | str | float = 0.0,
        ramp: Offset | str | float | None = None,
    ) -> DriftSpec:
        """Covariate drift; ``after``/``ramp`` take an :class:`Offset`, ``"60s"``, ``"5000rec"``
        or seconds."""
        return cls._build(DriftKind.COVARIATE, features, magnitude, after, ramp)

    @classmethod
    def concept(
        cls,
        features: str | Iterable[str],
        magnitude: float | str,
        *,
        after: Offset | str | float = 0.0,
        ramp: Offset | str | float | None = None,
    ) -> DriftSpec:
        """Concept drift; ``magnitude`` may be ``"off"`` (-1) or ``"flip"`` (-2)."""
        value = _parse_magnitude(magnitude) if isinstance(magnitude, str) else magnitude
        return cls._build(DriftKind.CONCEPT, features, value, after, ramp)

    @classmethod
    def _build(
        cls,
        kind: DriftKind,
        features: str | Iterable[str],
        magnitude: float,
        after: Offset | str | float,
        ramp: Offset | str | float | None,
    ) -> DriftSpec:
        names = (features,) if isinstance(features, str) else tuple(features)
        return cls(
            kind=kind,
            features=names,
            magnitude=float(magnitude),
            after=Offset.coerce(after),
            ramp=None if ramp is None else Offset.coerce(ramp),
        )

    @classmethod
    def parse(cls, text: str) -> DriftSpec:
        """Parse ``KIND:FEATURES:MAGNITUDE[:sudden|:gradual[=SPAN]][:after=SPAN]``.

        >>> str(DriftSpec.parse("covariate:usage_minutes:-40%:gradual=2m:after=60s"))
        'covariate:usage_minutes:-0.4:gradual=2m:after=60s'
        """
        parts = [part.strip() for part in text.strip().split(":")]
        if len(parts) < 3:
            raise ValueError(
                f"invalid drift {text!r}: expected KIND:FEATURES:MAGNITUDE[:OPTION...], "
                "e.g. covariate:usage_minutes:-0.4:after=60s"
            )
        kind_text, features_text, magnitude_text, *options = parts
        try:
            kind = DriftKind(kind_text.lower())
        except ValueError:
            raise ValueError(
                f"invalid drift {text!r}: unknown kind {kind_text!r} (covariate or concept)"
            ) from None
        features = tuple(name.strip() for name in features_text.split(",") if name.strip())
        after: Offset = Offset(seconds=0.0)
        ramp: Offset | None = None
        try:
            magnitude = _parse_magnitude(magnitude_text)
            for option in options:
                name, _, value = option.partition("=")
                name = name.strip().lower()
                if name == "sudden" and not value:
                    ramp = None
                elif name in ("gradual", "ramp"):
                    ramp = Offset.parse(value) if value else Offset(seconds=DEFAULT_RAMP_SECONDS)
                elif name in ("after", "start") and value:
                    after = Offset.parse(value)
                else:
                    raise ValueError(
                        f"unknown option {option!r} (sudden, gradual[=SPAN], after=SPAN)"
                    )
            return cls(kind=kind, features=features, magnitude=magnitude, after=after, ramp=ramp)
        except ValueError as error:
            raise ValueError(f"invalid drift {text!r}: {error}") from None

    def __str__(self) -> str:
        shape = "sudden" if self.ramp is None else f"gradual={self.ramp}"
        return (
            f"{self.kind.value}:{','.join(self.features)}:{self.magnitude:g}:{shape}"
            f":after={self.after}"
        )


def _parse_magnitude(text: str) -> float:
    word = text.strip().lower()
    if word in _MAGNITUDE_WORDS:
        return _MAGNITUDE_WORDS[word]
    try:
        if word.endswith("%"):
            return float(word[:-1]) / 100.0
        return float(word)
    except ValueError:
        raise ValueError(
            f"invalid magnitude {text!r}: a number (-0.4, +0.25), a percentage (-40%), "
            "or for concept drift off / flip"
        ) from None


def _check_covariate_feature(feature: str, magnitude: float) -> None:
    name, has_target, target = feature.partition("=")
    if name in CATEGORICAL_FEATURES:
        if not has_target:
            values = "|".join(CATEGORICAL_FEATURES[name])
            raise ValueError(
                f"covariate drift on {name} names the category customers move to: {name}=<{values}>"
            )
        if target not in CATEGORICAL_FEATURES[name]:
            raise ValueError(
                f"unknown {name} {target!r} (one of {', '.join(CATEGORICAL_FEATURES[name])})"
            )
        if not 0.0 < magnitude <= 1.0:
            raise ValueError(
                f"the magnitude of {feature} is the share of customers moved, in (0, 1]"
            )
    elif name in NUMERIC_FEATURES and not has_target:
        low, high = COVARIATE_RANGE
        if not low <= magnitude <= high:
            raise ValueError(
                f"covariate magnitude {magnitude:g} of {name} out of range: a relative change "
                f"within [{low:g}, {high:g}] (-0.4: 40% lower; {high:g}: {1 + high:g} times higher)"
            )
    else:
        raise ValueError(_unknown_feature(feature, concept=False))


def _unknown_feature(feature: str, *, concept: bool) -> str:
    known = ", ".join(FEATURES if concept else (*NUMERIC_FEATURES, "plan=...", "contract_type=..."))
    return f"unknown feature {feature!r} (known: {known})"


@dataclass(frozen=True, slots=True)
class DriftEffects:
    """What the active drifts do to one activity record (identity when nothing is active)."""

    scale: dict[str, float]
    """Numeric feature -> multiplier of its values (covariate drift)."""
    moves: tuple[tuple[str, int, float], ...]
    """(categorical feature, target index, share of customers moved), applied in order."""
    weights: dict[str, float]
    """Churn term -> multiplier of its effect on the churn log-odds (concept drift)."""

    def scale_of(self, feature: str) -> float:
        """Multiplier of a numeric feature (1.0 when it does not drift)."""
        return self.scale.get(feature, 1.0)

    def weight_of(self, term: str) -> float:
        """Multiplier of a churn term's effect (1.0 when it does not drift)."""
        return self.weights.get(term, 1.0)


NO_EFFECTS = DriftEffects(scale={}, moves=(), weights={})


class DriftSchedule:
    """The drifts of one stream phase and how far each has progressed (0 before its start,
    1 once fully applied). Deterministic: the level depends only on the elapsed event time and
    the number of activity records emitted in the phase."""

    def __init__(self, drifts: Sequence[DriftSpec] = ()) -> None:
        self.drifts: tuple[DriftSpec, ...] = tuple(drifts)
        self.started: list[tuple[float, int] | None] = [None] * len(self.drifts)
        """Where each drift started, as (seconds, activity records) into the phase; None until
        it does. A ramp in the other unit than the start is measured from that point."""
        self.levels: tuple[float, ...] = (0.0,) * len(self.drifts)
        """Level of each drift at the last :meth:`effects` call."""

    def effects(self, elapsed_s: float, records: int) -> DriftEffects:
        """Effects on the activity record emitted ``elapsed_s`` into the phase after
        ``records`` earlier activity records of the phase."""
        if not self.drifts:
            return NO_EFFECTS
        levels = tuple(
            self._level(i, spec, elapsed_s, records) for i, spec in enumerate(self.drifts)
        )
        self.levels = levels
        if not any(levels):
            return NO_EFFECTS
        scale: dict[str, float] = {}
        weights: dict[str, float] = {}
        moves: list[tuple[str, int, float]] = []
        for spec, level in zip(self.drifts, levels, strict=True):
            if level == 0.0:
                continue
            for feature in spec.features:
                if spec.kind is DriftKind.CONCEPT:
                    weights[feature] = weights.get(feature, 1.0) * (1.0 + spec.magnitude * level)
                    continue
                name, _, target = feature.partition("=")
                if target:
                    index = CATEGORICAL_FEATURES[name].index(target)
                    moves.append((name, index, spec.magnitude * level))
                else:
                    scale[name] = scale.get(name, 1.0) * (1.0 + spec.magnitude * level)
        return DriftEffects(scale=scale, moves=tuple(moves), weights=weights)

    def _level(self, index: int, spec: DriftSpec, elapsed_s: float, records: int) -> float:
        after = spec.after
        reached = (after.seconds is not None and elapsed_s >= after.seconds) or (
            after.records is not None and records >= after.records
        )
        if not reached:
            return 0.0
        started = self.started[index]
        if started is None:
            started = (
                after.seconds if after.seconds is not None else elapsed_s,
                after.records if after.records is not None else records,
            )
            self.started[index] = started
        ramp = spec.ramp
        if ramp is None:
            return 1.0
        if ramp.seconds is not None:
            progress = (elapsed_s - started[0]) / ramp.seconds
        else:
            assert ramp.records is not None
            progress = (records - started[1]) / ramp.records
        return min(1.0, max(0.0, progress))

    def describe(self) -> str:
        """``spec (level%)`` for each drift that has started, for progress lines."""
        return ", ".join(
            f"{spec.kind.value}:{','.join(spec.features)} {level:.0%}"
            for spec, level in zip(self.drifts, self.levels, strict=True)
            if level > 0.0
        )
