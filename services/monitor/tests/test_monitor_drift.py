"""The drift check on real Evidently, the report archive, and the emitted-window ledger on
real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from monitor.adapters.evidently_drift import EvidentlyDriftCheck
from monitor.adapters.reports import ReportArchive
from monitor.adapters.window_ledger import MIGRATIONS, SqlWindowLedger
from monitor.domain.drift import DriftPolicy
from monitor.domain.reference import ReferenceSample

from mlops_contracts import PerformanceDegraded
from service_kit.database import create_engine
from service_kit.outbox import Outbox
from service_kit.schema import migrate

POLICY = DriftPolicy(
    numeric_method="wasserstein",
    numeric_threshold=0.1,
    categorical_method="jensenshannon",
    categorical_threshold=0.1,
    drift_share=0.5,
    min_rows=50,
)


def reference(rows: int = 3000, seed: int = 1) -> ReferenceSample:
    rng = np.random.default_rng(seed)
    return ReferenceSample(
        model_name="churn",
        model_version=1,
        numeric_features=("usage", "charges"),
        categorical_features=("plan",),
        columns={
            "usage": rng.normal(300, 60, rows).tolist(),
            "charges": rng.normal(50, 10, rows).tolist(),
            "plan": rng.choice(["basic", "standard", "premium"], rows, p=[0.5, 0.3, 0.2]).tolist(),
        },
        rows=rows,
    )


def window(
    rows: int, seed: int, usage_shift: float = 0.0, premium_share: float = 0.2
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    usage = rng.normal(300 + usage_shift, 60, rows)
    charges = rng.normal(50, 10, rows)
    rest = (1 - premium_share) / 8
    plan = rng.choice(["basic", "standard", "premium"], rows, p=[5 * rest, 3 * rest, premium_share])
    return [
        {"usage": float(u), "charges": float(c), "plan": str(p)}
        for u, c, p in zip(usage, charges, plan, strict=True)
    ]


@pytest.fixture(scope="module")
def check() -> EvidentlyDriftCheck:
    return EvidentlyDriftCheck(POLICY)


def test_an_unshifted_window_does_not_drift(check: EvidentlyDriftCheck) -> None:
    report = check.check(reference(), window(1000, seed=2), title="calm")
    scores = {f.feature: f for f in report.verdict.features}
    assert set(scores) == {"usage", "charges", "plan"}
    assert not any(f.drifted for f in report.verdict.features), scores
    assert report.verdict.drift_share == 0.0
    assert report.verdict.dataset_drift is False
    assert scores["usage"].method == "wasserstein"
    assert scores["plan"].method == "jensenshannon"
    assert all(f.threshold == 0.1 for f in report.verdict.features)
    assert report.rows == 1000


def test_a_shifted_window_drifts_on_the_shifted_features(check: EvidentlyDriftCheck) -> None:
    # Usage falls by half a standard deviation, premium doubles: two of three features.
    shifted = window(1000, seed=3, usage_shift=-30.0, premium_share=0.5)
    report = check.check(reference(), shifted, title="shifted")
    scores = {f.feature: f for f in report.verdict.features}
    assert scores["usage"].drifted
    assert scores["usage"].score > 0.1
    assert scores["plan"].drifted
    assert not scores["charges"].drifted
    assert report.verdict.drift_share == pytest.approx(2 / 3)
    assert report.verdict.dataset_drift is True
    document = json.loads(report.json)
    assert any(m["config"].get("column") == "usage" for m in document["metrics"])
    assert "<html" in report.html.lower()


def test_rows_missing_a_feature_are_left_out_and_too_few_rows_are_refused(
    check: EvidentlyDriftCheck,
) -> None:
    rows = window(100, seed=4)
    incomplete = [{"usage": 1.0, "plan": "basic"}] * 20 + [{**r, "charges": "n/a"} for r in rows]
    with pytest.raises(ValueError, match="0 complete rows"):
        check.check(reference(), incomplete, title="broken")
    report = check.check(reference(), rows + incomplete, title="partly broken")
    assert report.rows == 100


def test_reports_are_kept_for_the_newest_windows_and_read_back_safely(tmp_path: Path) -> None:
    archive = ReportArchive(tmp_path / "reports", keep=2)
    for i in range(4):
        archive.save(f"churn-v1-w{i}", html=f"<html>{i}</html>", json=f'{{"i": {i}}}')
    assert set(archive.window_ids()) == {"churn-v1-w2", "churn-v1-w3"}
    path = archive.path("churn-v1-w3", "html")
    assert path is not None
    assert path.read_text() == "<html>3</html>"
    assert archive.path("churn-v1-w0", "json") is None  # pruned
    assert archive.path("../etc/passwd", "html") is None
    assert archive.path("..", "json") is None
    with pytest.raises(ValueError, match="unsafe"):
        archive.save("../escape", html="", json="")


def window_event(window_id: str) -> PerformanceDegraded:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    return PerformanceDegraded(
        window_id=window_id,
        window_start=now,
        window_end=now,
        model_name="churn",
        model_version=1,
        metric="roc_auc",
        value=0.5,
        threshold=0.6,
        labelled_count=50,
        degraded=True,
        detected_at=now,
    )


@pytest.mark.connected
async def test_the_ledger_remembers_emitted_windows_per_kind_with_their_events(
    database_url: str, recording_publisher: Any
) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine, [MIGRATIONS])
        outbox = Outbox(engine, recording_publisher)
        ledger = SqlWindowLedger(engine, outbox)
        assert await ledger.emitted("drift", ["w1", "w2"]) == set()
        await ledger.emit("drift", "w1", window_event("w1"), "monitor:drift:w1")
        await ledger.emit("drift", "w1", window_event("w1"), "monitor:drift:w1")  # a replay
        await ledger.emit("performance", "w2", window_event("w2"), "monitor:performance:w2")
        assert await ledger.emitted("drift", ["w1", "w2"]) == {"w1"}
        assert await ledger.emitted("performance", ["w1", "w2"]) == {"w2"}
        assert await outbox.relay() == 2  # one event per window, stored with its row
        assert recording_publisher.ids(PerformanceDegraded) == [
            "monitor:drift:w1",
            "monitor:performance:w2",
        ]
        many = [f"w{i}" for i in range(1200)]
        for window_id in many[:3]:
            await ledger.emit("drift", window_id, window_event(window_id), f"e-{window_id}")
        assert await ledger.emitted("drift", many) == {"w0", "w1", "w2"}
        # A new ledger over the same database (a restart) knows the same.
        assert await SqlWindowLedger(engine, outbox).emitted("drift", ["w1"]) == {"w1"}
    finally:
        await engine.dispose()
