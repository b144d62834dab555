"""`mlops project init` and `mlops project check`, as a user runs them."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from mesh.cli import main
from mlops_projects import read_project


def test_init_writes_a_project_file_that_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "loans.csv"
    rows = [
        f"L{i},{20 + i % 50},{'rent' if i % 3 else 'own'},{'yes' if i % 5 == 0 else 'no'}"
        for i in range(50)
    ]
    table.write_text("loan_id,age,housing,defaulted\n" + "\n".join(rows) + "\n")
    folder = tmp_path / "projects" / "loans"
    argv = [
        "project",
        "init",
        "loans",
        "--from-csv",
        str(table),
        "--entity",
        "loan_id",
        "--label",
        "defaulted",
        "--out",
        str(folder),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "50 rows, 4 columns: entity loan_id, label defaulted (positive: yes), a snapshot" in out
    assert any(line.split()[:3] == ["housing", "field", "categorical"] for line in out.splitlines())
    project = read_project(folder)
    assert [f.name for f in project.features] == ["age", "housing"]  # written out to edit
    assert main(argv) == 1  # never overwrites by surprise
    assert "exists (--force overwrites it)" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert main(["project", "check", str(folder)]) == 0
    assert "project loans is valid: 2 fields, 2 features" in capsys.readouterr().out


def test_init_says_why_a_table_cannot_make_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("id,x\n1,2\n")
    argv = [
        "project",
        "init",
        "p",
        "--from-csv",
        str(table),
        "--entity",
        "id",
        "--label",
        "y",
        "--out",
        str(tmp_path / "p"),
    ]
    assert main(argv) == 2
    assert "no column 'y' (--label); the columns are: id, x" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_check_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "project.yaml").write_text(
        "name: p\nentity: {key: id}\nfields: {x: {type: numbr}}\nlabel: {field: y}\nextra: 1\n"
    )
    assert main(["project", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    for problem in ("fields.x.type:", "label.positive: is required", "extra: unknown key"):
        assert problem in err


@pytest.mark.connected
def test_apply_versions_a_project_on_the_broker_and_refuses_a_change_of_inputs(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"loans-{uuid.uuid4().hex[:6]}"
    file = tmp_path / "project.yaml"
    base = (
        f"name: {name}\nentity: {{key: loan_id}}\n"
        "fields: {age: {type: integer}, housing: {type: categorical, values: [own, rent]}}\n"
        "label: {field: defaulted, positive: 'yes'}\n"
    )
    apply = ["project", "apply", str(tmp_path), "--broker", kafka_bootstrap]

    file.write_text(base)
    assert main(apply) == 0
    assert f"project {name} created as version 1" in capsys.readouterr().out
    assert main(apply) == 0
    assert "is unchanged (version 1); nothing applied" in capsys.readouterr().out

    file.write_text(base + "gate: {min_margin: 0.01}\nmonitoring: {drift_share: 0.3}\n")
    assert main(apply) == 0
    out = capsys.readouterr().out
    assert f"project {name} updated to version 2 (gate, monitoring changed)" in out

    file.write_text(base.replace("[own, rent]", "[own, rent, other]"))
    assert main(apply) == 3
    err = capsys.readouterr().err
    assert "refused" in err
    assert "feature housing: values ['own', 'rent'] -> ['own', 'rent', 'other']" in err

    file.write_text(base.replace("integer", "int"))
    assert main(apply) == 2
    assert "fields.age.type" in capsys.readouterr().err

    assert main(["project", "list", "--broker", kafka_bootstrap]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [name, "2", "2"] in [row[:3] for row in listed]


def test_apply_says_when_the_mesh_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["project", "list", "--broker", f"127.0.0.1:{port}"]) == 1
    assert f"cannot reach the mesh at 127.0.0.1:{port}" in capsys.readouterr().err


def test_check_with_data_reports_each_rejected_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "project.yaml").write_text(
        "name: p\nentity: {key: id}\nfields: {x: {type: numeric}}\n"
        "label: {field: y, positive: '1'}\n"
    )
    table = tmp_path / "t.csv"
    table.write_text("id,x,y\na,1.5,1\nb,oops,0\nc,2,\n")
    assert main(["project", "check", str(tmp_path), "--data", str(table)]) == 2
    captured = capsys.readouterr()
    assert f"{table}: 3 rows: 2 accepted (1 with a label, 1 positive), 1 rejected" in captured.out
    assert "line 3: x: 'oops' is not a number" in captured.err
    table.write_text("id,x,y\na,1.5,1\n")
    assert main(["project", "check", str(tmp_path), "--data", str(table)]) == 0
    table.write_text("id,y\na,1\n")
    assert main(["project", "check", str(tmp_path), "--data", str(table)]) == 2
    assert "no column x (the project's fields)" in capsys.readouterr().err
