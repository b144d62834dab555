"""The dashboard's state: a bounded, in-memory projection of the loop's events.

Pure (no I/O, no asyncio): :class:`DashboardProjection` folds events and traffic counts into
series, the champion, the replicas and the loop's timeline, and answers each update with the
:class:`Change` items a live page needs. Everything is bounded by ``history``.

Events may arrive in any order across topics (a fresh page replays history from the earliest
offsets, one topic's batch after another's), so nothing here assumes arrival order: series
are keyed by window or time bucket, the champion and each replica keep their latest event by
event time, and timeline entries are linked to their episode whenever the missing link
arrives, before or after them.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from mlops_contracts import (
    DriftDetected,
    Envelope,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    PerformanceDegraded,
    PredictorModelLoaded,
    PredictorModelRefused,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
    TrainingSuppressed,
)

Json = dict[str, Any]

_SAFE_LINK_SCHEMES = frozenset({"http", "https"})
_LATENCY_SAMPLE = 4096
"""Latencies kept per traffic bucket (a uniform reservoir beyond that) for p50/p99."""


@dataclass(frozen=True)
class Change:
    """One item of the page's state was created or replaced: the page upserts ``data``
    under ``(kind, key)``."""

    kind: str
    key: str
    data: Json


def safe_link(uri: str | None) -> str | None:
    """``uri`` when a browser may follow it from the page (http/https), else None: a
    ``javascript:`` or ``data:`` URI from an event must never become a link."""
    if not uri:
        return None
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_LINK_SCHEMES or not parts.netloc:
        return None
    return uri


def _iso(moment: datetime) -> str:
    # Fixed width (always milliseconds), so that these strings order like the times.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span(start: datetime, end: datetime) -> str:
    """A readable UTC time range: ``2026-11-21 09:00:00 → 09:05:00 UTC``."""
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    shown = "%H:%M:%S" if first.date() == last.date() else "%Y-%m-%d %H:%M:%S"
    return f"{first:%Y-%m-%d %H:%M:%S} → {last.strftime(shown)} UTC"


def _percentile(ordered: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


class _BoundedSet:
    """Remembers the last ``limit`` keys (event ids already applied)."""

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, key: str) -> bool:
        """False when ``key`` was already there."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


class _Series:
    """Items keyed by identity, ordered by event time, at most ``limit`` (the oldest by
    event time is dropped, whatever order they came in)."""

    def __init__(self, limit: int) -> None:
        self.items: dict[str, Json] = {}
        self._limit = limit
        self._by_age: list[tuple[str, int, str]] = []  # (at, seq, key); stale ones skipped

    def put(self, key: str, item: Json) -> bool:
        """Store ``item``; False when it was dropped at once, being the oldest."""
        self.items[key] = item
        heapq.heappush(self._by_age, (item["at"], item["seq"], key))
        dropped = None
        while len(self.items) > self._limit:
            at, seq, oldest = heapq.heappop(self._by_age)
            current = self.items.get(oldest)
            if current is not None and (current["at"], current["seq"]) == (at, seq):
                del self.items[oldest]
                dropped = oldest
        if len(self._by_age) > 4 * self._limit:  # forget the stale heap entries
            self._by_age = [(i["at"], i["seq"], k) for k, i in self.items.items()]
            heapq.heapify(self._by_age)
        return dropped != key

    def ordered(self) -> list[Json]:
        return sorted(self.items.values(), key=lambda item: (item["at"], item["seq"]))


@dataclass
class _TrafficBucket:
    start: float
    count: int = 0
    errors: int = 0
    seen_latencies: int = 0
    latencies: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)


class DashboardProjection:
    """Folds the loop's events and the prediction traffic into the page's state."""

    def __init__(
        self,
        *,
        history: int,
        traffic_bucket_s: float,
        mlflow_url: str,
        rng: random.Random | None = None,
    ) -> None:
        self.history = history
        self.traffic_bucket_s = traffic_bucket_s
        self.mlflow_url = mlflow_url.rstrip("/")
        self.revision = 0
        self._seq = 0
        self._rng = rng or random.Random(0)
        self._seen = _BoundedSet(10 * history)
        self._drift = _Series(history)
        self._performance = _Series(history)
        self._timeline = _Series(history)
        self._traffic: OrderedDict[int, _TrafficBucket] = OrderedDict()
        self._champions: dict[str, Json] = {}
        self._replicas: dict[str, Json] = {}
        # Links between the loop's events, learnt in whatever order they arrive.
        self._episode_of_version: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._run_of_version: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._trigger_outcome: OrderedDict[str, tuple[datetime, str | None, str]] = OrderedDict()
        self._finished_runs: OrderedDict[str, tuple[str, str]] = OrderedDict()

    # ---------------------------------------------------------------------------------------
    # Reading
    # ---------------------------------------------------------------------------------------

    def snapshot(self) -> Json:
        """The whole state, as the page's first message and ``GET /dashboard/state``."""
        return {
            "revision": self.revision,
            "config": {
                "history": self.history,
                "traffic_bucket_s": self.traffic_bucket_s,
                "mlflow_url": self.mlflow_url,
            },
            "drift": self._drift.ordered(),
            "performance": self._performance.ordered(),
            "traffic": [self._traffic_item(bucket) for bucket in self._traffic.values()],
            "champions": sorted(self._champions.values(), key=lambda c: c["model_name"]),
            "replicas": sorted(self._replicas.values(), key=lambda r: r["replica_id"]),
            "timeline": self._timeline.ordered(),
        }

    # ---------------------------------------------------------------------------------------
    # Writing
    # ---------------------------------------------------------------------------------------

    def apply(self, envelope: Envelope[Any]) -> list[Change]:
        """Fold one consumed event in; a repeated event id changes nothing."""
        if not self._seen.add(envelope.id):
            return []
        event = envelope.data
        changes: list[Change]
        if isinstance(event, DriftDetected):
            changes = self._on_drift(envelope.id, event)
        elif isinstance(event, PerformanceDegraded):
            changes = self._on_performance(envelope.id, event)
        elif isinstance(event, TrainingRequested):
            changes = self._on_requested(envelope.id, event)
        elif isinstance(event, TrainingSuppressed):
            changes = self._on_suppressed(envelope.id, event)
        elif isinstance(event, TrainingProgress):
            changes = self._on_progress(event)
        elif isinstance(event, ModelTrained):
            changes = self._on_trained(envelope.id, event)
        elif isinstance(event, TrainingFailed):
            changes = self._on_failed(envelope.id, event)
        elif isinstance(event, ModelPromoted):
            changes = self._on_promoted(envelope.id, event)
        elif isinstance(event, ModelRejected):
            changes = self._on_rejected(envelope.id, event)
        elif isinstance(event, PredictorModelLoaded):
            changes = self._on_loaded(envelope.id, event)
        elif isinstance(event, PredictorModelRefused):
            changes = self._on_refused(envelope.id, event)
        else:  # another type on a topic we read: not the dashboard's business
            changes = []
        if changes:
            self.revision += 1
        return changes

    def record_predictions(
        self,
        *,
        at: datetime,
        count: int,
        errors: int,
        latencies_ms: Sequence[float],
        model_version: str | None,
    ) -> list[Change]:
        """Count a batch of answered predictions (``errors`` of them failed) into the
        traffic bucket of ``at``; ``latencies_ms`` are the batch's predictor latencies."""
        if count <= 0 and not latencies_ms:
            return []
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        index = math.floor(at.timestamp() / self.traffic_bucket_s)
        bucket = self._traffic.get(index)
        if bucket is None:
            oldest = next(iter(self._traffic), None)
            newest = next(reversed(self._traffic), None)
            if oldest is not None and len(self._traffic) >= self.history and index < oldest:
                return []  # older than everything kept
            bucket = _TrafficBucket(start=index * self.traffic_bucket_s)
            self._traffic[index] = bucket
            if newest is not None and index < newest:  # a late batch: keep time order
                self._traffic = OrderedDict(sorted(self._traffic.items()))
            while len(self._traffic) > self.history:
                self._traffic.popitem(last=False)
        bucket.count += max(0, count)
        bucket.errors += max(0, min(errors, count))
        for latency in latencies_ms:
            if not math.isfinite(latency):
                continue
            bucket.seen_latencies += 1
            if len(bucket.latencies) < _LATENCY_SAMPLE:
                bucket.latencies.append(float(latency))
            else:  # reservoir sampling keeps a uniform sample of the bucket
                slot = self._rng.randrange(bucket.seen_latencies)
                if slot < _LATENCY_SAMPLE:
                    bucket.latencies[slot] = float(latency)
        if model_version is not None and count > 0:
            bucket.versions[str(model_version)] += count
        self.revision += 1
        item = self._traffic_item(bucket)
        return [Change("traffic", item["key"], item)]

    # ---------------------------------------------------------------------------------------
    # Series
    # ---------------------------------------------------------------------------------------

    def _traffic_item(self, bucket: _TrafficBucket) -> Json:
        ordered = sorted(bucket.latencies)
        at = datetime.fromtimestamp(bucket.start, UTC)
        return {
            "key": f"{bucket.start:.3f}",
            "at": _iso(at),
            "t": bucket.start,
            "count": bucket.count,
            "errors": bucket.errors,
            "predictions_per_s": round(bucket.count / self.traffic_bucket_s, 3),
            "error_rate": round(bucket.errors / bucket.count, 4) if bucket.count else 0.0,
            "p50_ms": _percentile(ordered, 0.5),
            "p99_ms": _percentile(ordered, 0.99),
            "model_versions": dict(bucket.versions),
        }

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _on_drift(self, event_id: str, event: DriftDetected) -> list[Change]:
        key = f"{event.model_name}/{event.window_id}"
        window = {
            "key": key,
            "seq": self._next_seq(),
            "at": _iso(event.window_end),
            "window_id": event.window_id,
            "window_start": _iso(event.window_start),
            "model_name": event.model_name,
            "model_version": event.model_version,
            "sample_count": event.sample_count,
            "drift_share": event.drift_share,
            "drift_share_threshold": event.drift_share_threshold,
            "dataset_drift": event.dataset_drift,
            "features": [
                {
                    "feature": f.feature,
                    "score": f.score,
                    "threshold": f.threshold,
                    "method": f.method,
                    "drifted": f.drifted,
                }
                for f in event.features
            ],
            "report_uri": event.report_uri,
            "report_link": safe_link(event.report_uri),
        }
        changes = [Change("drift", key, window)] if self._drift.put(key, window) else []
        if event.dataset_drift:  # a quiet window is a point on the charts, not a loop event
            drifted = [f.feature for f in event.features if f.drifted]
            entry = self._entry(
                key=event_id,
                at=event.detected_at,
                kind="drift_detected",
                status="warn",
                model_name=event.model_name,
                model_version=event.model_version,
                title=f"Drift detected on {event.model_name} v{event.model_version}",
                detail=(
                    f"{len(drifted)} of {len(event.features)} features drifted "
                    f"(share {event.drift_share:.2f} ≥ {event.drift_share_threshold:.2f})"
                    + (f": {', '.join(drifted)}" if drifted else "")
                ),
                facts=[
                    ["window", _span(event.window_start, event.window_end)],
                    ["predictions", str(event.sample_count)],
                ],
                links=self._links(("Evidently report", event.report_uri)),
            )
            outcome = self._trigger_outcome.get(event_id)
            if outcome is not None:
                _, entry["episode"], entry["outcome"] = outcome
            changes += self._put_entry(entry)
        return changes

    def _on_performance(self, event_id: str, event: PerformanceDegraded) -> list[Change]:
        key = f"{event.model_name}/{event.metric}/{event.window_id}"
        point = {
            "key": key,
            "seq": self._next_seq(),
            "at": _iso(event.window_end),
            "window_id": event.window_id,
            "model_name": event.model_name,
            "model_version": event.model_version,
            "metric": event.metric,
            "value": event.value,
            "threshold": event.threshold,
            "baseline_value": event.baseline_value,
            "labelled_count": event.labelled_count,
            "degraded": event.degraded,
            "report_uri": event.report_uri,
            "report_link": safe_link(event.report_uri),
        }
        changes = [Change("performance", key, point)] if self._performance.put(key, point) else []
        if event.degraded:
            entry = self._entry(
                key=event_id,
                at=event.detected_at,
                kind="performance_degraded",
                status="warn",
                model_name=event.model_name,
                model_version=event.model_version,
                title=f"{event.metric} degraded on {event.model_name} v{event.model_version}",
                detail=(
                    f"{event.metric} {event.value:.4f} < threshold {event.threshold:.4f} "
                    f"on {event.labelled_count} labelled predictions"
                ),
                facts=[["window", _span(event.window_start, event.window_end)]]
                + (
                    [["at training", f"{event.baseline_value:.4f}"]]
                    if event.baseline_value is not None
                    else []
                ),
                links=self._links(("Evidently report", event.report_uri)),
            )
            outcome = self._trigger_outcome.get(event_id)
            if outcome is not None:
                _, entry["episode"], entry["outcome"] = outcome
            changes += self._put_entry(entry)
        return changes

    # ---------------------------------------------------------------------------------------
    # The loop's timeline
    # ---------------------------------------------------------------------------------------

    def _entry(
        self,
        *,
        key: str,
        at: datetime,
        kind: str,
        status: str,
        model_name: str,
        title: str,
        detail: str,
        model_version: int | None = None,
        episode: str | None = None,
        facts: list[list[str]] | None = None,
        links: list[Json] | None = None,
    ) -> Json:
        return {
            "key": key,
            "seq": self._next_seq(),
            "at": _iso(at),
            "kind": kind,
            "status": status,
            "model_name": model_name,
            "model_version": model_version,
            "episode": episode,
            "title": title,
            "detail": detail,
            "outcome": None,
            "facts": facts or [],
            "links": links or [],
            "progress": None,
        }

    def _put_entry(self, entry: Json) -> list[Change]:
        if entry["episode"] is None and entry["model_version"] is not None:
            entry["episode"] = self._episode_of_version.get(
                (entry["model_name"], entry["model_version"])
            )
        if not self._timeline.put(entry["key"], entry):
            return []
        return [Change("timeline", entry["key"], entry)]

    def _links(self, *candidates: tuple[str, str | None]) -> list[Json]:
        return [
            {"label": label, "href": href}
            for label, uri in candidates
            if (href := safe_link(uri)) is not None
        ]

    def _run_link(self, run_id: str | None) -> tuple[str, str | None]:
        return (
            "MLflow run",
            f"{self.mlflow_url}/#/runs/{quote(run_id, safe='')}" if run_id else None,
        )

    def _version_link(self, model_name: str, version: int) -> tuple[str, str | None]:
        return (
            f"MLflow model v{version}",
            f"{self.mlflow_url}/#/models/{quote(model_name, safe='')}/versions/{version}",
        )

    def _remember(self, mapping: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        mapping[key] = value
        mapping.move_to_end(key)
        while len(mapping) > 10 * self.history:
            mapping.popitem(last=False)

    def _mark_triggers(
        self, trigger_ids: Iterable[str], decided_at: datetime, episode: str | None, outcome: str
    ) -> list[Change]:
        """Tell the drift/performance entries that led to a decision what became of them
        (the latest decision about an entry wins, whatever order they arrive in)."""
        changes = []
        for trigger_id in trigger_ids:
            known = self._trigger_outcome.get(trigger_id)
            if known is not None and known[0] > decided_at:
                continue
            self._remember(self._trigger_outcome, trigger_id, (decided_at, episode, outcome))
            entry = self._timeline.items.get(trigger_id)
            if entry is not None:
                entry["episode"] = episode
                entry["outcome"] = outcome
                changes.append(Change("timeline", trigger_id, entry))
        return changes

    def _link_version(self, model_name: str, version: int, episode: str) -> list[Change]:
        """A version's episode and run are now known: label its decision and rollout
        entries, and link its decision and the champion to the run."""
        self._remember(self._episode_of_version, (model_name, version), episode)
        changes = []
        for key, entry in self._timeline.items.items():
            if entry["model_name"] != model_name or entry["model_version"] != version:
                continue
            changed = False
            if entry["episode"] is None:
                entry["episode"] = episode
                changed = True
            if entry["kind"] in ("model_promoted", "model_rejected"):
                links = self._decision_links(model_name, version)
                changed = changed or links != entry["links"]
                entry["links"] = links
            if changed:
                changes.append(Change("timeline", key, entry))
        champion = self._champions.get(model_name)
        if champion is not None and champion["model_version"] == version:
            champion["links"] = self._decision_links(model_name, version)
            changes.append(Change("champion", model_name, champion))
        return changes

    def _on_requested(self, event_id: str, event: TrainingRequested) -> list[Change]:
        entry = self._entry(
            key=event_id,
            at=event.requested_at,
            kind="training_requested",
            status="info",
            model_name=event.model_name,
            episode=event.idempotency_key,
            title=f"Training requested for {event.model_name} ({event.reason.value})",
            detail=(f"data window {_span(event.data_window_start, event.data_window_end)}"),
            facts=[["key", event.idempotency_key]]
            + ([["requested by", event.requested_by]] if event.requested_by else []),
        )
        changes = self._put_entry(entry)
        changes += self._mark_triggers(
            event.triggering_event_ids,
            event.requested_at,
            event.idempotency_key,
            "training requested",
        )
        return changes

    def _on_suppressed(self, event_id: str, event: TrainingSuppressed) -> list[Change]:
        reason = event.reason.value.replace("_", " ")
        entry = self._entry(
            key=event_id,
            at=event.decided_at,
            kind="training_suppressed",
            status="muted",
            model_name=event.model_name,
            title=f"Training suppressed for {event.model_name}: {reason}",
            detail=event.detail,
            facts=[["signal", event.signal.value], ["policy", event.reason.value]],
        )
        changes = self._put_entry(entry)
        changes += self._mark_triggers(
            event.triggering_event_ids, event.decided_at, None, f"training suppressed: {reason}"
        )
        return changes

    def _on_progress(self, event: TrainingProgress) -> list[Change]:
        key = f"progress/{event.idempotency_key}/{event.run_id}"
        entry = self._timeline.items.get(key)
        progress = entry["progress"] if entry is not None else None
        if progress is not None and progress["epoch"] > event.epoch:
            return []  # a late epoch changes nothing: the bar only moves forward
        if entry is None:
            entry = self._entry(
                key=key,
                at=event.reported_at,
                kind="training_progress",
                status="running",
                model_name=event.model_name,
                episode=event.idempotency_key,
                title=f"Training {event.model_name} on {event.device}",
                detail="",
                links=self._links(self._run_link(event.run_id)),
            )
        entry["detail"] = (
            f"epoch {event.epoch}/{event.max_epochs} · loss {event.train_loss:.4f} · "
            f"val {event.validation_metric} {event.validation_value:.4f}"
        )
        entry["progress"] = {
            "epoch": event.epoch,
            "max_epochs": event.max_epochs,
            "train_loss": event.train_loss,
            "validation_metric": event.validation_metric,
            "validation_value": event.validation_value,
            "eta_seconds": event.eta_seconds,
            "samples_per_second": event.samples_per_second,
            "device": event.device,
            "updated_at": _iso(event.reported_at),
            "finished": None,
        }
        finished = self._finished_runs.get(event.idempotency_key)
        if finished is not None:
            self._finish_progress(entry, *finished)
        return self._put_entry(entry)

    def _finish_progress(self, entry: Json, status: str, outcome: str) -> None:
        entry["status"] = status
        entry["progress"]["finished"] = outcome

    def _finish_run(self, idempotency_key: str, status: str, outcome: str) -> list[Change]:
        self._remember(self._finished_runs, idempotency_key, (status, outcome))
        changes = []
        for key, entry in self._timeline.items.items():
            if entry["kind"] == "training_progress" and entry["episode"] == idempotency_key:
                self._finish_progress(entry, status, outcome)
                changes.append(Change("timeline", key, entry))
        return changes

    def _on_trained(self, event_id: str, event: ModelTrained) -> list[Change]:
        self._remember(self._run_of_version, (event.model_name, event.model_version), event.run_id)
        metrics = " · ".join(f"{name} {value:.4f}" for name, value in sorted(event.metrics.items()))
        entry = self._entry(
            key=event_id,
            at=event.trained_at,
            kind="model_trained",
            status="info",
            model_name=event.model_name,
            model_version=event.model_version,
            episode=event.idempotency_key,
            title=f"Model trained: {event.model_name} v{event.model_version} (challenger)",
            detail=metrics or "no metrics reported",
            facts=[
                ["training rows", str(event.dataset.row_count)],
                ["device", event.device],
                ["run", event.run_id],
            ],
            links=self._links(
                self._run_link(event.run_id),
                self._version_link(event.model_name, event.model_version),
            ),
        )
        changes = self._put_entry(entry)
        changes += self._finish_run(event.idempotency_key, "good", "trained")
        changes += self._link_version(event.model_name, event.model_version, event.idempotency_key)
        return changes

    def _on_failed(self, event_id: str, event: TrainingFailed) -> list[Change]:
        entry = self._entry(
            key=event_id,
            at=event.failed_at,
            kind="training_failed",
            status="bad",
            model_name=event.model_name,
            episode=event.idempotency_key,
            title=f"Training failed for {event.model_name}: {event.error_type}",
            detail=event.reason,
            links=self._links(self._run_link(event.run_id)),
        )
        changes = self._put_entry(entry)
        changes += self._finish_run(event.idempotency_key, "bad", "failed")
        return changes

    def _gate_facts(self, event: ModelPromoted | ModelRejected) -> list[list[str]]:
        champion = (
            f"{event.champion_metric:.4f}" if event.champion_metric is not None else "none yet"
        )
        return [
            [f"challenger {event.gate_metric}", f"{event.challenger_metric:.4f}"],
            [f"champion {event.gate_metric}", champion],
            ["required margin", f"{event.min_margin:+.4f}"],
            ["fresh holdout rows", str(event.holdout_rows)],
        ]

    def _gate_summary(self, event: ModelPromoted | ModelRejected) -> str:
        if event.champion_metric is None:
            return (
                f"{event.gate_metric} {event.challenger_metric:.4f} on {event.holdout_rows} "
                "holdout rows (no champion to beat)"
            )
        delta = event.challenger_metric - event.champion_metric
        return (
            f"{event.gate_metric} {event.challenger_metric:.4f} vs champion "
            f"{event.champion_metric:.4f} ({delta:+.4f}, margin {event.min_margin:+.4f}) "
            f"on {event.holdout_rows} holdout rows"
        )

    def _decision_links(self, model_name: str, version: int) -> list[Json]:
        run_id = self._run_of_version.get((model_name, version))
        return self._links(self._run_link(run_id), self._version_link(model_name, version))

    def _on_promoted(self, event_id: str, event: ModelPromoted) -> list[Change]:
        was = f" (was v{event.previous_version})" if event.previous_version else ""
        entry = self._entry(
            key=event_id,
            at=event.promoted_at,
            kind="model_promoted",
            status="good",
            model_name=event.model_name,
            model_version=event.model_version,
            title=f"Promoted: {event.model_name} v{event.model_version} is the champion{was}",
            detail=self._gate_summary(event),
            facts=self._gate_facts(event),
            links=self._decision_links(event.model_name, event.model_version),
        )
        changes = self._put_entry(entry)
        current = self._champions.get(event.model_name)
        if current is None or current["promoted_at"] <= _iso(event.promoted_at):
            champion = {
                "key": event.model_name,
                "model_name": event.model_name,
                "model_version": event.model_version,
                "previous_version": event.previous_version,
                "promoted_at": _iso(event.promoted_at),
                "gate_metric": event.gate_metric,
                "challenger_metric": event.challenger_metric,
                "champion_metric": event.champion_metric,
                "min_margin": event.min_margin,
                "holdout_rows": event.holdout_rows,
                "sha256": event.sha256,
                "links": entry["links"],
            }
            self._champions[event.model_name] = champion
            changes.append(Change("champion", event.model_name, champion))
        return changes

    def _on_rejected(self, event_id: str, event: ModelRejected) -> list[Change]:
        stays = f"; v{event.champion_version} stays champion" if event.champion_version else ""
        entry = self._entry(
            key=event_id,
            at=event.rejected_at,
            kind="model_rejected",
            status="bad",
            model_name=event.model_name,
            model_version=event.model_version,
            title=(
                f"Rejected: {event.model_name} v{event.model_version} "
                f"({event.reason.value.replace('_', ' ')}){stays}"
            ),
            detail=f"{self._gate_summary(event)}. {event.detail}",
            facts=self._gate_facts(event),
            links=self._decision_links(event.model_name, event.model_version),
        )
        return self._put_entry(entry)

    def _replica_changes(self, replica: Json) -> list[Change]:
        current = self._replicas.get(replica["replica_id"])
        if current is not None and current["at"] > replica["at"]:
            return []
        if current is not None and replica["model_version"] is None:
            replica["model_version"] = current["model_version"]  # it keeps serving that one
        self._replicas[replica["replica_id"]] = replica
        return [Change("replica", replica["replica_id"], replica)]

    def _on_loaded(self, event_id: str, event: PredictorModelLoaded) -> list[Change]:
        if event.previous_version is None:
            title = f"{event.replica_id} started serving {event.model_name} v{event.model_version}"
        elif event.previous_version == event.model_version:
            title = f"{event.replica_id} reloaded {event.model_name} v{event.model_version}"
        else:
            title = (
                f"{event.replica_id} rolled {event.model_name} "
                f"v{event.previous_version} → v{event.model_version}"
            )
        entry = self._entry(
            key=event_id,
            at=event.loaded_at,
            kind="replica_rolled",
            status="good",
            model_name=event.model_name,
            model_version=event.model_version,
            title=title,
            detail=f"load {event.load_ms:.0f} ms · warm-up {event.warmup_ms:.0f} ms",
            facts=[["sha256", event.sha256[:12] + "…"]],
        )
        changes = self._put_entry(entry)
        changes += self._replica_changes(
            {
                "key": event.replica_id,
                "replica_id": event.replica_id,
                "model_name": event.model_name,
                "model_version": event.model_version,
                "status": "serving",
                "at": _iso(event.loaded_at),
                "detail": f"loaded in {event.load_ms + event.warmup_ms:.0f} ms",
            }
        )
        return changes

    def _on_refused(self, event_id: str, event: PredictorModelRefused) -> list[Change]:
        keeps = (
            f"; keeps serving v{event.serving_version}"
            if event.serving_version
            else "; it has no model"
        )
        entry = self._entry(
            key=event_id,
            at=event.refused_at,
            kind="replica_refused",
            status="bad",
            model_name=event.model_name,
            model_version=event.model_version,
            title=(
                f"{event.replica_id} refused {event.model_name} v{event.model_version} "
                f"({event.reason.value.replace('_', ' ')}){keeps}"
            ),
            detail=event.detail,
        )
        changes = self._put_entry(entry)
        changes += self._replica_changes(
            {
                "key": event.replica_id,
                "replica_id": event.replica_id,
                "model_name": event.model_name,
                "model_version": event.serving_version,
                "status": "refused",
                "refused_version": event.model_version,
                "at": _iso(event.refused_at),
                "detail": f"refused v{event.model_version}: {event.reason.value}",
            }
        )
        return changes
