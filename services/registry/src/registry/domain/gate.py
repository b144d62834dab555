"""The promotion gate's rule: challenger and champion measured on the same fresh holdout;
promote only when the challenger reaches the floor and beats the champion by the margin."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlops_contracts import RejectionReason

LOWER_IS_BETTER = frozenset({"log_loss"})
"""Gate metrics (of ``churn_model.metrics.evaluate``) where a smaller value is better."""


@dataclass(frozen=True)
class GatePolicy:
    """Which metric, the margin over the champion, the floor, the least holdout size."""

    metric: str
    min_margin: float
    min_metric: float
    min_holdout_rows: int

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class Verdict:
    """The gate's decision with the numbers that made it."""

    promote: bool
    reason: RejectionReason | None
    detail: str


def judge(
    policy: GatePolicy, *, challenger: float, champion: float | None, holdout_rows: int
) -> Verdict:
    """Promote or reject; ``champion`` is None when there is no champion yet."""
    name = policy.metric
    measured = [challenger] if champion is None else [challenger, champion]
    if not all(math.isfinite(value) for value in measured):
        return Verdict(
            False,
            RejectionReason.EVALUATION_FAILED,
            f"{name} is not a finite number (challenger {challenger}, champion {champion})",
        )
    if holdout_rows < policy.min_holdout_rows:
        return Verdict(
            False,
            RejectionReason.INSUFFICIENT_HOLDOUT,
            f"holdout has {holdout_rows} rows, the gate needs at least {policy.min_holdout_rows}",
        )
    sign = 1.0 if policy.higher_is_better else -1.0
    if sign * (challenger - policy.min_metric) < 0:
        bound = "minimum" if policy.higher_is_better else "maximum"
        return Verdict(
            False,
            RejectionReason.BELOW_MINIMUM,
            f"challenger {name} {challenger:.4f} misses the {bound} {policy.min_metric:.4f}",
        )
    if champion is None:
        return Verdict(
            True, None, f"first champion: {name} {challenger:.4f} on {holdout_rows} rows"
        )
    gain = sign * (challenger - champion)
    comparison = (
        f"challenger {name} {challenger:.4f} vs champion {champion:.4f} "
        f"(gain {gain:+.4f}, margin {policy.min_margin:.4f}) on {holdout_rows} rows"
    )
    if gain >= policy.min_margin:
        return Verdict(True, None, comparison)
    return Verdict(False, RejectionReason.NOT_BETTER_THAN_CHAMPION, comparison)
