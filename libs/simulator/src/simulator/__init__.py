"""A seeded churn business that streams customers through ingest's public API, with drift.

Pure API (no I/O)::

    from simulator import DriftSpec, Simulation, SimulationConfig

    sim = Simulation(SimulationConfig(customers=2000, seed=7))
    backfill = list(sim.history(days=30, end=datetime.now(UTC)))   # list of record dicts
    drift = DriftSpec.covariate("usage_minutes", -0.4, after="60s")
    for record in sim.live(lambda: datetime.now(UTC), drifts=[drift]):
        ...

Sending: :class:`HttpIngestSink` + :func:`stream_records`; the command line: :mod:`simulator.cli`.
"""

from simulator.clock import Clock, ManualClock, SystemClock
from simulator.drift import DriftKind, DriftSchedule, DriftSpec, Offset
from simulator.durations import format_duration, parse_duration
from simulator.records import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    ActivityRecord,
    LabelRecord,
    Record,
)
from simulator.simulation import (
    Simulation,
    SimulationConfig,
    SimulationStats,
    compress_time,
    generate_history,
)
from simulator.sinks import (
    BatchOutcome,
    HttpIngestSink,
    IngestAuthError,
    IngestError,
    IngestRefused,
    IngestUnreachable,
    JsonLinesSink,
    RecordSink,
    RejectedRecord,
)
from simulator.streaming import StopAfter, StopReason, StreamStats, stream_records

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURES",
    "NUMERIC_FEATURES",
    "ActivityRecord",
    "BatchOutcome",
    "Clock",
    "DriftKind",
    "DriftSchedule",
    "DriftSpec",
    "HttpIngestSink",
    "IngestAuthError",
    "IngestError",
    "IngestRefused",
    "IngestUnreachable",
    "JsonLinesSink",
    "LabelRecord",
    "ManualClock",
    "Offset",
    "Record",
    "RecordSink",
    "RejectedRecord",
    "Simulation",
    "SimulationConfig",
    "SimulationStats",
    "StopAfter",
    "StopReason",
    "StreamStats",
    "SystemClock",
    "compress_time",
    "format_duration",
    "generate_history",
    "parse_duration",
    "stream_records",
]
