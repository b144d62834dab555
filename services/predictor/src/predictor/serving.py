"""The predictor's use cases: answer a micro-batch of prediction requests with the model
being served, and swap to a newly promoted model between batches without dropping any."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from churn_model import ArtifactRefused, LoadedModel, MissingFeature
from mlops_contracts import (
    REPLY_TOPIC_PREFIX,
    Envelope,
    ModelPromoted,
    ModelRejected,
    PredictionErrorCode,
    PredictionMade,
    PredictionRequested,
    PredictionStatus,
    PredictorModelLoaded,
    PredictorModelRefused,
    RefusalReason,
)
from model_store import CHAMPION, ModelStore, ModelStoreError, ModelVersionInfo
from predictor.decoding import InvalidPredictionRequest
from predictor.domain.feature_rows import Refusal, feature_row
from service_kit import (
    BatchPublisher,
    DependencyNotReady,
    Outgoing,
    ProjectCatalog,
    Publisher,
    UnknownModelError,
)

if TYPE_CHECKING:
    from churn_features.domain import OnlineFeatures
    from churn_features.store import CustomerFeatureStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """A verified, warmed model and the registered version it is."""

    name: str
    version: int
    model: LoadedModel


class ModelSlot:
    """The model being served. Replaced by one assignment between batches: a batch reads
    it once, so it is scored by exactly one model, old or new."""

    def __init__(self) -> None:
        self.current: ServingModel | None = None
        self.champion_checked = False
        """True once the registry was asked at start (a champion loaded, or none exists)."""


@dataclass
class Predictor:
    """Scores micro-batches of requests."""

    slot: ModelSlot
    features: CustomerFeatureStore
    publisher: BatchPublisher
    replica_id: str
    model_name: str
    """The model these predictors serve (a request naming another is answered an error)."""
    projects: ProjectCatalog
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def serve(self, envelopes: Sequence[Envelope[Any]]) -> None:
        """Answer every request of the batch (ok or an explicit error) on the results
        topic and on its reply-to topic (only a ``predictions.replies.*`` topic)."""
        started = time.perf_counter()
        valid = [e.data for e in envelopes if isinstance(e.data, PredictionRequested)]
        scored = iter(await self.answer(valid))
        outgoing: list[Outgoing] = []
        for envelope in envelopes:
            data: PredictionRequested | InvalidPredictionRequest = envelope.data
            if isinstance(data, PredictionRequested):
                answer = next(scored)
            else:
                answer = self._error(
                    data.request_id,
                    data.customer_id,
                    PredictionErrorCode.INVALID_REQUEST,
                    data.reason,
                    started,
                )
            reply_to = data.reply_to
            outgoing.append(
                Outgoing(
                    answer,
                    correlation_id=envelope.correlation_id or envelope.id,
                    # The same record (one event id) to the caller waiting on its topic.
                    copy_to=reply_to
                    if reply_to and reply_to.startswith(REPLY_TOPIC_PREFIX)
                    else None,
                )
            )
        try:
            await self.publisher.publish_all(outgoing)
        except Exception:
            logger.warning(
                "answers not published; the batch is retried",
                extra={"answers": len(outgoing)},
            )
            raise

    async def answer(self, requests: Sequence[PredictionRequested]) -> list[PredictionMade]:
        """The answers, in request order."""
        started = time.perf_counter()
        serving = self.slot.current  # read once: the whole batch sees one model
        now = self.clock()
        answers: list[PredictionMade | None] = [None] * len(requests)
        pending: list[int] = []
        for index, request in enumerate(requests):
            if request.deadline is not None and request.deadline < now:
                answers[index] = self._error(
                    request.request_id,
                    request.customer_id,
                    PredictionErrorCode.DEADLINE_EXCEEDED,
                    f"picked up at {now.isoformat()}, after the deadline "
                    f"{request.deadline.isoformat()}",
                    started,
                )
            elif request.model_name not in (None, self.model_name):
                answers[index] = self._not_served(request, started)
            elif serving is None:
                answers[index] = self._error(
                    request.request_id,
                    request.customer_id,
                    PredictionErrorCode.MODEL_UNAVAILABLE,
                    "no model is served yet: the registry has no champion",
                    started,
                )
            else:
                pending.append(index)
        if pending and serving is not None:
            await self._score(serving, requests, pending, answers, started)
        return [answer for answer in answers if answer is not None]

    async def _score(
        self,
        serving: ServingModel,
        requests: Sequence[PredictionRequested],
        pending: list[int],
        answers: list[PredictionMade | None],
        started: float,
    ) -> None:
        spec = serving.model.spec
        online = await self._online({requests[i].customer_id for i in pending})
        rows: list[dict[str, float | int | str | bool]] = []
        scored: list[int] = []
        for index in pending:
            request = requests[index]
            row = feature_row(
                customer_id=request.customer_id,
                online=online.features.get(request.customer_id),
                inline=request.features,
                numeric=spec.numeric_features,
                categorical=tuple(spec.categorical_features),
            )
            if isinstance(row, Refusal):
                answers[index] = self._error(
                    request.request_id, request.customer_id, row.code, row.reason, started
                )
            else:
                rows.append(row)
                scored.append(index)
        if not rows:
            return
        try:
            scores = serving.model.scores(rows)
        except MissingFeature as missing:  # a value the checks above let through
            for index in scored:
                request = requests[index]
                answers[index] = self._error(
                    request.request_id,
                    request.customer_id,
                    PredictionErrorCode.MISSING_FEATURE,
                    str(missing),
                    started,
                )
            return
        labels = serving.model.labels(scores)
        at = self.clock()
        latency = (time.perf_counter() - started) * 1000
        for index, row, score, label in zip(scored, rows, scores, labels, strict=True):
            request = requests[index]
            answers[index] = PredictionMade(
                request_id=request.request_id,
                customer_id=request.customer_id,
                status=PredictionStatus.OK,
                score=min(max(score, 0.0), 1.0),
                label=label,
                model_name=serving.name,
                model_version=serving.version,
                latency_ms=latency,
                features=row,
                replica_id=self.replica_id,
                predicted_at=at,
            )

    async def _online(self, customer_ids: set[str]) -> OnlineFeatures:
        return await asyncio.to_thread(self.features.online, sorted(customer_ids))

    def _not_served(self, request: PredictionRequested, started: float) -> PredictionMade:
        """The answer to a request for a model these predictors do not serve."""
        name = request.model_name or ""
        if name in self.projects:
            code = PredictionErrorCode.MODEL_UNAVAILABLE
            reason = (
                f"model {name} is applied, but these predictors serve {self.model_name} only "
                "(serving every project's champion is not built yet)"
            )
        else:
            code = PredictionErrorCode.INVALID_REQUEST
            reason = str(UnknownModelError(name, self.projects.names))
        return self._error(request.request_id, request.customer_id, code, reason, started)

    def _error(
        self,
        request_id: str,
        customer_id: str,
        code: PredictionErrorCode,
        reason: str,
        started: float,
    ) -> PredictionMade:
        return PredictionMade(
            request_id=request_id,
            customer_id=customer_id,
            status=PredictionStatus.ERROR,
            error_code=code,
            error_reason=reason,
            latency_ms=(time.perf_counter() - started) * 1000,
            replica_id=self.replica_id,
            predicted_at=self.clock(),
        )


@dataclass(frozen=True)
class Replica:
    """A running predictor replica: its scorer and its model swapper."""

    predictor: Predictor
    swapper: ModelSwapper


@dataclass
class ModelSwapper:
    """Loads the champion at start and every promoted version after: fetch, verify, warm
    beside the served model, then swap; a model that fails is refused and reported, and
    the old one keeps serving."""

    slot: ModelSlot
    models: ModelStore
    publisher: Publisher
    replica_id: str
    model_name: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def load_champion(self) -> None:
        """Serve the registry's current champion (none yet: wait for a promotion)."""
        info = await asyncio.to_thread(self.models.by_alias, self.model_name, CHAMPION)
        if info is None:
            logger.warning(
                "no champion in the registry yet; answering model_unavailable until one is "
                "promoted",
                extra={"model_name": self.model_name},
            )
        else:
            await self._swap(info)
        self.slot.champion_checked = True

    async def on_decision(self, envelope: Envelope[ModelPromoted | ModelRejected]) -> None:
        """A promotion swaps the model; a rejection changes nothing."""
        if isinstance(envelope.data, ModelPromoted):
            await self.on_promoted(envelope.data)

    async def ready(self) -> None:
        """Readiness: the registry was asked for the champion and, if it has one, that
        model is loaded."""
        if not self.slot.champion_checked:
            raise DependencyNotReady("the champion model is not loaded yet")

    async def on_promoted(self, promoted: ModelPromoted) -> None:
        """Swap to ``promoted`` unless the served version is the same or newer."""
        if promoted.model_name != self.model_name:
            return
        current = self.slot.current
        if current is not None and promoted.model_version <= current.version:
            return  # a replayed or older decision
        try:
            info = await asyncio.to_thread(
                self.models.version, self.model_name, promoted.model_version
            )
        except ModelStoreError as error:
            await self._refuse(
                promoted.model_version, RefusalReason.ARTIFACT_UNAVAILABLE, str(error)
            )
            return
        if info.sha256 != promoted.sha256:
            await self._refuse(
                promoted.model_version,
                RefusalReason.SHA256_MISMATCH,
                f"the event names sha256 {promoted.sha256}, the registry {info.sha256}",
            )
            return
        await self._swap(info)

    async def _swap(self, info: ModelVersionInfo) -> None:
        started = time.perf_counter()
        try:
            loaded = await asyncio.to_thread(self.models.load, info)
        except ArtifactRefused as refused:
            reason = (
                RefusalReason.SHA256_MISMATCH
                if "sha256" in str(refused)
                else RefusalReason.LOAD_FAILED
            )
            await self._refuse(info.version, reason, str(refused))
            return
        except ModelStoreError as error:
            await self._refuse(info.version, RefusalReason.ARTIFACT_UNAVAILABLE, str(error))
            return
        loaded_at = time.perf_counter()
        try:
            await asyncio.to_thread(_warm_up, loaded)
        except Exception as error:
            await self._refuse(info.version, RefusalReason.WARMUP_FAILED, str(error))
            return
        previous = self.slot.current
        self.slot.current = ServingModel(name=info.name, version=info.version, model=loaded)
        done = time.perf_counter()
        logger.info(
            "serving a new model version",
            extra={
                "model_version": info.version,
                "previous_version": previous and previous.version,
            },
        )
        await self.publisher.publish(
            PredictorModelLoaded(
                replica_id=self.replica_id,
                model_name=info.name,
                model_version=info.version,
                sha256=loaded.sha256,
                previous_version=previous.version if previous else None,
                load_ms=(loaded_at - started) * 1000,
                warmup_ms=(done - loaded_at) * 1000,
                loaded_at=self.clock(),
            )
        )

    async def _refuse(self, version: int, reason: RefusalReason, detail: str) -> None:
        current = self.slot.current
        logger.error(
            "model version refused; the served model stays",
            extra={"model_version": version, "reason": str(reason), "detail": detail},
        )
        await self.publisher.publish(
            PredictorModelRefused(
                replica_id=self.replica_id,
                model_name=self.model_name,
                model_version=version,
                reason=reason,
                detail=detail[:3000],
                serving_version=current.version if current else None,
                refused_at=self.clock(),
            )
        )


def _warm_up(model: LoadedModel) -> None:
    """Score one typical row (the standardisation means, each first category) so the first
    real batch pays no first-call cost."""
    spec = model.spec
    row: dict[str, float | str | None] = {
        name: spec.standardisation[name].mean for name in spec.numeric_features
    }
    row |= {name: values[0] for name, values in spec.categorical_features.items() if values}
    for _ in range(3):
        model.scores([row] * 32)
