"""The promotion gate's rule, both ways and at its edges."""

from __future__ import annotations

import pytest
from registry.domain.gate import GatePolicy, judge

from mlops_contracts import RejectionReason

AUC = GatePolicy(metric="roc_auc", min_margin=0.01, min_metric=0.6, min_holdout_rows=100)


def test_the_first_champion_only_needs_the_floor() -> None:
    verdict = judge(AUC, challenger=0.61, champion=None, holdout_rows=500)
    assert verdict.promote
    assert verdict.reason is None
    assert "first champion" in verdict.detail


@pytest.mark.parametrize(
    ("challenger", "champion", "promote"),
    [(0.80, 0.79, True), (0.80, 0.791, False), (0.85, 0.80, True), (0.75, 0.80, False)],
)
def test_the_challenger_must_beat_the_champion_by_the_margin(
    challenger: float, champion: float, promote: bool
) -> None:
    verdict = judge(AUC, challenger=challenger, champion=champion, holdout_rows=500)
    assert verdict.promote is promote
    if not promote:
        assert verdict.reason is RejectionReason.NOT_BETTER_THAN_CHAMPION
        assert f"challenger roc_auc {challenger:.4f} vs champion {champion:.4f}" in verdict.detail
        assert "margin 0.0100" in verdict.detail


def test_below_the_floor_is_rejected_even_without_a_champion() -> None:
    verdict = judge(AUC, challenger=0.55, champion=None, holdout_rows=500)
    assert verdict.reason is RejectionReason.BELOW_MINIMUM
    assert "0.5500 misses the minimum 0.6000" in verdict.detail


def test_a_small_holdout_decides_nothing() -> None:
    verdict = judge(AUC, challenger=0.99, champion=0.5, holdout_rows=99)
    assert verdict.reason is RejectionReason.INSUFFICIENT_HOLDOUT
    assert "99 rows" in verdict.detail


def test_for_log_loss_lower_is_better() -> None:
    policy = GatePolicy(metric="log_loss", min_margin=0.01, min_metric=0.6, min_holdout_rows=1)
    assert judge(policy, challenger=0.40, champion=0.45, holdout_rows=10).promote
    worse = judge(policy, challenger=0.45, champion=0.40, holdout_rows=10)
    assert worse.reason is RejectionReason.NOT_BETTER_THAN_CHAMPION
    assert judge(policy, challenger=0.7, champion=None, holdout_rows=10).reason is (
        RejectionReason.BELOW_MINIMUM
    )


@pytest.mark.parametrize(("challenger", "champion"), [(float("nan"), None), (0.8, float("nan"))])
def test_a_metric_that_is_not_a_number_never_promotes(
    challenger: float, champion: float | None
) -> None:
    verdict = judge(AUC, challenger=challenger, champion=champion, holdout_rows=500)
    assert not verdict.promote
    assert verdict.reason is RejectionReason.EVALUATION_FAILED
