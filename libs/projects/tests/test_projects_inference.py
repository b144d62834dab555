"""`project init`'s inference: the types a table's columns fit, and what it cannot infer."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from mlops_projects import InferenceError, infer_project, parse_project, render_project


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def table(tmp_path: Path) -> Path:
    header = [
        "applicant id",
        "age",
        "income",
        "employment",
        "owns home",
        "note",
        "empty",
        "defaulted",
        "applied",
    ]
    rows = [
        [
            f"A{i}",
            18 + i % 60,
            "" if i % 7 == 0 else f"{1000 + 37.5 * i:.2f}",
            ["salaried", "self", "none"][i % 3],
            ["yes", "no"][i % 2],
            f"free text {i}",
            "",
            "bad" if i % 4 == 0 else "good",
            f"2024-01-{1 + i % 28:02d}T10:00:00",
        ]
        for i in range(120)
    ]
    return write_csv(tmp_path / "applications.csv", header, rows)


def test_each_column_gets_the_type_all_its_values_fit(table: Path) -> None:
    inference = infer_project(
        "credit", table, entity="applicant id", label="defaulted", time="applied"
    )
    project = inference.project
    assert project.entity.key == "applicant_id"
    assert project.entity.column == "applicant id"
    assert project.time_column == "applied"
    fields = project.fields
    assert list(fields) == ["age", "income", "employment", "owns_home"]
    assert fields["age"].type == "integer"
    assert fields["age"].required
    assert fields["income"].type == "numeric"
    assert not fields["income"].required
    assert fields["employment"].values == ("none", "salaried", "self")  # "none" is a value
    assert fields["owns_home"].type == "boolean"
    assert fields["owns_home"].column == "owns home"
    assert project.label.positive == "bad"
    assert project.label.negative == "good"
    left_out = {c.header: c.kind for c in inference.columns if c.role == "left out"}
    assert left_out == {"note": "identifier-like (120 values)", "empty": "every value empty"}
    assert any("guessed as 'bad'" in note for note in inference.notes)
    assert any("label.delay is 0" in note for note in inference.notes)
    assert parse_project(render_project(project)) == project


def test_a_truthy_label_value_is_the_positive_class(tmp_path: Path) -> None:
    rows = [[i, i % 5, "1" if i % 3 == 0 else "0"] for i in range(30)]
    table = write_csv(tmp_path / "t.csv", ["id", "x", "y"], rows)
    inference = infer_project("p", table, entity="id", label="y")
    assert inference.project.label.positive == "1"
    assert not any("guessed" in note for note in inference.notes)
    assert inference.project.time_column is None


def test_a_label_with_more_than_two_values_needs_a_positive_class(tmp_path: Path) -> None:
    rows = [[i, i % 5, ["low", "mid", "high"][i % 3]] for i in range(30)]
    table = write_csv(tmp_path / "t.csv", ["id", "x", "risk"], rows)
    with pytest.raises(InferenceError, match=r"has 3 distinct values .* pass --positive"):
        infer_project("p", table, entity="id", label="risk")
    inference = infer_project("p", table, entity="id", label="risk", positive="high")
    assert inference.project.label.positive == "high"
    assert inference.project.label.negative is None  # high against the rest
    assert inference.project.label.outcome("mid") is False
    with pytest.raises(InferenceError, match="--positive 'HIGH' is not a value"):
        infer_project("p", table, entity="id", label="risk", positive="HIGH")


def test_every_reason_a_table_cannot_make_a_project_at_once(tmp_path: Path) -> None:
    rows = [["", "x", "2024-13-01"], ["k2", "y", "2024-01-01"], ["k3", "x", "yesterday"]]
    table = write_csv(tmp_path / "t.csv", ["key", "label", "when"], rows)
    with pytest.raises(InferenceError) as caught:
        infer_project("p", table, entity="key", label="label", time="when")
    problems = caught.value.problems
    assert len(problems) == 2
    assert "empty on 1 rows (lines 2)" in problems[0]
    assert "not an ISO 8601 date or time on 2 rows (lines 2, 4)" in problems[1]
    with pytest.raises(InferenceError) as caught:
        infer_project("p", table, entity="id", label="y", time="when")
    assert [p.split(" (")[0] for p in caught.value.problems] == ["no column 'id'", "no column 'y'"]
    assert "the columns are: key, label, when" in caught.value.problems[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "is empty"),
        ("a,b,a\n1,2,3\n", "distinct, non-empty header (repeated: a)"),
        ("a,b\n1,2\n3\n", "1 rows do not have 2 cells (lines 3)"),
        ("a,b\n", "a header but no rows"),
    ],
)
def test_a_malformed_csv_is_a_clear_error(tmp_path: Path, content: str, problem: str) -> None:
    table = tmp_path / "t.csv"
    table.write_text(content)
    with pytest.raises(InferenceError, match=re.escape(problem)):
        infer_project("p", table, entity="a", label="b")


def test_a_table_with_only_its_key_and_label_has_nothing_to_learn_from(tmp_path: Path) -> None:
    table = write_csv(tmp_path / "t.csv", ["id", "y"], [[i, i % 2] for i in range(10)])
    with pytest.raises(InferenceError, match="no column is left to be a feature"):
        infer_project("p", table, entity="id", label="y")


def test_a_header_spelled_like_an_earlier_fields_name_gets_its_own(tmp_path: Path) -> None:
    rows = [[i, i % 3, i % 5, i % 2] for i in range(30)]
    table = write_csv(tmp_path / "t.csv", ["id", "a b", "a_b", "y"], rows)
    fields = infer_project("p", table, entity="id", label="y").project.fields
    assert {name: spec.column for name, spec in fields.items()} == {"a_b": "a b", "a_b_2": "a_b"}
