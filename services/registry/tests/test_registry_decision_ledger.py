"""The registry's decision ledger on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from registry.adapters.decision_ledger import MIGRATIONS, SqlDecisionLedger

from mlops_contracts import ModelPromoted, ModelRejected, RejectionReason
from service_kit.outbox import Outbox

pytestmark = pytest.mark.connected

NOW = datetime(2026, 11, 21, tzinfo=UTC)
COMMON = {
    "model_name": "churn",
    "model_uri": "mlflow-artifacts:/1/r/artifacts/model",
    "sha256": "c" * 64,
    "gate_metric": "roc_auc",
    "min_margin": 0.0,
    "holdout_rows": 500,
}


@pytest.fixture
async def outbox(migrated_database: Any, recording_publisher: Any) -> Outbox:
    return Outbox(await migrated_database(MIGRATIONS), recording_publisher)


@pytest.fixture
def ledger(outbox: Outbox) -> SqlDecisionLedger:
    return SqlDecisionLedger(outbox.engine, outbox)


async def test_one_decision_per_version_kept_and_announced_once_applied(
    ledger: SqlDecisionLedger, outbox: Outbox, recording_publisher: Any
) -> None:
    promoted = ModelPromoted(**COMMON, model_version=1, challenger_metric=0.8, promoted_at=NOW)
    stored = await ledger.record(promoted)
    assert stored.decision == promoted
    assert not stored.applied
    assert await outbox.relay() == 0  # not applied: nothing to announce yet
    # A second decision about the same version does not replace the first.
    other = ModelRejected(
        **COMMON,
        model_version=1,
        challenger_metric=0.5,
        reason=RejectionReason.BELOW_MINIMUM,
        detail="below",
        rejected_at=NOW,
    )
    assert (await ledger.record(other)).decision == promoted
    await ledger.applied(promoted, correlation_id="c-1")
    done = await ledger.get("churn", 1)
    assert done is not None
    assert done.applied
    assert await outbox.relay() == 1
    assert recording_publisher.published == [(promoted, "registry:churn:1:decision", "c-1")]

    rejected = other.model_copy(update={"model_version": 2})
    await ledger.record(rejected)
    assert await ledger.history("churn") == [promoted, rejected]
    assert await ledger.get("churn", 3) is None
