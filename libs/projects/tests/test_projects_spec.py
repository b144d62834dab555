"""The project file: every field's default, every problem at once, versions of inputs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mlops_contracts.projects import format_duration, parse_duration
from mlops_projects import ProjectFileError, parse_project, read_project, render_project

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

MINIMAL = """
name: credit
entity: {key: applicant}
fields:
  income: {type: numeric}
  employment: {type: categorical, values: [salaried, self, none]}
label: {field: defaulted, positive: yes}
"""


def test_a_minimal_file_gets_every_default() -> None:
    project = parse_project(MINIMAL)
    assert project.model_name == "credit"
    assert project.task == "binary_classification"
    assert [f.name for f in project.inputs] == ["income", "employment"]  # latest of each field
    assert project.label.positive == "true"  # YAML's `yes`: a boolean, in any spelling
    assert project.label.outcome("Yes")
    assert not project.label.outcome("no")
    assert project.model.hidden_sizes == (64, 32)
    assert project.gate.metric == "roc_auc"
    assert project.gate.holdout == timedelta(days=2)
    assert project.monitoring.drift_share == 0.15
    assert project.retraining.cooldown == timedelta(hours=1)


def test_a_rendered_project_reads_back_the_same() -> None:
    project = read_project(EXAMPLES / "churn")
    text = render_project(project, header=["a header"])
    assert text.startswith("# a header\n")
    assert parse_project(text) == project


def test_every_problem_is_reported_at_once_with_where_and_why() -> None:
    bad = """
name: Bad Name
entity: {key: applicant}
fields:
  employment: {type: categorical}
  income: {type: numbr}
  applicant: {type: numeric}
features:
  - {name: a, field: nope}
  - {name: b, field: employment, aggregate: sum, window: 7d}
  - {name: a, field: income, aggregate: mean}
label: {field: defaulted}
model: {epochs: 3}
monitoring: {window: soon, methods: {zzz: ks}}
"""
    with pytest.raises(ProjectFileError) as caught:
        parse_project(bad, source="bad.yaml")
    paths = [path for path, _ in caught.value.problems]
    assert paths == [
        "model.epochs",
        "fields.applicant",
        "features[0].field",
        "features[1].aggregate",
        "features[1].window",
        "features[2].name",
        "features[2].window",
        "monitoring.methods.zzz",
        "name",
        "fields.employment",
        "fields.income.type",
        "features[2]",
        "label.positive",
        "monitoring.window",
    ]
    reasons = dict(caught.value.problems)
    assert reasons["model.epochs"] == "unknown key (a typo?)"
    assert reasons["features[0].field"].startswith("no record field nope")
    assert "windows need a history" in reasons["features[1].window"]
    assert str(caught.value).startswith("bad.yaml: 14 problems\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "a project file is a YAML mapping"),
        ("name: [unclosed", "not YAML"),
    ],
)
def test_what_is_not_a_project_mapping_is_one_clear_problem(text: str, problem: str) -> None:
    with pytest.raises(ProjectFileError) as caught:
        parse_project(text)
    assert len(caught.value.problems) == 1
    assert problem in caught.value.problems[0][1]


def test_an_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "project.yaml").write_bytes(b"\xff\xfe name")
    with pytest.raises(ProjectFileError, match="cannot read it"):
        read_project(tmp_path)
    with pytest.raises(ProjectFileError, match="cannot read it"):
        read_project(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 2_592_000),
        ("12h", 43_200),
        ("90m", 5_400),
        ("45s", 45),
        ("2w", 1_209_600),
        ("1.5h", 5_400),
        (600, 600),
    ],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "30 days", "-1d", True, "9999999999d", float("inf")])
def test_what_is_not_a_duration(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=1_000_000.5), "1000000.5s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(days=7), "7d"),
        (timedelta(seconds=90), "90s"),
    ],
)
def test_a_duration_is_written_exactly(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_a_field_named_like_a_yaml_word_reads_back_as_itself() -> None:
    project = parse_project(
        "name: p\nentity: {key: id}\nfields: {'on': {type: boolean}, 'null': {type: numeric}}\n"
        "label: {field: y, positive: 'yes'}\n"
    )
    assert list(project.fields) == ["on", "null"]
    assert parse_project(render_project(project)) == project


def test_two_parts_reading_one_column_is_a_problem() -> None:
    with pytest.raises(ProjectFileError) as caught:
        parse_project(
            "name: p\nentity: {key: id}\nfields: {leak: {type: boolean, column: outcome}}\n"
            "label: {field: y, column: outcome, positive: 'yes'}\n"
        )
    assert caught.value.problems == (("fields.leak", "reads column 'outcome', which label reads"),)


def test_the_input_signature_moves_with_the_inputs_only() -> None:
    churn = read_project(EXAMPLES / "churn")
    stricter_gate = churn.model_copy(
        update={"gate": churn.gate.model_copy(update={"min_margin": 0.02})}
    )
    assert stricter_gate.signature_fingerprint() == churn.signature_fingerprint()
    assert stricter_gate.fingerprint() != churn.fingerprint()
    window = churn.inputs[4].model_copy(update={"window": timedelta(days=14)})
    longer = churn.model_copy(update={"features": (*churn.inputs[:4], window, *churn.inputs[5:])})
    assert longer.signature_fingerprint() != churn.signature_fingerprint()
    plans = churn.fields["plan"].model_copy(update={"values": ("basic", "premium")})
    fewer = churn.model_copy(update={"fields": {**churn.fields, "plan": plans}})
    assert fewer.signature_fingerprint() != churn.signature_fingerprint()


def test_feature_types_follow_their_aggregate() -> None:
    churn = read_project(EXAMPLES / "churn")
    types = {f.name: churn.feature_type(f) for f in churn.inputs}
    assert types["plan"] == "categorical"
    assert types["monthly_charges"] == "numeric"
    assert types["support_tickets_7d"] == "integer"  # a sum of integers
    assert types["records_30d"] == "integer"


def test_a_newer_releases_applied_project_is_still_read() -> None:
    from datetime import UTC, datetime

    from mlops_contracts import ProjectApplied

    churn = read_project(EXAMPLES / "churn")
    event = ProjectApplied.of(
        churn, version=4, applied_by="ops", applied_at=datetime(2026, 12, 7, tzinfo=UTC)
    ).model_dump(mode="json")
    event["project"]["gate"]["a_knob_of_a_later_release"] = 1  # a key this release lacks
    event["fingerprint"] = "0" * 64  # computed by a release whose defaults differ
    read = ProjectApplied.model_validate(event)
    assert read.project == churn
    assert read.version == 4


def test_a_numeric_label_value_is_its_spelling() -> None:
    project = parse_project(
        "name: p\nentity: {key: id}\nfields: {x: {type: numeric}}\n"
        "label: {field: y, positive: 1, negative: 0}\n"
    )
    assert (project.label.positive, project.label.negative) == ("1", "0")
    assert project.label.outcome("1") is True
