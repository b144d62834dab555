"""The customers of the simulated business and the churn model that decides who leaves.

Each customer has an account (tenure, plan, contract, a price) and latent habits (engagement,
how often they need support, how reliable their payments are). Every activity period they use
the service (minutes, sessions) and sometimes open tickets or fail a payment. The chance of
churning in a period is a logistic function of those features, so a model can learn it:

=================  =========================================================================
term               effect on the churn log-odds
=================  =========================================================================
contract_type      month-to-month +1.1, one-year -0.2, two-year -1.1
plan               basic +0.15, standard 0, premium -0.15
tenure_months      -0.35 per e-fold of (1 + tenure): new customers leave, loyal ones stay
monthly_charges    +0.015 per currency unit above 60
support_tickets    +5 per expected ticket/day above 0.06, +0.3 per ticket/day this period
usage_minutes      -0.9 per e-fold of expected usage (low usage raises churn)
sessions           -0.25 per e-fold of expected sessions
failed_payments    +12 per expected failure/day above 0.01, +0.6 per failure/day this period
=================  =========================================================================

The intercept is calibrated so that the given share of label observations ends in churn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DAYS_PER_MONTH = 30.4375
PLAN_PRICE = (29.99, 59.99, 99.99)
"""Monthly list price per plan (basic, standard, premium)."""
CONTRACT_PRICE_FACTOR = (1.0, 0.95, 0.9)
"""Commitment discount per contract (month-to-month, one year, two years)."""
PLAN_USAGE_MINUTES_PER_DAY = (90.0, 150.0, 240.0)
"""Usage of a customer of average engagement, per plan."""
SESSIONS_PER_DAY = 6.0
"""Sessions of a customer of average engagement."""
_PLAN_ENGAGEMENT = (0.85, 1.0, 1.2)
_PLAN_SHARES = (0.45, 0.37, 0.18)

CONTRACT_EFFECT = (1.1, -0.2, -1.1)
PLAN_EFFECT = (0.15, 0.0, -0.15)
_LOG_13 = math.log(13.0)


@dataclass(slots=True)
class Customer:
    """One customer's account and latent habits (mutable: tenure grows, labels are counted)."""

    number: int
    tenure_days: float
    plan: int
    contract: int
    price_factor: float
    engagement: float
    """Multiplier of usage and sessions (mean about 1)."""
    ticket_rate: float
    """Expected support tickets per day."""
    payment_risk: float
    """Expected failed payments per day."""
    move_draw: float
    """Fixed uniform draw: a categorical covariate drift of share s moves this customer when
    the draw is below s, so a growing share keeps moving the same customers."""
    observed_periods: int
    """Periods since the customer's current label observation began."""

    @property
    def customer_id(self) -> str:
        """The id on the wire, ``C-000042``."""
        return f"C-{self.number:06d}"


def draw_customers(
    rng: np.random.Generator,
    count: int,
    *,
    first_number: int,
    label_horizon: int,
) -> list[Customer]:
    """``count`` customers numbered from ``first_number``: tenures of up to seven years, and
    label observations already under way at staggered points (so labels are spread out in
    time, not all due in the same period)."""
    tenure_months = np.minimum(rng.exponential(22.0, count), 84.0)
    observed = rng.integers(0, label_horizon, count)
    loyalty = np.minimum(tenure_months / 60.0, 1.0)
    plan = rng.choice(3, size=count, p=_PLAN_SHARES)
    # Long-standing customers are more often on long contracts.
    p_month = 0.7 - 0.45 * loyalty
    p_year = 0.2 + 0.15 * loyalty
    u_contract = rng.random(count)
    contract = np.where(u_contract < p_month, 0, np.where(u_contract < p_month + p_year, 1, 2))
    price_factor = np.clip(rng.normal(1.0, 0.08, count), 0.75, 1.35)
    engagement = rng.lognormal(-0.1, 0.45, count) * np.take(_PLAN_ENGAGEMENT, plan)
    ticket_rate = rng.gamma(2.0, 0.03, count)
    risky = rng.random(count) < 0.12
    payment_risk = np.where(risky, rng.uniform(0.02, 0.08, count), rng.uniform(0.0, 0.006, count))
    move_draw = rng.random(count)
    columns = zip(
        (tenure_months * DAYS_PER_MONTH).tolist(),
        plan.tolist(),
        contract.tolist(),
        price_factor.tolist(),
        engagement.tolist(),
        ticket_rate.tolist(),
        payment_risk.tolist(),
        move_draw.tolist(),
        observed.tolist(),
        strict=True,
    )
    return [Customer(first_number + i, *values) for i, values in enumerate(columns)]


def monthly_charges(plan: int, contract: int, price_factor: float) -> float:
    """The bill follows the plan (and the contract's discount), with a per-customer factor for
    add-ons and promotions."""
    return PLAN_PRICE[plan] * CONTRACT_PRICE_FACTOR[contract] * price_factor


@dataclass(frozen=True, slots=True)
class ChurnInputs:
    """What the churn model looks at for one customer in one period (after covariate drift)."""

    contract: int
    plan: int
    tenure_months: float
    monthly_charges: float
    usage_per_day: float
    """Expected usage minutes per day."""
    sessions_per_day: float
    """Expected sessions per day."""
    ticket_rate: float
    tickets_per_day: float
    """Tickets opened this period, per day."""
    payment_risk: float
    failures_per_day: float
    """Failed payments this period, per day."""


def churn_terms(inputs: ChurnInputs) -> dict[str, float]:
    """Each feature's contribution to the churn log-odds (before concept drift)."""
    return {
        "contract_type": CONTRACT_EFFECT[inputs.contract],
        "plan": PLAN_EFFECT[inputs.plan],
        "tenure_months": -0.35 * (math.log1p(inputs.tenure_months) - _LOG_13),
        "monthly_charges": 0.015 * (inputs.monthly_charges - 60.0),
        "support_tickets": 5.0 * (inputs.ticket_rate - 0.06) + 0.3 * inputs.tickets_per_day,
        "usage_minutes": -0.9 * math.log((inputs.usage_per_day + 10.0) / 160.0),
        "sessions": -0.25 * math.log((inputs.sessions_per_day + 1.0) / 7.0),
        "failed_payments": 12.0 * (inputs.payment_risk - 0.01) + 0.6 * inputs.failures_per_day,
    }


def expected_inputs(customer: Customer) -> ChurnInputs:
    """The churn inputs of a customer with this period's counts at their expectation."""
    plan, contract = customer.plan, customer.contract
    return ChurnInputs(
        contract=contract,
        plan=plan,
        tenure_months=customer.tenure_days / DAYS_PER_MONTH,
        monthly_charges=monthly_charges(plan, contract, customer.price_factor),
        usage_per_day=customer.engagement * PLAN_USAGE_MINUTES_PER_DAY[plan],
        sessions_per_day=customer.engagement * SESSIONS_PER_DAY,
        ticket_rate=customer.ticket_rate,
        tickets_per_day=customer.ticket_rate,
        payment_risk=customer.payment_risk,
        failures_per_day=customer.payment_risk,
    )


def calibrate_intercept(
    customers: list[Customer],
    *,
    churn_rate: float,
    horizon: int,
    weights: Mapping[str, float] | None = None,
) -> float:
    """The intercept for which ``churn_rate`` of the customers churn within ``horizon`` periods
    (on average over the population, at expected activity), with each churn term's effect
    multiplied by its ``weights`` entry (a concept drift; 1 when absent)."""
    if not 0.0 < churn_rate < 1.0:
        raise ValueError("churn_rate must be between 0 and 1 (exclusive)")
    weights = weights or {}
    scores = np.array(
        [
            sum(
                weights.get(term, 1.0) * value
                for term, value in churn_terms(expected_inputs(c)).items()
            )
            for c in customers
        ]
    )
    low, high = -20.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2.0
        hazard = 1.0 / (1.0 + np.exp(-(middle + scores)))
        churned = 1.0 - np.power(1.0 - hazard, horizon)
        if float(churned.mean()) < churn_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def poisson_quantile(u: float, mean: float) -> int:
    """The Poisson(mean) count at probability ``u``: inverse-CDF sampling, so a drift that changes
    the mean moves the same customers' counts instead of consuming other random numbers."""
    if mean <= 0.0:
        return 0
    if mean > 60.0:  # normal approximation, accurate well within what this simulation needs
        z = math.sqrt(2.0) * _erfinv(2.0 * min(max(u, 1e-12), 1 - 1e-12) - 1.0)
        return max(0, round(mean + math.sqrt(mean) * z))
    probability = math.exp(-mean)
    cumulative = probability
    count = 0
    while u > cumulative and count < 10_000:
        count += 1
        probability *= mean / count
        cumulative += probability
    return count


def _erfinv(y: float) -> float:
    # Winitzki's approximation refined by two Newton steps on math.erf.
    a = 0.147
    ln = math.log(1.0 - y * y)
    first = 2.0 / (math.pi * a) + ln / 2.0
    x = math.copysign(math.sqrt(math.sqrt(first * first - ln / a) - first), y)
    for _ in range(2):
        x -= (math.erf(x) - y) / (2.0 / math.sqrt(math.pi) * math.exp(-x * x))
    return x
