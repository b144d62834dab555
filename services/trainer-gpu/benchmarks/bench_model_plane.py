"""Model-plane benchmark: training speed per device, and the time from a TrainingRequested to
the gate's ModelPromoted for a window of ~50k labelled rows.

Everything is real but Kafka: a simulated history written into a real Feast store (dev
profile), labels in a SQLite label log, a real MLflow server (SQLite backend), the trainer's
and the registry's own use cases. The two Kafka hops (request -> trainer, ModelTrained ->
registry) are left out; on the embedded broker each costs tens of milliseconds.

    .venv/bin/python services/trainer-gpu/benchmarks/bench_model_plane.py
    .venv/bin/python services/trainer-gpu/benchmarks/bench_model_plane.py --devices cpu,cuda

Prints two tables; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("FEAST_USAGE", "False")

import torch
from registry.adapters.decision_ledger import MIGRATIONS as DECISIONS
from registry.adapters.decision_ledger import SqlDecisionLedger
from registry.domain.gate import GatePolicy
from registry.service import PromotionGate
from trainer_gpu.adapters.request_ledger import MIGRATIONS as REQUESTS
from trainer_gpu.adapters.request_ledger import SqlRequestLedger
from trainer_gpu.domain.training_config import TrainingConfig
from trainer_gpu.service import Trainer
from trainer_gpu.training import train_classifier

from churn_features import (
    CATEGORICAL_FEATURES,
    FEATURE_VIEW_VERSION,
    NUMERIC_FEATURES,
    FeatureStoreSettings,
)
from churn_features.backfill import compute_backfill, write_backfill
from churn_features.labels import MIGRATIONS as LABEL_LOG
from churn_features.labels import SqlLabelLog
from churn_features.store import CustomerFeatureStore
from churn_features.training_set import LABEL_COLUMN, labelled_set
from mesh.mlflow_server import running_mlflow
from mlops_contracts import (
    ModelPromoted,
    ModelTrained,
    TrainingReason,
    TrainingRequested,
)
from model_store import ModelStore
from service_kit.database import create_engine
from service_kit.outbox import Outbox
from service_kit.schema import migrate
from simulator import SimulationConfig, generate_history


class Handoff:
    """Stands in for Kafka between trainer and registry: keeps what was published."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, event: Any, **_options: Any) -> str:
        self.events.append(event)
        return str(len(self.events))

    async def publish_all(self, outgoing: Any) -> None:
        self.events.extend(item.event for item in outgoing)


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [title, line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def cpu_name() -> str:
    """The CPU model and the cores this process may use."""
    model = platform.processor() or "cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def device_speed(frame: Any, device: torch.device, epochs: int) -> list[str]:
    """The same fixed-length job (no early stopping) on ``device``."""
    config = TrainingConfig(max_epochs=epochs, patience=epochs + 1, min_rows=10)
    seconds: list[float] = []
    started = time.perf_counter()
    model = train_classifier(
        frame,
        label_column=LABEL_COLUMN,
        numeric_features=NUMERIC_FEATURES,
        categorical_features=CATEGORICAL_FEATURES,
        model_name="bench",
        feature_view_version=FEATURE_VIEW_VERSION,
        config=config,
        device=device,
        on_epoch=lambda report: seconds.append(report.seconds),
    )
    total = time.perf_counter() - started
    steady = seconds[1:] or seconds  # the first epoch pays for warm-up (CUDA context, caches)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return [
        f"{device} ({name})",
        f"{model.train_rows:,}",
        f"{epochs}",
        f"{statistics.mean(steady):.3f}",
        f"{model.train_rows / statistics.mean(steady):,.0f}",
        f"{total:.1f}",
        f"{model.metrics['roc_auc']:.4f}",
    ]


async def request_to_promotion(
    store: CustomerFeatureStore,
    labels_path: Path,
    labels: Any,
    history_end: datetime,
    window: tuple[datetime, datetime],
    mlflow_url: str,
    device: torch.device,
) -> list[list[str]]:
    engine = create_engine(f"sqlite:///{labels_path}")
    await migrate(engine, [LABEL_LOG, REQUESTS, DECISIONS])
    label_log = SqlLabelLog(engine)
    await label_log.admit(labels)
    models = ModelStore(mlflow_url)
    handoff = Handoff()
    outbox = Outbox(engine, handoff)
    trainer = Trainer(
        ledger=SqlRequestLedger(engine, outbox),
        labels=label_log,
        features=store,
        models=models,
        publisher=handoff,
        outbox=outbox,
        config=TrainingConfig(),
        device=device,
    )
    gate = PromotionGate(
        models=models,
        labels=label_log,
        features=store,
        decisions=SqlDecisionLedger(engine, outbox),
        outbox=outbox,
        policy=GatePolicy(metric="roc_auc", min_margin=0.0, min_metric=0.0, min_holdout_rows=100),
        holdout_max_rows=20_000,
        clock=lambda: history_end + timedelta(hours=1),
    )
    rows = []
    for attempt in (1, 2):  # the first meets no champion; the second is judged against it
        request = TrainingRequested(
            idempotency_key=f"bench-{attempt}",
            model_name="churn",
            reason=TrainingReason.MANUAL,
            data_window_start=window[0],
            data_window_end=window[1],
            requested_at=history_end,
        )
        started = time.perf_counter()
        await trainer.accept(request, event_id=f"e{attempt}", correlation_id=None)
        await trainer.run_pending()
        trained_at = time.perf_counter()
        trained = handoff.events[-1]
        assert isinstance(trained, ModelTrained), trained
        decision = await gate.on_trained(trained, correlation_id=None)
        decided_at = time.perf_counter()
        epoch_seconds = sum(models.metric_history(trained.run_id, "epoch_seconds"))
        verdict = (
            "promoted" if isinstance(decision, ModelPromoted) else f"rejected ({decision.reason})"
        )
        rows.append(
            [
                f"v{trained.model_version} ({'no champion' if attempt == 1 else 'vs champion'})",
                f"{trained.dataset.row_count:,}",
                f"{int(trained.metrics['epochs'])}",
                f"{epoch_seconds:.1f}",
                f"{trained_at - started:.1f}",
                f"{decision.holdout_rows:,}",
                f"{decided_at - trained_at:.1f}",
                f"{decided_at - started:.1f}",
                verdict,
            ]
        )
    await engine.dispose()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12_500)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--holdout-days", type=float, default=4)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the speed job")
    parser.add_argument("--devices", default="cpu", help="comma list: cpu,cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-model-plane-") as scratch:
        folder = Path(scratch)
        end = datetime(2026, 10, 1, tzinfo=UTC)
        started = time.perf_counter()
        backfill = compute_backfill(
            generate_history(
                args.days, end=end, config=SimulationConfig(customers=args.customers, seed=5)
            )
        )
        store = CustomerFeatureStore(FeatureStoreSettings(data_dir=folder / "store"))
        store.apply()
        write_backfill(store, backfill)
        window = (end - timedelta(days=args.days), end - timedelta(days=args.holdout_days))
        in_window = [x for x in backfill.labels if window[0] <= x.observed_at < window[1]]
        frame = labelled_set(store, in_window).frame
        print(
            f"history: {args.customers:,} customers x {args.days:g} days -> "
            f"{len(backfill.rows):,} feature rows, {len(backfill.labels):,} labels, "
            f"{len(frame):,} labelled rows in the training window "
            f"(built in {time.perf_counter() - started:.1f} s)\n"
        )
        speed = [device_speed(frame, torch.device(d), args.epochs) for d in args.devices.split(",")]
        print(
            table(
                f"Training speed: same job on each device ({args.epochs} epochs, batch 512, "
                f"torch threads {args.threads}; seconds/epoch excludes the first epoch)",
                ["device", "train rows", "epochs", "s/epoch", "samples/s", "total s", "val AUC"],
                speed,
            )
        )
        print()
        with running_mlflow(f"sqlite:///{folder / 'mlflow.db'}", folder / "mlflow") as url:
            rows = await request_to_promotion(
                store,
                folder / "state.db",
                backfill.labels,
                end,
                window,
                url,
                torch.device(args.devices.split(",")[0]),
            )
        print(
            table(
                "TrainingRequested -> decision (trainer and registry use cases, real MLflow and "
                "Feast; early stopping on)",
                [
                    "version",
                    "window rows",
                    "epochs",
                    "epoch s",
                    "trainer s",
                    "holdout",
                    "gate s",
                    "total s",
                    "decision",
                ],
                rows,
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
