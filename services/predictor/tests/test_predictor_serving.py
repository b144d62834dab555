"""The predictor's scoring and model swap with real adapters: the simulated history's
Feast store, models trained by the real trainer into a real MLflow server."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from predictor.decoding import InvalidPredictionRequest
from predictor.domain.feature_rows import Refusal, feature_row
from predictor.serving import ModelSlot, ModelSwapper, Predictor

from mlops_contracts import (
    Envelope,
    ModelPromoted,
    ModelTrained,
    PredictionErrorCode,
    PredictionMade,
    PredictionRequested,
    PredictionStatus,
    PredictorModelLoaded,
    PredictorModelRefused,
    RefusalReason,
)
from model_store import CHAMPION
from service_kit import ProjectCatalog
from service_kit.testing import project_applied

pytestmark = pytest.mark.connected


async def champion(parts: Any, model: str) -> ModelTrained:
    """Train a version and make it the champion (the registry's job, done by hand here)."""
    trainer = parts.trainer(max_epochs=3)
    await trainer.accept(parts.request(model), event_id=str(uuid.uuid4()), correlation_id=None)
    await trainer.run_pending()
    trained: ModelTrained = parts.publisher.events(ModelTrained)[-1]
    parts.models.set_alias(model, CHAMPION, trained.model_version)
    return trained


def promoted(trained: ModelTrained, **changes: Any) -> ModelPromoted:
    values = {
        "model_name": trained.model_name,
        "model_version": trained.model_version,
        "model_uri": trained.model_uri,
        "sha256": trained.sha256,
        "gate_metric": "roc_auc",
        "challenger_metric": 0.8,
        "min_margin": 0.0,
        "holdout_rows": 100,
        "promoted_at": trained.trained_at,
    }
    return ModelPromoted(**(values | changes))


def request(parts: Any, customer: str, **fields: Any) -> PredictionRequested:
    values = {
        "request_id": f"r-{uuid.uuid4().hex[:10]}",
        "customer_id": customer,
        "requested_at": parts.history.end,
    }
    return PredictionRequested(**(values | fields))


def replica(parts: Any, model: str) -> tuple[ModelSlot, ModelSwapper, Predictor]:
    slot = ModelSlot()
    swapper = ModelSwapper(
        slot=slot,
        models=parts.models,
        publisher=parts.publisher,
        replica_id="predictor-t",
        model_name=model,
    )
    predictor = Predictor(
        slot=slot,
        features=parts.features,
        publisher=parts.publisher,
        replica_id="predictor-t",
        model_name=model,
        projects=ProjectCatalog([project_applied(model), project_applied("income")]),
        clock=lambda: parts.history.end,
    )
    return slot, swapper, predictor


async def test_requests_are_scored_by_the_champion_or_answered_with_the_reason(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    trained = await champion(model_plane, model)
    slot, swapper, predictor = replica(model_plane, model)
    await swapper.load_champion()
    assert slot.current is not None
    assert slot.current.version == trained.model_version
    [loaded] = model_plane.publisher.events(PredictorModelLoaded)
    assert loaded.sha256 == trained.sha256
    assert loaded.previous_version is None

    known = model_plane.history.labels[0].customer_id
    online = model_plane.features.online([known]).features[known]
    requests = [
        request(model_plane, known),
        request(model_plane, known, features={"plan": "premium", "usage_minutes_30d": 0.0}),
        request(model_plane, "nobody"),
        request(model_plane, known, features={"tenure_months": "ten"}),
        request(model_plane, known, deadline=model_plane.history.end - timedelta(seconds=1)),
        request(model_plane, known, model_name=model),
        request(model_plane, known, model_name="income"),
        request(model_plane, known, model_name="9KKGy"),
    ]
    ok, overridden, unknown, invalid, late, named, other, undeclared = await predictor.answer(
        requests
    )

    assert ok.status is PredictionStatus.OK
    assert ok.model_version == trained.model_version
    assert ok.features == online
    expected = slot.current.model.scores([online])[0]
    assert ok.score == pytest.approx(expected)  # the registry's loader agrees exactly
    assert overridden.features["plan"] == "premium"
    assert overridden.features["usage_minutes_30d"] == 0.0
    assert overridden.score != ok.score
    assert unknown.error_code is PredictionErrorCode.UNKNOWN_ENTITY
    assert invalid.error_code is PredictionErrorCode.INVALID_REQUEST
    assert "'tenure_months' must be a finite number" in (invalid.error_reason or "")
    assert late.error_code is PredictionErrorCode.DEADLINE_EXCEEDED
    assert named.status is PredictionStatus.OK
    assert (named.model_name, named.score) == (model, ok.score)
    assert other.error_code is PredictionErrorCode.MODEL_UNAVAILABLE
    assert f"model income is applied, but these predictors serve {model} only" in (
        other.error_reason or ""
    )
    assert undeclared.error_code is PredictionErrorCode.INVALID_REQUEST
    assert "no model project named '9KKGy'" in (undeclared.error_reason or "")
    answered = (ok, overridden, unknown, invalid, late, named, other, undeclared)
    assert [a.request_id for a in answered] == [r.request_id for r in requests]


def envelope(data: Any, correlation_id: str | None = None) -> Envelope[Any]:
    return Envelope(
        id=f"e-{uuid.uuid4().hex[:10]}",
        source="urn:test",
        type=PredictionRequested.event_type,
        time=None,
        subject=data.customer_id,
        correlation_id=correlation_id,
        data=data,
    )


async def test_a_batch_is_answered_on_the_results_topic_and_only_replies_topics(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    await champion(model_plane, model)
    _, swapper, predictor = replica(model_plane, model)
    await swapper.load_champion()
    known = model_plane.history.labels[0].customer_id
    batch = [
        envelope(request(model_plane, known), correlation_id="c-1"),
        envelope(request(model_plane, known, reply_to="predictions.replies.gw-1")),
        envelope(request(model_plane, known, reply_to="customer.activity")),  # not a reply topic
        envelope(InvalidPredictionRequest("r-bad", known, "predictions.replies.gw-1", "no body")),
    ]
    published_before = len(model_plane.publisher.published)

    await predictor.serve(batch)

    sent = list(
        zip(
            [event for event, _, _ in model_plane.publisher.published[published_before:]],
            model_plane.publisher.topics[published_before:],
            [c for _, _, c in model_plane.publisher.published[published_before:]],
            strict=True,
        )
    )
    assert all(isinstance(event, PredictionMade) for event, _, _ in sent)
    to_results = [(e.request_id, c) for e, topic, c in sent if topic is None]
    to_replies = [(e.request_id, topic) for e, topic, _ in sent if topic is not None]
    ids = [b.data.request_id for b in batch]
    assert to_results == [
        (ids[0], "c-1"),
        (ids[1], batch[1].id),
        (ids[2], batch[2].id),
        ("r-bad", batch[3].id),
    ]
    assert to_replies == [
        (ids[1], "predictions.replies.gw-1"),
        ("r-bad", "predictions.replies.gw-1"),
    ]
    [bad] = [e for e, topic, _ in sent if topic is None and e.request_id == "r-bad"]
    assert bad.error_code is PredictionErrorCode.INVALID_REQUEST
    assert bad.error_reason == "no body"


async def test_without_a_champion_requests_get_model_unavailable(model_plane: Any) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    slot, swapper, predictor = replica(model_plane, model)
    await swapper.load_champion()
    assert slot.champion_checked
    assert slot.current is None
    [answer] = await predictor.answer([request(model_plane, "C-000001")])
    assert answer.error_code is PredictionErrorCode.MODEL_UNAVAILABLE


async def test_a_promotion_swaps_and_a_bad_one_is_refused_while_the_old_model_serves(
    model_plane: Any,
) -> None:
    model = f"churn-{uuid.uuid4().hex[:8]}"
    first = await champion(model_plane, model)
    slot, swapper, _ = replica(model_plane, model)
    await swapper.load_champion()

    second = await champion(model_plane, model)
    await swapper.on_promoted(promoted(second))
    assert slot.current is not None
    assert slot.current.version == second.model_version
    loaded = model_plane.publisher.events(PredictorModelLoaded)
    assert loaded[-1].previous_version == first.model_version

    await swapper.on_promoted(promoted(first))  # a replayed, older decision: no swap back
    assert slot.current.version == second.model_version

    third = await champion(model_plane, model)
    await swapper.on_promoted(promoted(third, sha256="e" * 64))
    [refused] = model_plane.publisher.events(PredictorModelRefused)
    assert refused.reason is RefusalReason.SHA256_MISMATCH
    assert refused.serving_version == second.model_version
    assert slot.current.version == second.model_version


def test_feature_rows_prefer_inline_values_and_name_what_is_missing() -> None:
    online = {"a": 1.0, "plan": "basic"}
    row = feature_row(
        customer_id="c", online=online, inline={"a": 5}, numeric=("a",), categorical=("plan",)
    )
    assert row == {"a": 5, "plan": "basic"}
    missing = feature_row(
        customer_id="c",
        online={"a": 1.0, "plan": None},
        inline=None,
        numeric=("a",),
        categorical=("plan",),
    )
    assert isinstance(missing, Refusal)
    assert missing.code is PredictionErrorCode.MISSING_FEATURE
    inline_only = feature_row(
        customer_id="new",
        online=None,
        inline={"a": 2.0, "plan": "premium"},
        numeric=("a",),
        categorical=("plan",),
    )
    assert inline_only == {"a": 2.0, "plan": "premium"}
    bad = feature_row(
        customer_id="c", online=online, inline={"plan": 3}, numeric=("a",), categorical=("plan",)
    )
    assert isinstance(bad, Refusal)
    assert bad.code is PredictionErrorCode.INVALID_REQUEST
