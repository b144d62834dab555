"""The simulated business as pure data: determinism, the record contract, timing of labels,
and a churn process that depends on the features."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_contracts import CustomerActivityRecorded, LabelObserved
from simulator import FEATURES, ManualClock, Record, Simulation, SimulationConfig, generate_history
from simulator.population import ChurnInputs, churn_terms, poisson_quantile
from simulator.records import parse_time

END = datetime(2026, 3, 1, tzinfo=UTC)


def history(days: float = 7, **config: Any) -> list[Record]:
    return list(Simulation(SimulationConfig(**config)).history(days=days, end=END))


def churn_share_by(records: list[Record], feature: str) -> dict[str, tuple[float, int]]:
    """Share of churned labels per value of ``feature`` in the customer's latest activity."""
    latest: dict[str, dict[str, Any]] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        if record["kind"] == "activity":
            latest[record["customer_id"]] = dict(record)
        else:
            value = str(latest[record["customer_id"]][feature])
            counts[value][0] += record["churned"]
            counts[value][1] += 1
    return {value: (churned / total, total) for value, (churned, total) in counts.items()}


def test_same_seed_same_records_and_another_seed_others() -> None:
    first = history(customers=200, seed=7)
    assert first == history(customers=200, seed=7)
    assert first != history(customers=200, seed=8)


def test_live_stream_is_deterministic_for_the_same_clock() -> None:
    def run() -> list[Record]:
        clock = ManualClock()
        stream = Simulation(SimulationConfig(customers=50, seed=3)).live(clock.now)
        out = []
        for _ in range(500):
            clock.advance(0.05)
            out.append(next(stream))
        return out

    assert run() == run()


def test_every_record_meets_the_ingest_contract(
    record_check: Callable[[dict[str, Any]], list[str]],
) -> None:
    records = history(days=10, customers=300, seed=1, label_delay=timedelta(hours=2))
    assert {r["kind"] for r in records} == {"activity", "label"}
    for record in records:
        assert record_check(dict(record)) == [], record
        fields = {k: v for k, v in record.items() if k != "kind"}
        model = CustomerActivityRecorded if record["kind"] == "activity" else LabelObserved
        model.model_validate(fields)
    assert len({r["record_id"] for r in records}) == len(records)


def test_history_spreads_records_over_the_past_days_in_time_order() -> None:
    records = history(days=5, customers=100, seed=2)
    times = [parse_time(r["observed_at"]) for r in records]
    assert times == sorted(times)
    assert END - timedelta(days=5) <= times[0] < END - timedelta(days=4)
    assert END - timedelta(days=1) <= times[-1] <= END
    activity = [r for r in records if r["kind"] == "activity"]
    assert len(activity) == 5 * 100  # one record per customer per (one-day) period


def test_live_records_are_stamped_now_and_never_in_the_future() -> None:
    clock = ManualClock()
    stream = Simulation(SimulationConfig(customers=40, seed=4)).live(clock.now)
    for step in range(2000):
        clock.advance(0.01 * (step % 3))
        record = next(stream)
        assert parse_time(record["observed_at"]) <= clock.now()


@pytest.mark.parametrize("delay", [timedelta(hours=6), timedelta(seconds=0)])
def test_labels_arrive_after_the_configured_delay_in_history(delay: timedelta) -> None:
    records = history(days=14, customers=150, seed=5, label_delay=delay)
    decided: dict[str, set[datetime]] = defaultdict(set)
    previous_activity = END - timedelta(days=30)
    labels = 0
    for record in records:
        moment = parse_time(record["observed_at"])
        if record["kind"] == "activity":
            decided[record["customer_id"]].add(moment)
            previous_activity = moment
            continue
        labels += 1
        # The label is about a record of that customer exactly `delay` earlier ...
        assert moment - delay in decided[record["customer_id"]]
        # ... and is emitted once the stream's event time has reached it, not before.
        assert moment >= previous_activity
    assert labels > 100


def test_labels_in_live_mode_wait_for_the_clock() -> None:
    clock = ManualClock()
    config = SimulationConfig(customers=30, seed=6, label_delay=timedelta(seconds=5))
    stream = Simulation(config).live(clock.now)
    activity_at: dict[str, set[datetime]] = defaultdict(set)
    labels = []
    for _ in range(3000):
        clock.advance(0.01)
        record = next(stream)
        moment = parse_time(record["observed_at"])
        if record["kind"] == "activity":
            activity_at[record["customer_id"]].add(moment)
        else:
            labels.append(record)
            assert moment <= clock.now()
            assert moment - timedelta(seconds=5) in activity_at[record["customer_id"]]
    assert labels
    assert min(parse_time(label["observed_at"]) for label in labels) >= ManualClock().now() + (
        timedelta(seconds=5)
    )


def test_both_outcomes_occur_near_the_configured_churn_rate() -> None:
    records = history(days=21, customers=1000, seed=8, churn_rate=0.25)
    labels = [r for r in records if r["kind"] == "label"]
    share = sum(label["churned"] for label in labels) / len(labels)
    assert 0.15 < share < 0.35


def test_month_to_month_churns_far_more_than_two_year_contracts() -> None:
    shares = churn_share_by(history(days=21, customers=2000, seed=9), "contract_type")
    month, n_month = shares["month_to_month"]
    two_year, n_two_year = shares["two_year"]
    assert min(n_month, n_two_year) > 500
    # True shares are about 0.35 vs 0.05; a 3-sigma band on each is under 0.03.
    assert month > 3 * two_year
    assert month - two_year > 0.15


def test_churn_terms_move_the_way_the_business_says() -> None:
    base = ChurnInputs(
        contract=1,
        plan=1,
        tenure_months=12,
        monthly_charges=60,
        usage_per_day=150,
        sessions_per_day=6,
        ticket_rate=0.06,
        tickets_per_day=0,
        payment_risk=0.01,
        failures_per_day=0,
    )

    def logit(**change: float) -> float:
        values = {**{k: getattr(base, k) for k in base.__slots__}, **change}
        return sum(churn_terms(ChurnInputs(**values)).values())

    assert set(churn_terms(base)) == set(FEATURES)
    assert logit(contract=0) > logit() > logit(contract=2)
    assert logit(tickets_per_day=2, ticket_rate=0.3) > logit()
    assert logit(failures_per_day=1, payment_risk=0.05) > logit()
    assert logit(usage_per_day=30) > logit() > logit(usage_per_day=400)
    assert logit(monthly_charges=110) > logit()
    assert logit(tenure_months=0) > logit() > logit(tenure_months=72)


def test_poisson_quantile_has_the_right_mean() -> None:
    uniforms = [(i + 0.5) / 4000 for i in range(4000)]
    for mean in (0.05, 3.0, 40.0, 250.0):
        sample = [poisson_quantile(u, mean) for u in uniforms]
        assert math.isclose(sum(sample) / len(sample), mean, rel_tol=0.02, abs_tol=0.01)


def test_generate_history_is_the_one_call_api() -> None:
    records = list(generate_history(3, end=END, config=SimulationConfig(customers=20, seed=1)))
    assert records == history(days=3, customers=20, seed=1)
    assert records[0]["record_id"] == "sim-s1-a000000001"


def test_run_id_makes_record_ids_unique_to_a_run() -> None:
    first = history(days=1, customers=5, run_id="demo-1")
    assert all(r["record_id"].startswith("sim-demo-1-") for r in first)
    with pytest.raises(ValueError, match="run_id"):
        SimulationConfig(run_id="has space")


def test_the_customer_mix_does_not_drift_by_itself() -> None:
    # 60 periods: most of the founding customers have churned and been replaced by then.
    simulation = Simulation(SimulationConfig(customers=500, seed=10))
    records = [r for r in simulation.history(days=60, end=END) if r["kind"] == "activity"]
    assert simulation.stats.joined > 500
    early, late = records[: 5 * 500], records[-5 * 500 :]
    for feature in ("tenure_months", "monthly_charges", "usage_minutes", "sessions"):
        before = sum(r[feature] for r in early) / len(early)
        after = sum(r[feature] for r in late) / len(late)
        # Tenure grows by one day per period (two months over 60 periods).
        allowance = 2.0 if feature == "tenure_months" else 0.0
        assert after == pytest.approx(before + allowance, rel=0.05), feature
    for contract in ("month_to_month", "two_year"):
        share_before = sum(r["contract_type"] == contract for r in early) / len(early)
        share_after = sum(r["contract_type"] == contract for r in late) / len(late)
        assert share_after == pytest.approx(share_before, abs=0.01), contract


def test_labels_point_at_the_deciding_record_not_the_later_ones() -> None:
    from datetime import datetime

    from simulator import SimulationConfig, generate_history

    records = list(generate_history(10, config=SimulationConfig(customers=200, seed=4)))
    activity_times: dict[str, set[str]] = {}
    for record in records:
        if record["kind"] == "activity":
            activity_times.setdefault(record["customer_id"], set()).add(record["observed_at"])
    labels = [r for r in records if r["kind"] == "label"]
    assert labels
    for label in labels:
        # The prediction point is one of the customer's own activity records...
        assert label["features_as_of"] in activity_times[label["customer_id"]]
        # ...and never after the label was observed.
        assert datetime.fromisoformat(label["features_as_of"]) <= datetime.fromisoformat(
            label["observed_at"]
        )


def test_a_compressed_history_keeps_the_business_and_scales_event_time() -> None:
    end = datetime(2026, 3, 1, tzinfo=UTC)
    config = SimulationConfig(customers=40, seed=5)
    real = list(generate_history(10, end=end, config=config))
    compressed = list(generate_history(10, end=end, config=config, day=timedelta(seconds=6)))
    assert len(real) == len(compressed)
    for before, after in zip(real, compressed, strict=True):
        # The same records (values, ids), only their times moved towards the end.
        assert {k: v for k, v in before.items() if k not in ("observed_at", "features_as_of")} == {
            k: v for k, v in after.items() if k not in ("observed_at", "features_as_of")
        }
        for name in ("observed_at", "features_as_of"):
            if name in before:
                gap = end - parse_time(str(before[name]))
                assert end - parse_time(str(after[name])) == pytest.approx(
                    gap * (6 / 86400), abs=timedelta(milliseconds=1)
                )
    times = [parse_time(str(r["observed_at"])) for r in compressed]
    assert min(times) >= end - 10 * timedelta(seconds=6)


@pytest.mark.parametrize("rounds", [2, 5])
def test_known_customers_are_the_panel_minus_the_newest_arrivals(rounds: int) -> None:
    simulation = Simulation(SimulationConfig(customers=300, seed=12))
    assert len(simulation.known_customer_ids(rounds)) == 300  # the founding panel
    records = [r for r in simulation.history(days=20, end=END) if r["kind"] == "activity"]
    by_customer: dict[str, list[str]] = defaultdict(list)
    for record in records:
        by_customer[record["customer_id"]].append(record["observed_at"])
    last_round = records[-300:]
    earlier_round = records[-300 * (rounds + 1) : -300 * rounds]
    in_panel = {r["customer_id"] for r in last_round}
    known = simulation.known_customer_ids(rounds)
    assert simulation.stats.joined > 0
    assert set(known) <= in_panel  # nobody who churned and was replaced
    # Everyone known sent a record `rounds` whole rounds before the last one began: the
    # stores know them however slow they are (up to that many rounds behind).
    earlier_round_start = min(r["observed_at"] for r in earlier_round)
    assert all(min(by_customer[c]) < earlier_round_start for c in known)
    # Only the newest arrivals are left out (their first record is in the last rounds + 1
    # rounds), nobody else.
    newcomers = {c for c in in_panel if min(by_customer[c]) >= earlier_round_start}
    assert newcomers
    assert set(known) == in_panel - newcomers
