"""How POST /v1/predict bodies are read: one prediction or a batch, by shape."""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from gateway.routes import (
    EntityPredictBatchIn,
    EntityPredictIn,
    PredictBatchIn,
    PredictIn,
    _parse,
)


def test_one_prediction_even_when_a_feature_is_named_requests() -> None:
    body = json.dumps({"customer_id": "C-1", "features": {"requests": 3.0}}).encode()
    items, single = _parse(body, 10, PredictIn, PredictBatchIn)
    assert single
    assert items == [("C-1", {"requests": 3.0})]


def test_a_batch_is_answered_in_order_and_limited() -> None:
    body = json.dumps({"requests": [{"customer_id": "a"}, {"customer_id": "b"}]}).encode()
    items, single = _parse(body, 10, PredictIn, PredictBatchIn)
    assert not single
    assert items == [("a", None), ("b", None)]
    with pytest.raises(HTTPException) as too_many:
        _parse(body, 1, PredictIn, PredictBatchIn)
    assert too_many.value.status_code == 413


@pytest.mark.parametrize("body", [b"not json", b'{"customer": "a"}', b'{"requests": []}'])
def test_invalid_bodies_are_field_errors(body: bytes) -> None:
    with pytest.raises(RequestValidationError):
        _parse(body, 10, PredictIn, PredictBatchIn)


def test_a_model_project_names_its_entity() -> None:
    body = json.dumps({"requests": [{"entity_id": "P1", "features": {"age": 30}}]}).encode()
    assert _parse(body, 10, EntityPredictIn, EntityPredictBatchIn) == ([("P1", {"age": 30})], False)
    with pytest.raises(RequestValidationError):
        _parse(b'{"customer_id": "C-1"}', 10, EntityPredictIn, EntityPredictBatchIn)
