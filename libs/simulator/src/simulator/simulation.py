"""The simulated churn business as a stream of ingest records: pure, seeded, no I/O.

Time is *event time*. Every activity record covers one activity period of a customer
(``period``, one day by default) whatever the spacing of the records in event time:

- :meth:`Simulation.history` spreads the periods over the past ``days`` (one round of every
  customer per period, records in time order), for backfills and offline data sets;
- :meth:`Simulation.live` stamps each record with the clock's ``now`` when it is pulled, so a
  rate-limited consumer decides the pace; nothing is ever stamped in the future.

Labels: each customer is watched over ``label_horizon`` periods. Churning ends the observation
with ``churned: true`` (the customer sends nothing more); surviving it ends it with
``churned: false`` (and a new observation starts). The label's
``observed_at`` is the deciding record's time plus ``label_delay``; it is emitted once the
stream's event time reaches that moment, in history and live phases alike.

The panel is in steady state: a churned customer's place is taken, from the next round, by a
new customer (a new id, a fresh label observation) with the same profile: plan, contract,
tenure and habits. So the customer mix never drifts by itself, however long a run lasts (with
real newcomers, churn would keep enriching the panel in loyal customers: a slow covariate drift
a drift detector would rightly flag); only the drifts one injects change it.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np

from simulator.drift import DriftSchedule, DriftSpec
from simulator.population import (
    DAYS_PER_MONTH,
    PLAN_USAGE_MINUTES_PER_DAY,
    SESSIONS_PER_DAY,
    ChurnInputs,
    Customer,
    calibrate_intercept,
    churn_terms,
    draw_customers,
    monthly_charges,
    poisson_quantile,
)
from simulator.records import (
    CONTRACT_TYPES,
    PLANS,
    ActivityRecord,
    LabelRecord,
    Record,
    format_time,
    parse_time,
)

_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Mean-one lognormal noise on usage: exp(sigma * z - sigma^2 / 2).
_USAGE_SIGMA = 0.35
_MINUTES_PER_DAY = 1440.0


KEPT_ROUNDS = 11
"""Rounds whose newcomers a simulation remembers (:meth:`Simulation.known_customer_ids`)."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """The business being simulated. Same config and seed: same customers, same records."""

    customers: int = 1000
    """Customers at any time (a churned customer is replaced by a lookalike newcomer)."""
    seed: int = 0
    """Seed of every random draw."""
    period: timedelta = timedelta(days=1)
    """Activity covered by one activity record (usage, sessions, tickets, failed payments)."""
    label_horizon: int = 7
    """Periods a customer is watched before a ``churned: false`` label."""
    label_delay: timedelta = timedelta(seconds=30)
    """Event time between the record that decides an outcome and the label that reports it."""
    churn_rate: float = 0.2
    """Target share of label observations that end in churn (calibrates the churn model)."""
    run_id: str | None = None
    """Makes record ids unique to a run: ``sim-<run_id>-a000000001``; default ``s<seed>``.
    Ingest is idempotent on record ids, so two runs must not share one unless a resend is
    meant."""

    def __post_init__(self) -> None:
        if self.customers < 1:
            raise ValueError("customers must be at least 1")
        if self.period <= timedelta(0):
            raise ValueError("period must be positive")
        if self.period > timedelta(days=31):
            raise ValueError("period can be at most 31 days (usage_minutes is capped at 44640)")
        if self.label_horizon < 1:
            raise ValueError("label_horizon must be at least 1 period")
        if self.label_delay < timedelta(0):
            raise ValueError("label_delay cannot be negative")
        if not 0.0 < self.churn_rate < 1.0:
            raise ValueError("churn_rate must be between 0 and 1 (exclusive)")
        if self.run_id is not None and _RUN_ID.match(self.run_id) is None:
            raise ValueError("run_id: 1 to 64 characters among letters, digits, '.', '_', '-'")

    @property
    def record_prefix(self) -> str:
        """Prefix of every record id of this run."""
        return f"sim-{self.run_id if self.run_id is not None else f's{self.seed}'}"


@dataclass(slots=True)
class SimulationStats:
    """What the simulation has produced so far (ground truth for progress lines and tests)."""

    activity: int = 0
    labels: int = 0
    churned_labels: int = 0
    churned: int = 0
    """Customers who churned (their labels may still be pending)."""
    joined: int = 0
    """Newcomers who took the place of churned customers."""


@dataclass(slots=True)
class _Round:
    """One period of every customer: visiting order and the random draws, made up front so
    the random stream does not depend on timing or drift (common random numbers)."""

    order: list[int]
    offsets: list[float]
    usage_z: list[float]
    sessions_u: list[float]
    tickets_u: list[float]
    failures_u: list[float]
    churn_u: list[float]
    position: int = 0

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.order)


@dataclass(order=True, slots=True)
class _PendingLabel:
    due: datetime
    sequence: int
    customer_id: str = field(compare=False)
    churned: bool = field(compare=False)
    decided_at: datetime = field(compare=False)


class Simulation:
    """A seeded churn business producing ingest records; run phases one after the other
    (e.g. :meth:`history` to backfill, then :meth:`live`), the state carries over."""

    def __init__(self, config: SimulationConfig | None = None) -> None:
        self.config = config if config is not None else SimulationConfig()
        population_seed, activity_seed = np.random.SeedSequence(self.config.seed).spawn(2)
        self._activity_rng = np.random.default_rng(activity_seed)
        self._customers: list[Customer] = draw_customers(
            np.random.default_rng(population_seed),
            self.config.customers,
            first_number=1,
            label_horizon=self.config.label_horizon,
        )
        self._next_number = self.config.customers + 1
        self._round_newcomers_from: deque[int] = deque(
            [self._next_number] * KEPT_ROUNDS, maxlen=KEPT_ROUNDS
        )
        """The first number of the newcomers of each of the last rounds, oldest first
        (see :meth:`known_customer_ids`)."""
        self._churned_slots: list[int] = []
        self.intercept = calibrate_intercept(
            self._customers,
            churn_rate=self.config.churn_rate,
            horizon=self.config.label_horizon,
        )
        """Churn log-odds of a customer whose terms are all zero (calibrated)."""
        self._concept_intercepts: dict[tuple[tuple[str, float], ...], float] = {}
        self._period_days = self.config.period.total_seconds() / 86400.0
        self._pending: list[_PendingLabel] = []
        self._label_sequence = 0
        self._round: _Round | None = None
        self._activity_ids = 0
        self._label_ids = 0
        self._schedule = DriftSchedule()
        self._phase_start = datetime.fromtimestamp(0, UTC)
        self._phase_records = 0
        self.stats = SimulationStats()
        self.phase_progress = 0.0
        """Share of the current history phase produced (0..1; stays 0 in a live phase)."""

    # ---------------------------------------------------------------------------- phases

    def history(
        self, *, days: float, end: datetime, drifts: Sequence[DriftSpec] = ()
    ) -> Iterator[Record]:
        """``days`` of past activity ending at ``end`` (exclusive), in time order, with every
        label due by ``end``. One round of all customers per period (at least one round)."""
        if not days > 0:
            raise ValueError("days must be positive")
        if end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        return self._history(days, end, drifts)

    def _history(self, days: float, end: datetime, drifts: Sequence[DriftSpec]) -> Iterator[Record]:
        rounds = max(1, round(days / self._period_days))
        span = timedelta(days=days)
        round_length = span / rounds
        start = end - span
        self._begin_phase(start, drifts)
        for index in range(rounds):
            self._round = self._next_round()
            round_start = start + index * round_length
            for offset in self._round.offsets:
                at = round_start + offset * round_length
                yield from self._due_labels(at)
                yield self._activity(at)
            self.phase_progress = (index + 1) / rounds
        yield from self._due_labels(end)

    def live(
        self, clock: Callable[[], datetime], *, drifts: Sequence[DriftSpec] = ()
    ) -> Iterator[Record]:
        """An endless stream stamped with ``clock()`` at each pull: a due label when there is
        one, else the next customer's activity. Pull it at the pace you want records."""
        return self._live(clock, drifts)

    def _live(self, clock: Callable[[], datetime], drifts: Sequence[DriftSpec]) -> Iterator[Record]:
        self._begin_phase(clock(), drifts)
        self.phase_progress = 0.0
        while True:
            now = clock()
            if self._pending and self._pending[0].due <= now:
                yield self._label(heapq.heappop(self._pending))
                continue
            if self._round is None or self._round.exhausted:
                self._round = self._next_round()
            yield self._activity(now)

    # ------------------------------------------------------------------------ inspection

    @property
    def pending_labels(self) -> int:
        """Labels decided but not yet due."""
        return len(self._pending)

    @property
    def drifts(self) -> DriftSchedule:
        """The drifts of the current phase and their levels."""
        return self._schedule

    def drift_started_at(self, index: int) -> datetime | None:
        """Event time at which the current phase's drift ``index`` started (None: not yet)."""
        if index >= len(self._schedule.started):  # the phase has not begun
            return None
        started = self._schedule.started[index]
        return None if started is None else self._phase_start + timedelta(seconds=started[0])

    # --------------------------------------------------------------------------- internals

    def _begin_phase(self, start: datetime, drifts: Sequence[DriftSpec]) -> None:
        self._schedule = DriftSchedule(drifts)
        self._phase_start = start
        self._phase_records = 0

    def known_customer_ids(self, settled_rounds: int = 2) -> list[str]:
        """The panel's customers whose first record is ``settled_rounds`` whole rounds
        (periods) old or more, so the stores downstream know them, even behind a lagging
        feature pipeline. A live client asks for predictions about these (a newcomer's
        first record may not have reached the feature store yet; a churned customer's place
        is someone else's)."""
        if not 0 <= settled_rounds < KEPT_ROUNDS:
            raise ValueError(f"settled_rounds must be between 0 and {KEPT_ROUNDS - 1}")
        settled_below = self._round_newcomers_from[-1 - settled_rounds]
        return [c.customer_id for c in self._customers if c.number < settled_below]

    def _next_round(self) -> _Round:
        self._round_newcomers_from.append(self._next_number)
        for slot in sorted(self._churned_slots):
            self._customers[slot] = replace(
                self._customers[slot], number=self._next_number, observed_periods=0
            )
            self._next_number += 1
        self.stats.joined += len(self._churned_slots)
        self._churned_slots.clear()
        size = len(self._customers)
        rng = self._activity_rng
        order = rng.permutation(size)
        offsets = np.sort(rng.random(size))
        usage_z = rng.standard_normal(size)
        uniforms = rng.random((4, size))
        return _Round(
            order=order.tolist(),
            offsets=offsets.tolist(),
            usage_z=usage_z.tolist(),
            sessions_u=uniforms[0].tolist(),
            tickets_u=uniforms[1].tolist(),
            failures_u=uniforms[2].tolist(),
            churn_u=uniforms[3].tolist(),
        )

    def _due_labels(self, now: datetime) -> Iterator[LabelRecord]:
        while self._pending and self._pending[0].due <= now:
            yield self._label(heapq.heappop(self._pending))

    def _label(self, pending: _PendingLabel) -> LabelRecord:
        self._label_ids += 1
        self.stats.labels += 1
        self.stats.churned_labels += pending.churned
        return {
            "kind": "label",
            "record_id": f"{self.config.record_prefix}-l{self._label_ids:09d}",
            "customer_id": pending.customer_id,
            "churned": pending.churned,
            "observed_at": format_time(pending.due),
            # The outcome is about the customer as of the deciding record: training must
            # not see the records a survivor sends between that and the label.
            "features_as_of": format_time(pending.decided_at),
        }

    def _activity(self, at: datetime) -> ActivityRecord:
        assert self._round is not None
        draws = self._round
        i = draws.position
        draws.position += 1
        slot = draws.order[i]
        customer = self._customers[slot]
        effects = self._schedule.effects(
            (at - self._phase_start).total_seconds(), self._phase_records
        )
        self._phase_records += 1

        plan, contract = customer.plan, customer.contract
        for feature, target, share in effects.moves:
            if feature == "plan":
                if customer.move_draw < share:
                    plan = target
            # A second, independent-looking draw so plan and contract moves hit different people.
            elif (customer.move_draw * 977.0) % 1.0 < share:
                contract = target

        days = self._period_days
        tenure_months = customer.tenure_days / DAYS_PER_MONTH * effects.scale_of("tenure_months")
        charges = monthly_charges(plan, contract, customer.price_factor) * effects.scale_of(
            "monthly_charges"
        )
        usage_per_day = (
            customer.engagement
            * PLAN_USAGE_MINUTES_PER_DAY[plan]
            * effects.scale_of("usage_minutes")
        )
        sessions_per_day = customer.engagement * SESSIONS_PER_DAY * effects.scale_of("sessions")
        ticket_rate = customer.ticket_rate * effects.scale_of("support_tickets")
        payment_risk = customer.payment_risk * effects.scale_of("failed_payments")

        noise = math.exp(_USAGE_SIGMA * draws.usage_z[i] - _USAGE_SIGMA**2 / 2.0)
        usage = min(usage_per_day * days * noise, days * _MINUTES_PER_DAY, 44_640.0)
        sessions = min(poisson_quantile(draws.sessions_u[i], sessions_per_day * days), 100_000)
        tickets = min(poisson_quantile(draws.tickets_u[i], ticket_rate * days), 1000)
        failures = min(poisson_quantile(draws.failures_u[i], payment_risk * days), 1000)
        tenure_months = min(tenure_months, 1200.0)
        charges = min(charges, 10_000.0)

        terms = churn_terms(
            ChurnInputs(
                contract=contract,
                plan=plan,
                tenure_months=tenure_months,
                monthly_charges=charges,
                usage_per_day=usage_per_day,
                sessions_per_day=sessions_per_day,
                ticket_rate=ticket_rate,
                tickets_per_day=tickets / days,
                payment_risk=payment_risk,
                failures_per_day=failures / days,
            )
        )
        logit = self._intercept_under(effects.weights) + sum(
            effects.weight_of(name) * value for name, value in terms.items()
        )
        churned = draws.churn_u[i] < 1.0 / (1.0 + math.exp(-min(max(logit, -50.0), 50.0)))

        self._activity_ids += 1
        self.stats.activity += 1
        record: ActivityRecord = {
            "kind": "activity",
            "record_id": f"{self.config.record_prefix}-a{self._activity_ids:09d}",
            "customer_id": customer.customer_id,
            "observed_at": format_time(at),
            "tenure_months": int(tenure_months),
            "plan": PLANS[plan].value,
            "contract_type": CONTRACT_TYPES[contract].value,
            "monthly_charges": round(charges, 2),
            "support_tickets": tickets,
            "usage_minutes": round(usage, 1),
            "sessions": sessions,
            "failed_payments": failures,
        }

        customer.tenure_days += days
        customer.observed_periods += 1
        if churned:
            self.stats.churned += 1
            self._churned_slots.append(slot)
            self._schedule_label(customer.customer_id, at, churned=True)
        elif customer.observed_periods >= self.config.label_horizon:
            customer.observed_periods = 0
            self._schedule_label(customer.customer_id, at, churned=False)
        return record

    def _intercept_under(self, weights: dict[str, float]) -> float:
        """The churn intercept under a concept drift's term ``weights``: recalibrated so the
        business keeps its churn rate. A concept drift changes *who* churns, not how many:
        with more churn, more of the panel would be newcomers with short histories, and the
        windowed features would drift too (not a concept drift any more)."""
        if not weights:
            return self.intercept
        key = tuple(sorted((term, round(weight, 2)) for term, weight in weights.items()))
        intercept = self._concept_intercepts.get(key)
        if intercept is None:
            intercept = self._concept_intercepts[key] = calibrate_intercept(
                self._customers,
                churn_rate=self.config.churn_rate,
                horizon=self.config.label_horizon,
                weights=dict(key),
            )
        return intercept

    def _schedule_label(self, customer_id: str, decided_at: datetime, *, churned: bool) -> None:
        self._label_sequence += 1
        heapq.heappush(
            self._pending,
            _PendingLabel(
                due=decided_at + self.config.label_delay,
                sequence=self._label_sequence,
                customer_id=customer_id,
                churned=churned,
                decided_at=decided_at,
            ),
        )


def generate_history(
    days: float,
    *,
    end: datetime | None = None,
    config: SimulationConfig | None = None,
    drifts: Sequence[DriftSpec] = (),
    day: timedelta = timedelta(days=1),
) -> Iterator[Record]:
    """``days`` of past records ending at ``end`` (default: now, UTC) of a fresh simulation;
    the one-call API for bootstrapping and benchmarks.

    ``day`` compresses event time: each business day of the history lasts ``day`` (the
    demo mesh's day is seconds long), while every record still covers a business day of
    activity. Record, label and ``features_as_of`` times are scaled towards ``end``."""
    end = end or datetime.now(UTC)
    simulation = Simulation(config)
    return compress_time(simulation.history(days=days, end=end, drifts=drifts), end=end, day=day)


def compress_time(records: Iterable[Record], *, end: datetime, day: timedelta) -> Iterator[Record]:
    """``records`` with each business day lasting ``day`` of event time: record, label and
    ``features_as_of`` times are scaled towards ``end`` (values unchanged)."""
    if day <= timedelta(0):
        raise ValueError("day must be positive")
    factor = day / timedelta(days=1)
    for record in records:
        if factor == 1:
            yield record
            continue
        scaled = dict(record)
        for name in ("observed_at", "features_as_of"):
            if name in scaled:
                moment = parse_time(str(scaled[name]))
                scaled[name] = format_time(end - (end - moment) * factor)
        yield cast(Record, scaled)
