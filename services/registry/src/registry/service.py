"""The registry's use case: judge a trained challenger against the champion on the same
fresh holdout, move the ``champion`` alias when it wins, and announce the decision once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from churn_features.labels import SqlLabelLog
from churn_features.training_set import LabelledSet, labelled_set
from churn_model import ArtifactRefused, LoadedModel, MissingFeature, evaluate
from mlops_contracts import (
    Envelope,
    ModelPromoted,
    ModelRejected,
    ModelTrained,
    RejectionReason,
    TrainingFailed,
)
from model_store import (
    CHAMPION,
    ModelStore,
    ModelStoreError,
    ModelVersionInfo,
    ModelVersionMissing,
)
from registry.adapters.decision_ledger import Decision, SqlDecisionLedger
from registry.domain.gate import GatePolicy, judge
from service_kit.outbox import Outbox

if TYPE_CHECKING:
    from churn_features.store import CustomerFeatureStore

logger = logging.getLogger(__name__)

_DETAIL_LIMIT = 3000


class _Refused(Exception):
    """The challenger cannot be judged: rejected with this reason, nothing compared."""

    def __init__(self, reason: RejectionReason, detail: str, holdout_rows: int = 0) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.holdout_rows = holdout_rows


@dataclass
class PromotionGate:
    """Judges challengers and keeps the ``champion`` alias."""

    models: ModelStore
    labels: SqlLabelLog
    features: CustomerFeatureStore
    decisions: SqlDecisionLedger
    outbox: Outbox
    policy: GatePolicy
    holdout_max_rows: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def on_training_result(self, envelope: Envelope[ModelTrained | TrainingFailed]) -> None:
        """``ModelTrained`` goes through the gate; ``TrainingFailed`` changes nothing here."""
        event = envelope.data
        if isinstance(event, TrainingFailed):
            logger.info(
                "training failed upstream; the registry is unchanged",
                extra={"idempotency_key": event.idempotency_key, "reason": event.reason},
            )
            return
        await self.on_trained(event, correlation_id=envelope.correlation_id or envelope.id)

    async def on_trained(self, trained: ModelTrained, *, correlation_id: str | None) -> Decision:
        """Decide about ``trained`` (or finish a decision made before), apply it, and hand
        its event to the outbox. Transient failures (MLflow, database) raise, so the event
        is retried; a broker that does not acknowledge does not (the relay publishes)."""
        stored = await self.decisions.get(trained.model_name, trained.model_version)
        if stored is None:
            decision = await self._decide(trained)
            stored = await self.decisions.record(decision)
        else:
            logger.info(
                "model version already judged: finishing that decision, not judging again",
                extra={"model_version": trained.model_version, "applied": stored.applied},
            )
        decision = stored.decision
        if not stored.applied:
            await self._apply(decision)
            await self.decisions.applied(decision, correlation_id=correlation_id)
        await self.outbox.flush()
        return decision

    async def _decide(self, trained: ModelTrained) -> Decision:
        champion_info = await asyncio.to_thread(self.models.by_alias, trained.model_name, CHAMPION)
        if champion_info is not None and champion_info.version == trained.model_version:
            champion_info = None  # judged before, under another decision record: alone
        try:
            challenger = await self._load_challenger(trained)
            holdout = await self._holdout(trained, champion_info)
            challenger_metric = await asyncio.to_thread(_metric, self.policy, challenger, holdout)
            champion_metric = await self._champion_metric(champion_info, holdout)
        except _Refused as refused:
            return self._rejected(
                trained,
                champion_info,
                refused.reason,
                refused.detail,
                None,
                None,
                refused.holdout_rows,
            )
        rows = len(holdout.frame)
        verdict = judge(
            self.policy,
            challenger=challenger_metric,
            champion=champion_metric,
            holdout_rows=rows,
        )
        logger.info(
            "promotion gate decided",
            extra={
                "model_version": trained.model_version,
                "promote": verdict.promote,
                "detail": verdict.detail,
            },
        )
        if verdict.promote:
            return ModelPromoted(
                model_name=trained.model_name,
                model_version=trained.model_version,
                model_uri=trained.model_uri,
                sha256=trained.sha256,
                gate_metric=self.policy.metric,
                challenger_metric=challenger_metric,
                champion_metric=champion_metric,
                min_margin=self.policy.min_margin,
                holdout_rows=rows,
                previous_version=champion_info.version if champion_info else None,
                promoted_at=self.clock(),
            )
        assert verdict.reason is not None
        return self._rejected(
            trained,
            champion_info,
            verdict.reason,
            verdict.detail,
            challenger_metric,
            champion_metric,
            rows,
        )

    async def _load_challenger(self, trained: ModelTrained) -> LoadedModel:
        try:
            info = await asyncio.to_thread(
                self.models.version, trained.model_name, trained.model_version
            )
        except ModelVersionMissing as missing:
            raise _Refused(RejectionReason.ARTIFACT_INVALID, str(missing)) from missing
        if info.sha256 != trained.sha256:
            raise _Refused(
                RejectionReason.ARTIFACT_INVALID,
                f"the registry records sha256 {info.sha256} for version {info.version}, "
                f"the trained event says {trained.sha256}",
            )
        try:
            return await asyncio.to_thread(self.models.load, info)
        except ArtifactRefused as refused:
            raise _Refused(
                RejectionReason.ARTIFACT_INVALID, f"challenger refused: {refused}"
            ) from refused

    async def _holdout(
        self, trained: ModelTrained, champion: ModelVersionInfo | None
    ) -> LabelledSet:
        """Fresh labelled data neither model trained on: labels observed after both
        training windows (the champion's end is read from its run), the newest first."""
        since = trained.dataset.window_end
        champion_end = await self._window_end(champion)
        if champion_end is not None and champion_end > since:
            since = champion_end
        labels = await self.labels.observed_between(
            since, self.clock(), limit=self.holdout_max_rows
        )
        holdout = await asyncio.to_thread(labelled_set, self.features, labels)
        if len(holdout.frame) < self.policy.min_holdout_rows:
            raise _Refused(
                RejectionReason.INSUFFICIENT_HOLDOUT,
                f"{len(holdout.frame)} labelled rows with features observed after the "
                f"training windows ({since.isoformat()}); the gate needs at least "
                f"{self.policy.min_holdout_rows}",
                len(holdout.frame),
            )
        return holdout

    async def _window_end(self, info: ModelVersionInfo | None) -> datetime | None:
        """Where a registered version's training window ended (its run's ``window_end``)."""
        if info is None or info.run_id is None:
            return None
        try:
            run = await asyncio.to_thread(self.models.run, info.run_id)
            return datetime.fromisoformat(run.params["window_end"])
        except (KeyError, ValueError, ModelStoreError) as error:
            logger.warning(
                "the champion's training window is unknown; the holdout starts after the "
                "challenger's",
                extra={"model_version": info.version, "error": str(error)},
            )
            return None

    async def _champion_metric(
        self, info: ModelVersionInfo | None, holdout: LabelledSet
    ) -> float | None:
        if info is None:
            return None
        try:
            champion = await asyncio.to_thread(self.models.load, info)
            return await asyncio.to_thread(_metric, self.policy, champion, holdout)
        except (ArtifactRefused, _Refused) as refused:
            # A champion that can no longer be loaded or scored must not block its own
            # replacement: the challenger is judged alone, against the floor.
            logger.error(
                "the current champion cannot be evaluated; judging the challenger alone",
                extra={"model_version": info.version, "error": str(refused)},
            )
            return None

    def _rejected(
        self,
        trained: ModelTrained,
        champion: ModelVersionInfo | None,
        reason: RejectionReason,
        detail: str,
        challenger_metric: float | None,
        champion_metric: float | None,
        holdout_rows: int,
    ) -> ModelRejected:
        logger.warning(
            "challenger rejected",
            extra={"model_version": trained.model_version, "reason": str(reason), "detail": detail},
        )
        return ModelRejected(
            model_name=trained.model_name,
            model_version=trained.model_version,
            model_uri=trained.model_uri,
            sha256=trained.sha256,
            gate_metric=self.policy.metric,
            # 0 when the challenger could not be measured at all; the reason says why.
            challenger_metric=challenger_metric if challenger_metric is not None else 0.0,
            champion_metric=champion_metric,
            min_margin=self.policy.min_margin,
            holdout_rows=holdout_rows,
            champion_version=champion.version if champion else None,
            reason=reason,
            detail=detail[:_DETAIL_LIMIT],
            rejected_at=self.clock(),
        )

    async def _apply(self, decision: Decision) -> None:
        """Move the alias and tag the versions (idempotent: safe to repeat)."""
        name, version = decision.model_name, decision.model_version
        stamp = self.clock().isoformat()
        gate_tags = {
            "gate": "promoted" if isinstance(decision, ModelPromoted) else "rejected",
            "gate_metric": decision.gate_metric,
            "gate_challenger_metric": f"{decision.challenger_metric:.6f}",
            "gate_champion_metric": (
                "" if decision.champion_metric is None else f"{decision.champion_metric:.6f}"
            ),
            "gate_holdout_rows": str(decision.holdout_rows),
            "gate_decided_at": stamp,
        }
        if isinstance(decision, ModelRejected):
            gate_tags["gate_reason"] = str(decision.reason)
        try:
            await asyncio.to_thread(self.models.tag_version, name, version, gate_tags)
        except ModelVersionMissing:
            if isinstance(decision, ModelPromoted):
                raise
            return  # a rejected event about a version the registry lacks: nothing to tag
        if isinstance(decision, ModelPromoted):
            previous = decision.previous_version
            if previous is not None:
                await asyncio.to_thread(
                    self.models.tag_version,
                    name,
                    previous,
                    {"previous_champion": "true", "demoted_at": stamp, "replaced_by": str(version)},
                )
            await asyncio.to_thread(self.models.set_alias, name, CHAMPION, version)
            logger.info(
                "model promoted to champion",
                extra={"model_name": name, "model_version": version, "previous_version": previous},
            )


def _metric(policy: GatePolicy, model: LoadedModel, holdout: LabelledSet) -> float:
    try:
        scores = model.scores(holdout.feature_rows())
        return evaluate(scores, holdout.labels, model.spec.threshold)[policy.metric]
    except (MissingFeature, ValueError) as error:
        raise _Refused(
            RejectionReason.EVALUATION_FAILED, f"evaluation failed: {error}", len(holdout.frame)
        ) from error
