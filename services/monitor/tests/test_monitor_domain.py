"""The monitor's pure rules: windows, the label join, the performance judgement, the
reference document and the drift verdict."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from monitor.domain.drift import DriftPolicy, FeatureScore, verdict
from monitor.domain.label_join import JoinOutcome, PredictionLog, RememberedPrediction
from monitor.domain.performance import LabelledWindow, PerformancePolicy
from monitor.domain.reference import ReferenceInvalid, parse_reference
from monitor.domain.windows import OpenWindow, WindowBook, bucket_start, window_key

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def book(**fields: Any) -> WindowBook:
    values: dict[str, Any] = {"seconds": 60, "max_rows": 1000, "lateness": timedelta(seconds=5)}
    return WindowBook(**(values | fields))


def add(windows: WindowBook, request_id: str, seconds: float, version: int = 1) -> bool:
    return windows.add(
        model_name="churn",
        model_version=version,
        request_id=request_id,
        at=at(seconds),
        features={"x": float(seconds)},
    )


# ------------------------------------------------------------------ windows


def test_windows_are_epoch_aligned_buckets_with_deterministic_ids() -> None:
    assert bucket_start(at(59.9), 60) == T0
    assert bucket_start(at(60), 60) == at(60)
    key = window_key("churn", 3, at(75), 60)
    assert key.start == at(60)
    assert key.end == at(120)
    assert key.window_id == "churn-v3-20261121T100100Z-60s"
    assert window_key("churn", 3, at(119), 60) == key
    assert window_key("churn", 4, at(75), 60).window_id == "churn-v4-20261121T100100Z-60s"
    with pytest.raises(ValueError, match="naive"):
        bucket_start(datetime(2026, 1, 1), 60)


def test_a_window_closes_once_the_watermark_passes_its_end_plus_the_lateness() -> None:
    windows = book()
    for i in range(10):
        add(windows, f"r{i}", i * 5)  # 0..45 s: the first window
    add(windows, "v2", 30, version=2)  # another version, same bucket: its own window
    assert windows.close_due() == []
    add(windows, "next", 64)  # watermark 64 < 60 + 5
    assert windows.close_due() == []
    add(windows, "later", 65)
    closed = windows.close_due()
    assert [(w.key.model_version, w.count) for w in closed] == [(1, 10), (2, 1)]
    assert closed[0].first_at == at(0)
    assert closed[0].last_at == at(45)
    assert [row["x"] for row in closed[0].rows] != []
    # A straggler of a closed window is late: dropped and counted, not a new window.
    assert add(windows, "straggler", 59) is False
    assert windows.late == 1
    assert [k.start for k in windows.open_keys()] == [at(60)]


def test_a_quiet_stream_closes_by_the_wall_clock() -> None:
    windows = book()
    add(windows, "only", 10)
    assert windows.close_due(now=at(64)) == []
    [closed] = windows.close_due(now=at(65))
    assert closed.count == 1


def test_the_window_sample_is_the_same_whatever_the_arrival_order_and_redeliveries() -> None:
    ids = [f"req-{i}" for i in range(500)]
    first = OpenWindow(window_key("churn", 1, T0, 60), max_rows=50)
    for request_id in ids:
        first.add(request_id, T0, {"id": request_id})
    shuffled = ids[:]
    random.Random(4).shuffle(shuffled)
    second = OpenWindow(window_key("churn", 1, T0, 60), max_rows=50)
    for request_id in shuffled + shuffled[:100]:  # 100 redelivered
        second.add(request_id, T0, {"id": request_id})
    assert len(first.sample()) == 50
    assert first.sample() == second.sample()
    assert second.count == 600  # every delivery counts; the sample holds each once
    small = OpenWindow(window_key("churn", 1, T0, 60), max_rows=50)
    for request_id in ids[:10] + ids[:10]:
        small.add(request_id, T0, {"id": request_id})
    assert sorted(row["id"] for row in small.sample()) == sorted(ids[:10])


# ------------------------------------------------------------------ label join


def remembered(request_id: str, customer: str, seconds: float, score: float = 0.7) -> Any:
    return RememberedPrediction(
        request_id=request_id,
        customer_id=customer,
        predicted_at=at(seconds),
        score=score,
        label=score >= 0.5,
        window=window_key("churn", 1, at(seconds), 60),
    )


def log(**fields: Any) -> PredictionLog:
    values: dict[str, Any] = {
        "max_customers": 100,
        "per_customer": 3,
        "max_delay": timedelta(hours=1),
    }
    return PredictionLog(**(values | fields))


def test_a_label_joins_the_latest_prediction_before_its_prediction_point() -> None:
    predictions = log()
    predictions.remember(remembered("a1", "A", 10))
    predictions.remember(remembered("a2", "A", 100))
    predictions.remember(remembered("a3", "A", 500))  # after the label's point
    outcome, join = predictions.resolve(customer_id="A", churned=True, prediction_point=at(200))
    assert outcome is JoinOutcome.JOINED
    assert join is not None
    assert join.prediction.request_id == "a2"
    assert join.churned is True
    # The same prediction is resolved once.
    again, _ = predictions.resolve(customer_id="A", churned=True, prediction_point=at(200))
    assert again is JoinOutcome.DUPLICATE
    # A label naming its request id gets exactly that prediction.
    named, join = predictions.resolve(
        customer_id="A", churned=False, prediction_point=at(200), request_id="a1"
    )
    assert named is JoinOutcome.JOINED
    assert join is not None
    assert join.prediction.request_id == "a1"


def test_a_label_without_a_recent_enough_prediction_is_unmatched() -> None:
    predictions = log(max_delay=timedelta(seconds=60))
    predictions.remember(remembered("b1", "B", 0))
    outcome, join = predictions.resolve(customer_id="B", churned=True, prediction_point=at(61))
    assert outcome is JoinOutcome.UNMATCHED
    assert join is None
    unknown, _ = predictions.resolve(customer_id="Z", churned=True, prediction_point=at(61))
    assert unknown is JoinOutcome.UNMATCHED


def test_the_prediction_log_is_bounded_per_customer_and_in_customers() -> None:
    predictions = log(max_customers=2, per_customer=2)
    for i in range(5):
        predictions.remember(remembered(f"c{i}", "C", i))
    predictions.remember(remembered("c4", "C", 4))  # redelivered: kept once
    assert len(predictions) == 2
    oldest, _ = predictions.resolve(
        customer_id="C", churned=True, prediction_point=at(10), request_id="c0"
    )
    assert oldest is JoinOutcome.JOINED  # c0 forgotten: the rule falls back to the latest
    predictions.remember(remembered("d", "D", 1))
    predictions.remember(remembered("e", "E", 1))  # C is the least recently predicted
    assert len(predictions) == 2
    gone, _ = predictions.resolve(customer_id="C", churned=True, prediction_point=at(10))
    assert gone is JoinOutcome.UNMATCHED


# ------------------------------------------------------------------ performance


def labelled(pairs: list[tuple[float, bool]]) -> LabelledWindow:
    window = LabelledWindow(window_key("churn", 1, T0, 60))
    for score, churned in pairs:
        window.add(score, score >= 0.5, churned)
    return window


def test_performance_is_judged_once_enough_labels_arrived() -> None:
    policy = PerformancePolicy(metric="roc_auc", min_labels=4, min_value=0.7)
    assert labelled([(0.9, True), (0.1, False), (0.8, True)]).judge(policy, None) is None
    good = labelled([(0.9, True), (0.1, False), (0.8, True), (0.2, False)]).judge(policy, 0.8)
    assert good is not None
    assert good.value == 1.0
    assert good.accuracy == 1.0
    assert good.degraded is False
    assert good.baseline == 0.8
    bad = labelled([(0.1, True), (0.9, False), (0.8, True), (0.2, False)]).judge(policy, None)
    assert bad is not None
    assert bad.value == 0.25  # one of four (churned, retained) pairs ranked right
    assert bad.accuracy == 0.5
    assert bad.degraded is True
    one_class = labelled([(0.9, True)] * 5)
    assert one_class.judge(policy, None) is None  # AUC undefined: wait for both outcomes
    by_accuracy = PerformancePolicy(metric="accuracy", min_labels=4, min_value=0.7)
    judged = one_class.judge(by_accuracy, None)
    assert judged is not None
    assert judged.value == 1.0
    assert judged.roc_auc is None


def test_the_threshold_rises_to_the_baseline_less_the_allowed_drop() -> None:
    policy = PerformancePolicy(metric="roc_auc", min_labels=1, min_value=0.6, max_drop=0.05)
    assert policy.threshold(None) == 0.6
    assert policy.threshold(0.8) == pytest.approx(0.75)
    assert policy.threshold(0.62) == 0.6
    assert PerformancePolicy("roc_auc", 1, 0.6).threshold(0.9) == 0.6


# ------------------------------------------------------------------ reference document


def document(rows: int = 40, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "format": 1,
        "model_name": "churn",
        "numeric_features": ["usage"],
        "categorical_features": {"plan": ["basic", "premium"]},
        "training_rows": rows,
        "sample_rows": rows,
        "columns": {"usage": [float(i) for i in range(rows)], "plan": ["basic"] * rows},
    }
    return values | changes


def test_a_valid_reference_is_parsed_and_subsampled() -> None:
    sample = parse_reference(document(), model_name="churn", model_version=2, max_rows=1000)
    assert sample.rows == 40
    assert sample.feature_names == ("usage", "plan")
    assert sample.model_version == 2
    smaller = parse_reference(document(), model_name="churn", model_version=2, max_rows=35)
    assert smaller.rows == len(smaller.columns["usage"]) == len(smaller.columns["plan"]) == 35
    again = parse_reference(document(), model_name="churn", model_version=2, max_rows=35)
    assert smaller.columns == again.columns  # seeded


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1, 2], "not a JSON object"),
        (document(format=2), "unsupported reference format"),
        (document(model_name="other"), "not 'churn'"),
        (document(numeric_features="usage"), "numeric_features"),
        (document(columns={"usage": [1.0] * 40}), "columns missing for plan"),
        (document(columns={"usage": [1.0] * 40, "plan": ["a"] * 39}), "same length"),
        (document(rows=5), "at least 30"),
        (document(columns={"usage": [1.0] * 39 + ["x"], "plan": ["a"] * 40}), "non-number"),
        (document(columns={"usage": [1.0] * 39 + [True], "plan": ["a"] * 40}), "non-number"),
        (document(columns={"usage": [1.0] * 40, "plan": ["a"] * 39 + [3]}), "non-string"),
    ],
)
def test_a_bad_reference_is_refused_with_the_reason(bad: Any, message: str) -> None:
    with pytest.raises(ReferenceInvalid, match=message):
        parse_reference(bad, model_name="churn", model_version=1, max_rows=100)


# ------------------------------------------------------------------ drift verdict


def test_the_window_drifts_when_the_share_of_drifted_features_reaches_the_policy() -> None:
    policy = DriftPolicy("wasserstein", 0.1, "jensenshannon", 0.1, drift_share=0.5, min_rows=10)
    assert policy.method_for(categorical=True) == ("jensenshannon", 0.1)
    scores = (
        FeatureScore("a", 0.3, "wasserstein", 0.1, True),
        FeatureScore("b", 0.01, "wasserstein", 0.1, False),
    )
    half = verdict(scores, policy)
    assert half.drift_share == 0.5
    assert half.dataset_drift is True
    calm = verdict((scores[1], FeatureScore("c", 0.0, "jensenshannon", 0.1, False)), policy)
    assert calm.dataset_drift is False
    with pytest.raises(ValueError, match="at least one feature"):
        verdict((), policy)


def test_open_windows_survive_an_export_and_restore_through_json() -> None:
    before = book(max_rows=3)
    for i in range(5):
        add(before, f"r{i}", i)
    add(before, "v2", 30, version=2)
    add(before, "next", 70)  # the next window opened; nothing closed yet (no close_due)
    document = json.loads(json.dumps(before.export()))

    after = book(max_rows=3)
    assert after.restore(document) == 3
    add(after, "r5", 5)  # more of the same window after the restart
    add(after, "r0", 0)  # a redelivered one: counted, sampled once
    add(after, "closer", 200)
    closed = {(w.key.model_version, w.key.start): w for w in after.close_due()}
    first = closed[(1, T0)]
    assert first.count == 7
    assert first.first_at == at(0)
    assert first.last_at == at(5)
    reference = book(max_rows=3)
    for i in range(6):
        add(reference, f"r{i}", i)
    add(reference, "closer", 200)
    [expected, *_] = reference.close_due()
    assert first.rows == expected.rows  # the same sample as without the restart
    assert closed[(2, T0)].count == 1
    assert closed[(1, at(60))].count == 1
    with pytest.raises(ValueError, match="this length"):
        book(seconds=30).restore(document)
