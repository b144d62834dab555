"""The trainer's use cases: accept a training request, and train the accepted ones one at a
time in the background (so a long run never holds a Kafka poll), publishing progress per
epoch and exactly one outcome per request."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from churn_features import CATEGORICAL_FEATURES, FEATURE_VIEW_VERSION, NUMERIC_FEATURES
from churn_features.labels import SqlLabelLog
from churn_features.snapshot import dataset_snapshot
from churn_features.training_set import LABEL_COLUMN, LabelledSet, labelled_set
from churn_model import save_model, spec_sha256
from mlops_contracts import (
    Envelope,
    ModelTrained,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
)
from model_store import CHALLENGER, ModelStore
from service_kit import Publisher
from service_kit.outbox import Outbox
from trainer_gpu.adapters.request_ledger import Outcome, SqlRequestLedger, TrainingJob
from trainer_gpu.domain.training_config import TrainingConfig
from trainer_gpu.training import (
    REFERENCE_SAMPLE_PATH,
    VALIDATION_METRIC,
    EpochReport,
    TrainedModel,
    TrainingRefused,
    reference_sample,
    train_classifier,
)

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore

logger = logging.getLogger(__name__)

IDEMPOTENCY_TAG = "idempotency_key"
_REASON_LIMIT = 3000


@dataclass
class Trainer:
    """Trains accepted requests one at a time."""

    ledger: SqlRequestLedger
    labels: SqlLabelLog
    features: CustomerFeatureStore
    models: ModelStore
    publisher: Publisher
    """Where the progress of each epoch goes (outcomes go through the outbox)."""
    outbox: Outbox
    config: TrainingConfig
    device: torch.device
    model_names: Collection[str] = ("churn",)
    max_window: timedelta = timedelta(days=400)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        # Set on stop: the training thread ends at the next epoch instead of running on.
        self._stopping = threading.Event()

    # ---------------------------------------------------------------- intake

    async def accept(
        self, request: TrainingRequested, *, event_id: str, correlation_id: str | None
    ) -> bool:
        """Queue a request; False (and nothing happens) for a replay of a known key."""
        accepted = await self.ledger.accept(
            request, event_id=event_id, correlation_id=correlation_id
        )
        if accepted:
            logger.info(
                "training requested",
                extra={
                    "idempotency_key": request.idempotency_key,
                    "reason": str(request.reason),
                    "window": f"{request.data_window_start} .. {request.data_window_end}",
                },
            )
            self._wake.set()
        else:
            known = await self.ledger.get(request.idempotency_key)
            logger.info(
                "training request replayed: no second run",
                extra={
                    "idempotency_key": request.idempotency_key,
                    "status": str(known.status) if known else "unknown",
                },
            )
        return accepted

    async def on_request(self, envelope: Envelope[TrainingRequested]) -> None:
        """Accept a ``TrainingRequested`` into the durable queue (trained by :meth:`work`;
        a replayed idempotency key is acknowledged and ignored)."""
        await self.accept(
            envelope.data, event_id=envelope.id, correlation_id=envelope.correlation_id
        )

    # ---------------------------------------------------------------- background worker

    async def work(self) -> None:
        """Work through the queue (what a previous process left first), then each request
        as it is accepted. Cancelled at stop: a run in progress is abandoned (its thread
        ends after the current epoch) and resumed on the next start."""
        self._stopping.clear()
        try:
            while True:
                await self.run_pending()
                await self._wake.wait()
                self._wake.clear()
        except asyncio.CancelledError:
            self._stopping.set()
            raise

    async def run_pending(self) -> int:
        """Serve queued requests until none is left; return how many were served."""
        served = 0
        while (job := await self.ledger.next_job()) is not None:
            await self.serve(job)
            served += 1
        return served

    async def serve(self, job: TrainingJob) -> Outcome:
        """Train, store the outcome with its event (the outbox), then publish it."""
        outcome = await self.train(job)
        await self.ledger.finished(job, outcome)
        await self.outbox.flush()
        return outcome

    # ---------------------------------------------------------------- one run

    async def train(self, job: TrainingJob) -> Outcome:
        """One run for ``job``; any failure becomes ``TrainingFailed`` with the registry
        left as it was."""
        request = job.request
        run = _RunState()
        try:
            return await self._train(job, run)
        except _Stopped:
            raise asyncio.CancelledError from None  # resumed by the next start, not failed
        except Exception as error:
            logger.exception(
                "training failed", extra={"idempotency_key": job.key, "run_id": run.run_id}
            )
            await self._undo(request.model_name, run)
            return TrainingFailed(
                idempotency_key=job.key,
                model_name=request.model_name,
                run_id=run.run_id,
                error_type=type(error).__name__,
                reason=(str(error) or type(error).__name__)[:_REASON_LIMIT],
                failed_at=self.clock(),
            )

    async def _train(self, job: TrainingJob, run: _RunState) -> ModelTrained:
        request, models = job.request, self.models
        self._check_request(request)
        if job.run_id is not None:  # a previous process died mid-run: start over cleanly
            logger.warning(
                "resuming a training request whose run was interrupted",
                extra={"idempotency_key": job.key, "run_id": job.run_id},
            )
            await self._abandon(request.model_name, job)
        labels = await self.labels.observed_between(
            request.data_window_start, request.data_window_end
        )
        run.run_id = await asyncio.to_thread(
            models.start_run,
            request.model_name,
            f"{request.reason}-{job.key}"[:200],
            {IDEMPOTENCY_TAG: job.key, "reason": str(request.reason), "device": str(self.device)},
        )
        await self.ledger.started(job.key, run.run_id)
        labelled = await asyncio.to_thread(labelled_set, self.features, labels)
        snapshot = await asyncio.to_thread(
            dataset_snapshot,
            labelled.frame,
            window_start=request.data_window_start,
            window_end=request.data_window_end,
        )
        document = snapshot.model_dump(mode="json") | {
            "labels_in_window": len(labels),
            "labels_without_features": labelled.without_features,
        }
        snapshot_uri = await asyncio.to_thread(
            models.log_json, run.run_id, document, "dataset_snapshot.json"
        )
        snapshot = snapshot.model_copy(update={"uri": snapshot_uri})
        await asyncio.to_thread(
            models.log_params,
            run.run_id,
            self.config.as_params()
            | {
                "model_name": request.model_name,
                "window_start": request.data_window_start.isoformat(),
                "window_end": request.data_window_end.isoformat(),
                "rows": len(labelled.frame),
                "device": str(self.device),
                "feature_view_version": FEATURE_VIEW_VERSION,
                "dataset_sha256": snapshot.content_sha256,
            },
        )
        logger.info(
            "training started",
            extra={
                "idempotency_key": job.key,
                "run_id": run.run_id,
                "rows": len(labelled.frame),
                "labels_without_features": labelled.without_features,
                "device": str(self.device),
            },
        )
        trained = await asyncio.to_thread(
            self._fit, labelled, job, run.run_id, asyncio.get_running_loop()
        )
        await asyncio.to_thread(models.log_metrics, run.run_id, trained.metrics, trained.best_epoch)
        # The monitor's drift reference: raw feature values the model was trained on.
        reference = reference_sample(
            labelled.frame,
            model_name=request.model_name,
            numeric_features=NUMERIC_FEATURES,
            categorical_features=CATEGORICAL_FEATURES,
            feature_view_version=FEATURE_VIEW_VERSION,
            seed=self.config.seed,
        )
        await asyncio.to_thread(models.log_json, run.run_id, reference, REFERENCE_SAMPLE_PATH)
        with tempfile.TemporaryDirectory(prefix="model-") as scratch:
            folder = Path(scratch)
            sha256 = await asyncio.to_thread(save_model, folder, trained.spec, trained.network)
            spec_digest = spec_sha256(folder)
            model_uri = await asyncio.to_thread(models.log_model, run.run_id, folder)
        version = await asyncio.to_thread(
            models.register,
            request.model_name,
            run_id=run.run_id,
            source=model_uri,
            sha256=sha256,
            spec_sha256=spec_digest,
            tags={
                IDEMPOTENCY_TAG: job.key,
                "dataset_sha256": snapshot.content_sha256,
                "trained_on": str(self.device),
            },
        )
        run.version = version.version
        await asyncio.to_thread(models.end_run, run.run_id, "FINISHED")
        # The alias moves last: a failure before it leaves the previous challenger in place.
        await asyncio.to_thread(models.set_alias, request.model_name, CHALLENGER, version.version)
        logger.info(
            "model trained and registered as challenger",
            extra={
                "idempotency_key": job.key,
                "model_version": version.version,
                "run_id": run.run_id,
                "roc_auc": round(trained.metrics["roc_auc"], 4),
                "epochs": trained.epochs_run,
            },
        )
        return ModelTrained(
            idempotency_key=job.key,
            model_name=request.model_name,
            model_version=version.version,
            run_id=run.run_id,
            model_uri=model_uri,
            sha256=sha256,
            metrics=trained.metrics
            | {
                "epochs": float(trained.epochs_run),
                "best_epoch": float(trained.best_epoch),
                "train_rows": float(trained.train_rows),
                "validation_rows": float(trained.validation_rows),
                "samples_per_second": trained.samples_per_second,
            },
            dataset=snapshot,
            device=_device_name(self.device),
            trained_at=self.clock(),
        )

    def _fit(
        self,
        labelled: LabelledSet,
        job: TrainingJob,
        run_id: str,
        loop: asyncio.AbstractEventLoop,
    ) -> TrainedModel:
        """Runs in a worker thread: trains, logging and announcing every epoch."""

        def on_epoch(report: EpochReport) -> None:
            if self._stopping.is_set():
                raise _Stopped
            self.models.log_metrics(
                run_id,
                {
                    "train_loss": report.train_loss,
                    f"val_{VALIDATION_METRIC}": report.validation_auc,
                    "epoch_seconds": report.seconds,
                    "samples_per_second": report.samples_per_second,
                },
                report.epoch,
            )
            progress = TrainingProgress(
                idempotency_key=job.key,
                model_name=job.request.model_name,
                run_id=run_id,
                epoch=report.epoch,
                max_epochs=report.max_epochs,
                train_loss=max(report.train_loss, 0.0),
                validation_metric=VALIDATION_METRIC,
                validation_value=report.validation_auc,
                eta_seconds=report.eta_seconds,
                samples_per_second=report.samples_per_second,
                device=_device_name(self.device),
                reported_at=self.clock(),
            )
            published = asyncio.run_coroutine_threadsafe(
                self.publisher.publish(
                    progress,
                    correlation_id=job.correlation_id or job.request_event_id,
                    event_id=f"trainer-gpu:{job.key}:{run_id}:epoch-{report.epoch}",
                ),
                loop,
            )
            try:  # progress is for watching: a lost one must not fail the run
                published.result(timeout=30)
            except Exception:
                logger.warning("progress event not published", exc_info=True)
            logger.info(
                "epoch finished",
                extra={
                    "run_id": run_id,
                    "epoch": f"{report.epoch}/{report.max_epochs}",
                    "train_loss": round(report.train_loss, 4),
                    "val_roc_auc": round(report.validation_auc, 4),
                    "samples_per_second": round(report.samples_per_second),
                },
            )

        return train_classifier(
            labelled.frame,
            label_column=LABEL_COLUMN,
            numeric_features=NUMERIC_FEATURES,
            categorical_features=CATEGORICAL_FEATURES,
            model_name=job.request.model_name,
            feature_view_version=FEATURE_VIEW_VERSION,
            config=self.config,
            device=self.device,
            on_epoch=on_epoch,
        )

    async def _undo(self, model_name: str, run: _RunState) -> None:
        """After a failure: no version of this run stays registered; the run is FAILED."""
        if run.version is not None:
            await _best_effort(self.models.delete_version, model_name, run.version)
        if run.run_id is not None:
            await _best_effort(self.models.end_run, run.run_id, "FAILED")

    async def _abandon(self, model_name: str, job: TrainingJob) -> None:
        """An interrupted run: mark it KILLED and drop any version it registered."""
        assert job.run_id is not None
        await _best_effort(self.models.end_run, job.run_id, "KILLED")
        versions = await asyncio.to_thread(self.models.versions, model_name)
        for version in versions:
            if version.tags.get(IDEMPOTENCY_TAG) == job.key:
                await _best_effort(self.models.delete_version, model_name, version.version)

    def _check_request(self, request: TrainingRequested) -> None:
        """Refuse what this trainer does not train before anything is created."""
        if request.model_name not in self.model_names:
            raise TrainingRefused(
                f"model {request.model_name!r} is not trained here (TRAINER_MODEL_NAMES: "
                f"{', '.join(self.model_names)})"
            )
        span = request.data_window_end - request.data_window_start
        if span > self.max_window:
            raise TrainingRefused(
                f"data window of {span.days} days exceeds TRAINER_MAX_WINDOW_DAYS "
                f"({self.max_window.days})"
            )


class _Stopped(Exception):
    """The service is stopping: the run is abandoned between epochs."""


@dataclass
class _RunState:
    run_id: str | None = None
    version: int | None = None


def _device_name(device: torch.device) -> str:
    return str(device) if device.type == "cpu" or device.index is not None else "cuda:0"


async def _best_effort(function: Callable[..., object], *args: object) -> None:
    try:
        await asyncio.to_thread(function, *args)
    except Exception:
        logger.warning("cleanup step failed", exc_info=True)
