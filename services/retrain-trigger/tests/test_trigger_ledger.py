"""The trigger's decision ledger on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from retrain_trigger.adapters.ledger import MIGRATIONS, SqlTriggerLedger
from retrain_trigger.domain.policy import (
    ExplicitRequest,
    PolicyState,
    TriggerPolicy,
    judge_explicit,
)

from service_kit.outbox import Outbox

pytestmark = pytest.mark.connected

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def outbox(migrated_database: Any, recording_publisher: Any) -> Outbox:
    return Outbox(await migrated_database(MIGRATIONS), recording_publisher)


@pytest.fixture
def ledger(outbox: Outbox) -> SqlTriggerLedger:
    return SqlTriggerLedger(outbox.engine, outbox)


def manual(key: str) -> ExplicitRequest:
    return ExplicitRequest(model_name="churn", idempotency_key=key)


async def test_a_decision_commits_only_on_the_state_it_was_made_on(
    ledger: SqlTriggerLedger,
) -> None:
    fresh = await ledger.state("churn")
    assert fresh.revision is None
    assert fresh.state == PolicyState(model_name="churn")
    decision, state = judge_explicit(TriggerPolicy(), fresh.state, manual("k1"), T0)
    assert await ledger.commit(decision, state, fresh.revision)
    stored = await ledger.state("churn")
    assert stored.revision == 1
    assert stored.state == state
    assert stored.state.in_flight is not None
    # A second decider that read the state before: refused, nothing written.
    other, other_state = judge_explicit(TriggerPolicy(), fresh.state, manual("k2"), T0)
    assert not await ledger.commit(other, other_state, fresh.revision)
    assert await ledger.decision(other.decision_id) is None
    # The same signal decided twice (even on the current state): the first decision stays.
    again, again_state = judge_explicit(TriggerPolicy(), stored.state, manual("k1"), T0)
    assert not await ledger.commit(again, again_state, stored.revision)
    assert (await ledger.state("churn")).revision == 1
    # State-only updates follow the same rule.
    assert not await ledger.save_state(stored.state, 7)
    assert await ledger.save_state(stored.state.model_copy(update={"in_flight": None}), 1)
    assert (await ledger.state("churn")).revision == 2


async def test_decisions_round_trip_with_their_announcement_in_the_outbox(
    ledger: SqlTriggerLedger, outbox: Outbox
) -> None:
    state = PolicyState(model_name="churn")
    made = []
    for index in range(3):
        current = await ledger.state("churn")
        request = ExplicitRequest(model_name="churn", idempotency_key=f"k{index}", force=True)
        decision, state = judge_explicit(
            TriggerPolicy(), current.state, request, T0 + timedelta(minutes=index)
        )
        assert await ledger.commit(decision, state, current.revision)
        made.append(decision)
    stored = await ledger.decision(made[0].decision_id)
    assert stored is not None
    assert stored.decision == made[0]
    assert not stored.published
    assert await outbox.relay() == 3  # each decision's announcement, in order
    newest = await ledger.recent(2)
    assert [s.decision for s in newest] == [made[2], made[1]]
    assert all(s.published for s in newest)
    assert await ledger.recent(5, model_name="other") == []


async def test_labels_are_counted_once_by_observation_time(ledger: SqlTriggerLedger) -> None:
    arrivals = [(f"r{n}", T0 + timedelta(hours=n)) for n in range(10)]
    assert await ledger.admit_labels(arrivals) == 10
    assert await ledger.admit_labels(arrivals[:3]) == 0  # redelivered: counted once
    assert await ledger.labels_after(None) == 10
    assert await ledger.labels_after(T0 + timedelta(hours=6)) == 3
    removed = await ledger.forget_labels_before(T0 + timedelta(hours=5))
    assert removed == 5
    assert await ledger.labels_after(None) == 5
