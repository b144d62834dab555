"""`mlops project init` and `mlops project check`, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlops_projects import read_project

from mesh.cli import main


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
