"""The dashboard's projection: pure folding of the loop's events and traffic into its state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitor.dashboard.projection import Change, DashboardProjection, safe_link
from monitor.dashboard.samples import loop_episode

from mlops_contracts import (
    DriftDetected,
    Envelope,
    Event,
    ModelRejected,
    PredictorModelRefused,
    RefusalReason,
    RejectionReason,
    TrainingFailed,
    TrainingProgress,
    TrainingReason,
    TrainingSuppressed,
    topic_for,
)

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MLFLOW = "http://127.0.0.1:8720"


def envelope(event_id: str, event: Event) -> Envelope[Any]:
    return Envelope(
        id=event_id,
        source="urn:test",
        type=event.event_type,
        time=None,
        subject=None,
        correlation_id=None,
        data=event,
    )


def projection(history: int = 500) -> DashboardProjection:
    return DashboardProjection(history=history, traffic_bucket_s=2.0, mlflow_url=MLFLOW)


def replay(events: list[tuple[str, Event]], target: DashboardProjection) -> list[Change]:
    changes: list[Change] = []
    for event_id, event in events:
        changes += target.apply(envelope(event_id, event))
    return changes


def kinds(snapshot: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in snapshot["timeline"]]


def test_an_episode_becomes_the_loops_timeline_from_drift_to_every_replica_rolled() -> None:
    state = projection()
    replay(loop_episode(START), state)
    snapshot = state.snapshot()

    assert kinds(snapshot) == [
        "model_promoted",  # the first champion, v1, then both replicas load it
        "replica_rolled",
        "replica_rolled",
        "drift_detected",
        "training_suppressed",
        "drift_detected",
        "performance_degraded",
        "training_requested",
        "training_progress",  # one entry for the whole run, updated per epoch
        "model_trained",
        "model_promoted",
        "replica_rolled",
        "replica_rolled",
    ]
    episode = "drift-churn-episode-1"
    timeline = snapshot["timeline"]
    assert [e["episode"] for e in timeline[-6:]] == [episode] * 6
    # Both drifted windows led to the request (the first one had been held back before).
    assert [e["outcome"] for e in timeline if e["kind"] == "drift_detected"] == [
        "training requested",
        "training requested",
    ]
    suppressed = timeline[4]
    assert suppressed["title"] == "Training suppressed for churn: too few consecutive windows"
    assert suppressed["detail"] == "1 of 2 consecutive drifted windows needed"

    progress = timeline[8]["progress"]
    assert (progress["epoch"], progress["max_epochs"], progress["finished"]) == (8, 8, "trained")
    assert timeline[8]["status"] == "good"

    promoted = timeline[10]
    assert promoted["title"] == "Promoted: churn v2 is the champion (was v1)"
    assert promoted["detail"] == (
        "roc_auc 0.7612 vs champion 0.7084 (+0.0528, margin +0.0050) on 639 holdout rows"
    )
    assert ["fresh holdout rows", "639"] in promoted["facts"]
    run = f"{MLFLOW}/#/runs/b2e66d4f9a0c4e61a3d57c0e8f1b2a3c"
    assert {"label": "MLflow run", "href": run} in promoted["links"]
    assert timeline[-1]["title"] == "predictor-2 rolled churn v1 → v2"

    (champion,) = snapshot["champions"]
    assert (champion["model_name"], champion["model_version"]) == ("churn", 2)
    assert [(r["replica_id"], r["model_version"]) for r in snapshot["replicas"]] == [
        ("predictor-1", 2),
        ("predictor-2", 2),
    ]
    assert len(snapshot["drift"]) == 11
    assert snapshot["drift"][-1]["model_version"] == 2
    report = snapshot["drift"][0]["report_link"]
    assert report.startswith("http://127.0.0.1:8705/reports/")
    assert {p["metric"] for p in snapshot["performance"]} == {"accuracy"}
    assert snapshot["config"] == {
        "history": 500,
        "traffic_bucket_s": 2.0,
        "mlflow_url": MLFLOW,
    }


def test_replay_in_any_order_across_topics_gives_the_same_state() -> None:
    events = loop_episode(START)
    in_order = projection()
    replay(events, in_order)

    # A fresh page replays topic after topic: e.g. decisions before the trainings.
    by_topic: dict[str, list[tuple[str, Event]]] = {}
    for event_id, event in events:
        by_topic.setdefault(topic_for(event).name, []).append((event_id, event))
    shuffled_topics = list(by_topic)
    random.Random(7).shuffle(shuffled_topics)
    reordered = projection()
    replay([item for name in reversed(shuffled_topics) for item in by_topic[name]], reordered)

    def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
        def strip(item: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in item.items() if k != "seq"}

        return {
            name: [strip(item) for item in snapshot[name]]
            for name in ("drift", "performance", "champions", "replicas", "timeline")
        }

    assert comparable(reordered.snapshot()) == comparable(in_order.snapshot())


def test_a_repeated_event_id_changes_nothing() -> None:
    state = projection()
    event_id, event = loop_episode(START)[0]
    assert state.apply(envelope(event_id, event))
    revision = state.revision
    assert state.apply(envelope(event_id, event)) == []
    assert state.revision == revision


def test_history_bounds_every_series_and_the_timeline() -> None:
    state = projection(history=10)
    for episode in range(4):
        events = loop_episode(START + timedelta(hours=episode))
        replay([(f"{episode}-{i}", e) for i, e in events], state)
    for second in range(0, 120, 2):
        state.record_predictions(
            at=START + timedelta(seconds=second),
            count=10,
            errors=0,
            latencies_ms=[5.0],
            model_version="2",
        )
    snapshot = state.snapshot()
    for series in ("drift", "performance", "timeline", "traffic"):
        assert len(snapshot[series]) == 10, series
    # The newest are kept.
    assert snapshot["timeline"][-1]["at"] == "2026-11-21T12:09:30.000Z"
    assert snapshot["traffic"][-1]["at"] == "2026-11-21T09:01:58.000Z"


def test_only_http_links_are_offered_and_event_text_is_kept_as_plain_data() -> None:
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("JAVASCRIPT:alert(1)") is None
    assert safe_link("data:text/html,<script>x</script>") is None
    assert safe_link("file:///var/reports/w1.html") is None
    assert safe_link("https://reports.example/w1.html") == "https://reports.example/w1.html"

    state = projection()
    drifted = loop_episode(START)[17][1]
    assert isinstance(drifted, DriftDetected)
    assert drifted.dataset_drift
    hostile = drifted.model_copy(update={"report_uri": "javascript:alert(document.cookie)"})
    text = '<img src=x onerror="alert(1)">'
    changes = state.apply(envelope("e-1", hostile))
    changes += state.apply(
        envelope(
            "e-2",
            TrainingSuppressed(
                decision_id="d-1",
                model_name="churn",
                signal=TrainingReason.DRIFT,
                reason="cooldown",
                detail=text,
                decided_at=START,
            ),
        )
    )
    window = state.snapshot()["drift"][0]
    assert window["report_uri"] == "javascript:alert(document.cookie)"  # shown as text only
    assert window["report_link"] is None
    entries = {c.key: c.data for c in changes if c.kind == "timeline"}
    assert entries["e-1"]["links"] == []
    assert entries["e-2"]["detail"] == text  # the page writes it with textContent


def test_traffic_is_bucketed_into_rate_error_rate_and_latency_percentiles() -> None:
    state = projection()
    at = START + timedelta(seconds=10.5)
    state.record_predictions(
        at=at,
        count=100,
        errors=5,
        latencies_ms=[float(i) for i in range(1, 101)],
        model_version="1",
    )
    (change,) = state.record_predictions(
        at=at + timedelta(seconds=1),
        count=100,
        errors=0,
        latencies_ms=[1.0] * 100,
        model_version="2",
    )
    bucket = change.data
    assert change.kind == "traffic"
    assert bucket["at"] == "2026-11-21T09:00:10.000Z"
    assert bucket["count"] == 200
    assert bucket["predictions_per_s"] == 100.0
    assert bucket["error_rate"] == 0.025
    assert bucket["p50_ms"] == 1.0
    assert bucket["p99_ms"] == 98.0
    assert bucket["model_versions"] == {"1": 100, "2": 100}

    # A late batch lands in its own (earlier) bucket, kept in time order; a naive time is UTC.
    state.record_predictions(
        at=datetime(2026, 11, 21, 9, 0, 4), count=3, errors=3, latencies_ms=[], model_version=None
    )
    traffic = state.snapshot()["traffic"]
    assert [b["at"] for b in traffic] == ["2026-11-21T09:00:04.000Z", "2026-11-21T09:00:10.000Z"]
    assert traffic[0]["error_rate"] == 1.0
    assert traffic[0]["p50_ms"] is None
    assert (
        state.record_predictions(at=at, count=0, errors=0, latencies_ms=[], model_version=None)
        == []
    )


def test_latency_sample_stays_bounded_under_heavy_traffic() -> None:
    state = projection()
    for _ in range(30):
        state.record_predictions(
            at=START, count=1000, errors=0, latencies_ms=[2.0] * 999 + [50.0], model_version="1"
        )
    (bucket,) = state.snapshot()["traffic"]
    assert bucket["count"] == 30_000
    assert bucket["p50_ms"] == 2.0


def test_the_progress_bar_only_moves_forward_and_shows_a_failed_run() -> None:
    state = projection()

    def epoch(number: int) -> TrainingProgress:
        return TrainingProgress(
            idempotency_key="k-1",
            model_name="churn",
            run_id="run-1",
            epoch=number,
            max_epochs=30,
            train_loss=0.5,
            validation_metric="roc_auc",
            validation_value=0.7,
            device="cuda:0",
            reported_at=START + timedelta(seconds=number),
        )

    state.apply(envelope("p-3", epoch(3)))
    assert state.apply(envelope("p-2", epoch(2))) == []
    (entry,) = state.snapshot()["timeline"]
    assert entry["progress"]["epoch"] == 3
    assert entry["status"] == "running"
    assert entry["detail"].startswith("epoch 3/30")

    changes = state.apply(
        envelope(
            "f-1",
            TrainingFailed(
                idempotency_key="k-1",
                model_name="churn",
                run_id="run-1",
                error_type="OutOfMemoryError",
                reason="CUDA out of memory",
                failed_at=START + timedelta(seconds=5),
            ),
        )
    )
    progress = next(c.data for c in changes if c.key.startswith("progress/"))
    assert progress["status"] == "bad"
    assert progress["progress"]["finished"] == "failed"


def test_a_rejection_and_a_refusal_show_the_gate_and_what_keeps_serving() -> None:
    state = projection()
    replay(loop_episode(START)[:3], state)  # v1 champion on two replicas
    changes = state.apply(
        envelope(
            "r-1",
            ModelRejected(
                model_name="churn",
                model_version=3,
                model_uri="models:/churn/3",
                sha256="a" * 64,
                gate_metric="roc_auc",
                challenger_metric=0.701,
                champion_metric=0.7084,
                min_margin=0.005,
                holdout_rows=512,
                champion_version=1,
                reason=RejectionReason.NOT_BETTER_THAN_CHAMPION,
                detail="challenger does not beat the champion by the margin",
                rejected_at=START + timedelta(minutes=5),
            ),
        )
    )
    (rejected,) = [c.data for c in changes]
    assert rejected["title"] == "Rejected: churn v3 (not better than champion); v1 stays champion"
    assert rejected["detail"].startswith("roc_auc 0.7010 vs champion 0.7084 (-0.0074")
    assert state.snapshot()["champions"][0]["model_version"] == 1

    state.apply(
        envelope(
            "x-1",
            PredictorModelRefused(
                replica_id="predictor-2",
                model_name="churn",
                model_version=3,
                reason=RefusalReason.SHA256_MISMATCH,
                detail="expected aaaa, got bbbb",
                serving_version=None,
                refused_at=START + timedelta(minutes=6),
            ),
        )
    )
    replica = state.snapshot()["replicas"][1]
    assert (replica["status"], replica["model_version"], replica["refused_version"]) == (
        "refused",
        1,
        3,
    )


@pytest.mark.parametrize("history", [10, 500])
def test_snapshot_is_plain_json(history: int) -> None:
    import json

    state = projection(history)
    replay(loop_episode(START), state)
    state.record_predictions(at=START, count=1, errors=0, latencies_ms=[1.0], model_version="1")
    assert json.loads(json.dumps(state.snapshot())) == state.snapshot()


def test_times_with_and_without_fractions_order_correctly() -> None:
    state = projection()
    first = loop_episode(START)[0][1]
    later = first.model_copy(
        update={"model_version": 5, "promoted_at": START + timedelta(milliseconds=500)}
    )
    state.apply(envelope("later", later))
    state.apply(envelope("first", first))
    assert [e["key"] for e in state.snapshot()["timeline"]] == ["first", "later"]
    assert state.snapshot()["champions"][0]["model_version"] == 5
