"""The registry's decision ledger on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from registry.adapters.decision_ledger import SqlDecisionLedger, decisions

from mlops_contracts import ModelPromoted, ModelRejected, RejectionReason
from service_kit.database import create_engine

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
async def ledger(database_url: str) -> AsyncIterator[SqlDecisionLedger]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:  # a clean table on the shared database
        await connection.run_sync(decisions.drop, checkfirst=True)
    ledger = SqlDecisionLedger(engine)
    await ledger.create_schema()
    yield ledger
    await engine.dispose()


async def test_one_decision_per_version_kept_with_its_progress(ledger: SqlDecisionLedger) -> None:
    promoted = ModelPromoted(**COMMON, model_version=1, challenger_metric=0.8, promoted_at=NOW)
    stored = await ledger.record(promoted)
    assert stored.decision == promoted
    assert not stored.applied
    assert not stored.published
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
    await ledger.mark(promoted, applied=True)
    await ledger.mark(promoted, published=True)
    done = await ledger.get("churn", 1)
    assert done is not None
    assert done.applied
    assert done.published

    rejected = other.model_copy(update={"model_version": 2})
    await ledger.record(rejected)
    assert await ledger.history("churn") == [promoted, rejected]
    assert await ledger.get("churn", 3) is None
