"""Drift knobs: the flag syntax, and what covariate and concept drift do to the records."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from simulator import (
    DriftKind,
    DriftSchedule,
    DriftSpec,
    ManualClock,
    Offset,
    Record,
    Simulation,
    SimulationConfig,
)
from simulator.records import ActivityRecord

END = datetime(2026, 3, 1, tzinfo=UTC)


def activity(
    drifts: tuple[DriftSpec, ...] = (), *, days: float = 5, customers: int = 1000, seed: int = 11
) -> list[ActivityRecord]:
    simulation = Simulation(SimulationConfig(customers=customers, seed=seed))
    records = simulation.history(days=days, end=END, drifts=drifts)
    return [r for r in records if r["kind"] == "activity"]


def churn_by_contract(records: list[Record]) -> dict[str, float]:
    latest: dict[str, str] = {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        if record["kind"] == "activity":
            latest[record["customer_id"]] = record["contract_type"]
        else:
            counts[latest[record["customer_id"]]][0] += record["churned"]
            counts[latest[record["customer_id"]]][1] += 1
    return {contract: churned / total for contract, (churned, total) in counts.items()}


# ------------------------------------------------------------------------------ syntax


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (
            "covariate:usage_minutes:-0.4:sudden:after=60s",
            "covariate:usage_minutes:-0.4:sudden:after=1m",
        ),
        (
            "covariate:usage_minutes,sessions:-40%",
            "covariate:usage_minutes,sessions:-0.4:sudden:after=0s",
        ),
        (
            "covariate:monthly_charges:+0.25:gradual=2m:after=5000rec",
            "covariate:monthly_charges:0.25:gradual=2m:after=5000rec",
        ),
        (
            "covariate:contract_type=month_to_month:0.3:after=30s",
            "covariate:contract_type=month_to_month:0.3:sudden:after=30s",
        ),
        ("concept:contract_type:flip:gradual", "concept:contract_type:-2:gradual=1m:after=0s"),
        (
            "CONCEPT:support_tickets:off:ramp=1000rec",
            "concept:support_tickets:-1:gradual=1000rec:after=0s",
        ),
    ],
)
def test_drift_flags_parse_and_print_back(text: str, canonical: str) -> None:
    spec = DriftSpec.parse(text)
    assert str(spec) == canonical
    assert DriftSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("covariate:usage_minutes", "expected KIND:FEATURES:MAGNITUDE"),
        ("sideways:usage_minutes:0.1", "unknown kind 'sideways'"),
        ("covariate:usage:0.1", "unknown feature 'usage'"),
        ("covariate:usage_minutes:lots", "invalid magnitude 'lots'"),
        ("covariate:usage_minutes:-1.5", "usage_minutes out of range: a relative change within"),
        ("covariate:usage_minutes:-100%", "covariate magnitude -1 of usage_minutes out of range"),
        ("covariate:sessions:1e308", "covariate magnitude 1e.308 of sessions out of range"),
        ("covariate:monthly_charges:100.5", "within .-0.99, 100."),
        ("covariate:usage_minutes:inf", "must be a finite number"),
        ("concept:support_tickets:10", "concept magnitude 10 out of range"),
        ("concept:support_tickets:-12", "effect multiplier 1 . magnitude stays within .-10, 10."),
        ("concept:tenure_months:1e308", "concept magnitude 1e.308 out of range"),
        ("covariate:plan:0.3", "plan=<basic|standard|premium>"),
        ("covariate:plan=gold:0.3", "unknown plan 'gold'"),
        ("covariate:plan=premium:1.5", "share of customers moved"),
        ("covariate:usage_minutes:-0.4:after=60", "use a duration (30s, 2m, 1d) or a count"),
        ("covariate:usage_minutes:-0.4:later", "unknown option 'later'"),
        ("concept:contract_type=two_year:flip", "unknown feature"),
    ],
)
def test_bad_drift_flags_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DriftSpec.parse(text)


def test_drift_magnitudes_at_their_bounds_are_accepted() -> None:
    assert DriftSpec.parse("covariate:usage_minutes:-99%").magnitude == pytest.approx(-0.99)
    assert DriftSpec.parse("covariate:sessions:100").magnitude == 100.0
    assert DriftSpec.parse("concept:support_tickets:9").magnitude == 9.0
    assert DriftSpec.parse("concept:support_tickets:-11").magnitude == -11.0


def test_python_api_validates_magnitudes_too() -> None:
    with pytest.raises(ValueError, match="out of range"):
        DriftSpec.covariate("sessions", 1e308)
    with pytest.raises(ValueError, match="out of range"):
        DriftSpec.concept("contract_type", 50.0)


def test_python_api_builds_the_same_specs_as_the_flags() -> None:
    assert DriftSpec.covariate("usage_minutes", -0.4, after="60s") == DriftSpec.parse(
        "covariate:usage_minutes:-0.4:after=60s"
    )
    spec = DriftSpec.concept(["contract_type"], "flip", after=Offset(records=500), ramp=120)
    assert spec.kind is DriftKind.CONCEPT
    assert spec.magnitude == -2.0
    assert spec.ramp == Offset(seconds=120.0)


def test_schedule_levels_sudden_gradual_and_mixed_units() -> None:
    schedule = DriftSchedule(
        [
            DriftSpec.parse("covariate:usage_minutes:-0.4:after=10s"),
            DriftSpec.parse("concept:support_tickets:off:gradual=100rec:after=20s"),
        ]
    )
    assert schedule.effects(9.9, 50).scale_of("usage_minutes") == 1.0
    effects = schedule.effects(10.0, 60)
    assert effects.scale_of("usage_minutes") == pytest.approx(0.6)
    assert effects.weight_of("support_tickets") == 1.0
    schedule.effects(20.0, 200)  # the concept drift starts at record 200 ...
    effects = schedule.effects(25.0, 250)  # ... and is half way 50 records later
    assert effects.weight_of("support_tickets") == pytest.approx(0.5)
    assert schedule.effects(99.0, 400).weight_of("support_tickets") == pytest.approx(0.0)
    assert schedule.levels == (1.0, 1.0)
    assert "concept:support_tickets 100%" in schedule.describe()


# ----------------------------------------------------------------------------- effects


def test_covariate_drift_moves_the_feature_by_its_magnitude_after_the_start_only() -> None:
    baseline = activity()
    drift = DriftSpec.parse("covariate:usage_minutes:-0.4:sudden:after=2000rec")
    drifted = activity((drift,))
    assert drifted[:2000] == baseline[:2000]
    ratio = mean(r["usage_minutes"] for r in drifted[2000:]) / mean(
        r["usage_minutes"] for r in baseline[2000:]
    )
    assert ratio == pytest.approx(0.6, abs=0.03)
    sessions = mean(r["sessions"] for r in drifted[2000:]) / mean(
        r["sessions"] for r in baseline[2000:]
    )
    assert sessions == pytest.approx(1.0, abs=0.03)  # only the chosen feature moves


def test_covariate_drift_on_counts_and_charges() -> None:
    baseline = activity()
    drifted = activity(
        (DriftSpec.parse("covariate:monthly_charges,support_tickets:+0.5:after=1000rec"),)
    )
    for feature in ("monthly_charges", "support_tickets"):
        before = mean(r[feature] for r in baseline[1000:])
        after = mean(r[feature] for r in drifted[1000:])
        assert after / before == pytest.approx(1.5, abs=0.08), feature


def test_gradual_drift_ramps_linearly() -> None:
    baseline = activity(days=4)
    drifted = activity((DriftSpec.parse("covariate:usage_minutes:-0.4:gradual=4000rec"),), days=4)

    def ratio(start: int, stop: int) -> float:
        return mean(r["usage_minutes"] for r in drifted[start:stop]) / mean(
            r["usage_minutes"] for r in baseline[start:stop]
        )

    assert ratio(0, 400) == pytest.approx(0.96, abs=0.03)  # level ~5 %
    assert ratio(1800, 2200) == pytest.approx(0.8, abs=0.03)  # level ~50 %
    assert ratio(3600, 4000) == pytest.approx(0.62, abs=0.03)  # level ~95 %


def test_drift_timed_in_seconds_in_a_live_stream() -> None:
    def run(drifts: tuple[DriftSpec, ...]) -> list[ActivityRecord]:
        clock = ManualClock()
        stream = Simulation(SimulationConfig(customers=200, seed=12)).live(clock.now, drifts=drifts)
        out: list[ActivityRecord] = []
        while clock.elapsed < 40:
            clock.advance(0.01)
            record = next(stream)
            if record["kind"] == "activity":
                out.append(record)
        return out

    baseline = run(())
    drifted = run((DriftSpec.parse("covariate:usage_minutes:-0.5:after=20s"),))
    split = next(i for i, r in enumerate(drifted) if r["observed_at"] >= "2026-01-01T00:00:20")
    assert drifted[:split] == baseline[:split]
    ratio = mean(r["usage_minutes"] for r in drifted[split:]) / mean(
        r["usage_minutes"] for r in baseline[split:]
    )
    assert ratio == pytest.approx(0.5, abs=0.04)


def test_categorical_covariate_drift_moves_that_share_of_customers() -> None:
    baseline = activity(days=2)
    drifted = activity((DriftSpec.parse("covariate:contract_type=month_to_month:0.5"),), days=2)

    def share(records: list[ActivityRecord]) -> float:
        return sum(r["contract_type"] == "month_to_month" for r in records) / len(records)

    before = share(baseline)
    assert share(drifted) == pytest.approx(before + 0.5 * (1 - before), abs=0.04)
    # Only the chosen feature moves: the first period's plans are the same customers' plans.
    assert [r["plan"] for r in drifted[:1000]] == [r["plan"] for r in baseline[:1000]]


def test_concept_drift_changes_who_churns_not_what_customers_look_like() -> None:
    config = SimulationConfig(customers=1500, seed=13)
    flip = (DriftSpec.parse("concept:contract_type:flip"),)
    baseline = list(Simulation(config).history(days=14, end=END))
    drifted = list(Simulation(config).history(days=14, end=END, drifts=flip))

    def first_round(records: list[Record]) -> list[ActivityRecord]:
        return [r for r in records if r["kind"] == "activity"][:1500]

    # The features of the first period are identical; only the outcomes differ.
    assert first_round(drifted) == first_round(baseline)
    before, after = churn_by_contract(baseline), churn_by_contract(drifted)
    assert before["month_to_month"] > before["two_year"] + 0.15
    assert after["two_year"] > after["month_to_month"] + 0.05


def test_concept_drift_keeps_the_churn_rate_so_the_panel_does_not_churn_faster() -> None:
    config = SimulationConfig(customers=1500, seed=13)
    flips = (DriftSpec.parse("concept:contract_type,support_tickets:flip"),)
    baseline, drifted = Simulation(config), Simulation(config)
    list(baseline.history(days=21, end=END))
    list(drifted.history(days=21, end=END, drifts=flips))
    # Who churns changed (above); how many did not: as many newcomers, so the windowed
    # features (sums over the last days) keep their distribution.
    assert drifted.stats.churned_labels == pytest.approx(baseline.stats.churned_labels, rel=0.1)
    assert drifted.stats.joined == pytest.approx(baseline.stats.joined, rel=0.1)


def test_concept_drift_can_switch_a_feature_off() -> None:
    schedule = DriftSchedule([DriftSpec.parse("concept:support_tickets,failed_payments:off")])
    effects = schedule.effects(0.0, 0)
    assert effects.weight_of("support_tickets") == 0.0
    assert effects.weight_of("failed_payments") == 0.0
    assert effects.weight_of("contract_type") == 1.0
    assert effects.scale == {}


def test_drifted_runs_are_deterministic() -> None:
    drifts = (
        DriftSpec.parse("covariate:usage_minutes:-0.3:gradual=500rec:after=200rec"),
        DriftSpec.parse("concept:contract_type:flip:after=1000rec"),
    )
    assert activity(drifts, days=2, customers=300) == activity(drifts, days=2, customers=300)


def test_history_timing_uses_event_time() -> None:
    start = END - timedelta(days=4)
    drift = DriftSpec.covariate("usage_minutes", -0.5, after=timedelta(days=2).total_seconds())
    records = activity((drift,), days=4, customers=300)
    baseline = activity(days=4, customers=300)
    pivot = (start + timedelta(days=2)).isoformat().replace("+00:00", "")
    split = next(i for i, r in enumerate(records) if r["observed_at"] >= pivot)
    assert records[:split] == baseline[:split]
    assert records[split]["usage_minutes"] == pytest.approx(
        baseline[split]["usage_minutes"] * 0.5, abs=0.1
    )


def test_a_drift_has_not_started_before_its_phase_has() -> None:
    simulation = Simulation(SimulationConfig(customers=20, seed=3))
    assert simulation.drift_started_at(0) is None  # no phase yet: not started, no error
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moment = [start]
    live = simulation.live(lambda: moment[0], drifts=[DriftSpec.parse("covariate:sessions:-0.5")])
    next(live)
    assert simulation.drift_started_at(0) == start
