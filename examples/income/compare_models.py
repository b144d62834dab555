"""The mesh's model on the income example beside scikit-learn's, on one split: a table.

The mesh's model is what the trainer runs (``trainer_gpu.training.train_classifier``: the
PyTorch network, its encoding, early stopping on a validation share of the training rows)
with the project's ``model`` settings; its peers are scikit-learn's LogisticRegression
(standardised numbers, one-hot categories) and HistGradientBoostingClassifier (native
categories). All three fit the same 80% of the rows and are scored on the same 20%
(stratified, ``--seed``). A missing category is one more category, ``(missing)``, for all
three::

    .venv/bin/python examples/income/compare_models.py [--device cpu|cuda|auto] [--rows N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from trainer_gpu.device import resolve_device
from trainer_gpu.domain.training_config import TrainingConfig
from trainer_gpu.training import train_classifier

from churn_model import encode_columns
from mlops_contracts.projects import Project
from mlops_projects import read_project
from mlops_projects.values import parse_cell

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from prepare import write_table  # noqa: E402  (the example's own script, beside this one)

MISSING = "(missing)"
LABEL = "__label__"


def load_frame(project: Project, table: Path, rows: int | None = None) -> pd.DataFrame:
    """The table's feature columns (numbers as floats, categories as text) and the label
    (its first ``rows`` rows, or all)."""
    raw = pd.read_csv(table, dtype=str, keep_default_na=False, nrows=rows)
    frame = pd.DataFrame(index=raw.index)
    for feature in project.inputs:
        assert feature.field is not None
        assert feature.aggregate == "latest"
        spec = project.fields[feature.field]
        cells = raw[spec.column or feature.field]
        values = [parse_cell(spec, cell) for cell in cells]
        if spec.type == "categorical":
            frame[feature.name] = [MISSING if v is None else v for v in values]
        else:
            frame[feature.name] = np.asarray(
                [np.nan if v is None else float(v) for v in values], dtype=np.float64
            )
    frame[LABEL] = [
        project.label.outcome(cell) for cell in raw[project.label.column or project.label.field]
    ]
    return frame


def mesh_model(
    project: Project, train: pd.DataFrame, holdout: pd.DataFrame, device: torch.device
) -> tuple[np.ndarray, float, str]:
    """The trainer's network fitted on ``train``: holdout scores, seconds, and a note."""
    numeric = [f.name for f in project.inputs if project.feature_type(f) != "categorical"]
    categories = {
        f.name: (*(project.fields[f.field].values or ()), MISSING)
        for f in project.inputs
        if f.field is not None and project.feature_type(f) == "categorical"
    }
    settings = project.model
    config = TrainingConfig(
        max_epochs=settings.max_epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        patience=settings.patience,
        validation_fraction=settings.validation_fraction,
        seed=settings.seed,
        hidden_sizes=settings.hidden_sizes,
        min_rows=settings.min_training_rows,
    )
    started = time.perf_counter()
    trained = train_classifier(
        train.reset_index(drop=True),
        label_column=LABEL,
        numeric_features=numeric,
        categorical_features=categories,
        model_name=project.model_name,
        feature_view_version=None,
        config=config,
        device=device,
    )
    seconds = time.perf_counter() - started
    inputs = encode_columns(
        {n: holdout[n].to_numpy() for n in trained.spec.feature_names}, trained.spec
    )
    with torch.inference_mode():
        scores = torch.sigmoid(trained.network(inputs)).numpy()
    note = (
        f"{trained.epochs_run} epochs (best {trained.best_epoch}), "
        f"{trained.samples_per_second:,.0f} samples/s on {device}"
    )
    return scores, seconds, note


def peers(
    project: Project, train: pd.DataFrame, holdout: pd.DataFrame, seed: int
) -> list[tuple[str, np.ndarray, float]]:
    """scikit-learn's LogisticRegression and HistGradientBoostingClassifier: holdout scores
    and fit seconds."""
    numeric = [f.name for f in project.inputs if project.feature_type(f) != "categorical"]
    categorical = [f.name for f in project.inputs if project.feature_type(f) == "categorical"]
    linear = make_pipeline(
        ColumnTransformer(
            [
                ("numbers", StandardScaler(), numeric),
                ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ]
        ),
        LogisticRegression(max_iter=2000),
    )
    boosted = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    as_categories = {name: "category" for name in categorical}
    results = []
    for name, model, x_train, x_holdout in (
        ("scikit-learn LogisticRegression", linear, train, holdout),
        (
            "scikit-learn HistGradientBoostingClassifier",
            boosted,
            train.astype(as_categories),
            holdout.astype(as_categories),
        ),
    ):
        started = time.perf_counter()
        model.fit(x_train[numeric + categorical], x_train[LABEL])
        seconds = time.perf_counter() - started
        results.append((name, model.predict_proba(x_holdout[numeric + categorical])[:, 1], seconds))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--table",
        type=Path,
        default=Path("var/examples/income.csv"),
        help="the prepared table (written by prepare.py when missing)",
    )
    parser.add_argument("--rows", type=int, help="only the first ROWS rows of the data set")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    project = read_project(HERE)
    if not args.table.exists():
        write_table(args.table)
    frame = load_frame(project, args.table, args.rows)
    train, holdout = train_test_split(
        frame, test_size=0.2, stratify=frame[LABEL], random_state=args.seed
    )
    truth = holdout[LABEL].to_numpy()
    device = resolve_device(args.device)
    scores, seconds, note = mesh_model(project, train, holdout, device)
    rows = [("mesh (trainer-gpu's network)", scores, seconds, note)]
    rows += [(name, s, t, "") for name, s, t in peers(project, train, holdout, args.seed)]
    print(
        f"income example: {len(frame)} rows of {args.table} (UCI Adult via xai 0.3.0), "
        f"{len(train)} to fit, {len(holdout)} held out ({truth.mean():.1%} positive), "
        f"seed {args.seed}, torch threads 1"
    )
    print("| model | holdout ROC AUC | holdout PR AUC | fit s | note |")
    print("|---|---|---|---|---|")
    for name, model_scores, fit_seconds, detail in rows:
        print(
            f"| {name} | {roc_auc_score(truth, model_scores):.4f} | "
            f"{average_precision_score(truth, model_scores):.4f} | {fit_seconds:.1f} | {detail} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
