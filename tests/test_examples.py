"""The bundled examples: their project files are what `mlops project init` makes of their
tables, and the income example's models learn from its real data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mesh.cli import main as mlops
from mlops_projects import read_project

ROOT = Path(__file__).resolve().parents[1]
INCOME = ROOT / "examples" / "income"


@pytest.fixture(scope="module")
def income_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = tmp_path_factory.mktemp("income") / "income.csv"
    result = subprocess.run(
        [sys.executable, str(INCOME / "prepare.py"), str(table)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"wrote 32561 rows to {table}" in result.stdout
    return table


def test_the_income_project_is_what_init_makes_of_the_census_table(
    income_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "project",
        "init",
        "income",
        "--from-csv",
        str(income_table),
        "--entity",
        "person_id",
        "--label",
        "loan",
        "--positive",
        ">50K",
        "--out",
        str(tmp_path),
    ]
    assert mlops(argv) == 0
    assert "32561 rows, 14 columns: entity person_id, label loan (positive: >50K)" in (
        capsys.readouterr().out
    )
    assert read_project(tmp_path) == read_project(INCOME)
    header = (INCOME / "project.yaml").read_text().splitlines()[0]
    assert header.startswith("# Model project income, written by `mlops project init`")


def test_the_mesh_network_and_its_peers_learn_the_income_label(income_table: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(INCOME / "compare_models.py"),
            "--table",
            str(income_table),
            "--rows",
            "4000",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    auc = {cells[0].strip(): float(cells[1]) for cells in rows[1:]}
    assert set(auc) == {
        "mesh (trainer-gpu's network)",
        "scikit-learn LogisticRegression",
        "scikit-learn HistGradientBoostingClassifier",
    }
    assert all(value > 0.8 for value in auc.values()), result.stdout  # chance is 0.5
