"""The churn classifier as trainer, registry and predictor all see it: one spec, one
network, one encoding, one artifact format (JSON + safetensors, sha256-verified)."""

from churn_model.artifact import (
    ArtifactRefused,
    LoadedModel,
    file_sha256,
    load_model,
    save_model,
    spec_sha256,
)
from churn_model.metrics import evaluate, roc_auc
from churn_model.network import ChurnNet, FeatureRow, MissingFeature, encode, encode_columns
from churn_model.spec import ModelSpec, Standardisation

__all__ = [
    "ArtifactRefused",
    "ChurnNet",
    "FeatureRow",
    "LoadedModel",
    "MissingFeature",
    "ModelSpec",
    "Standardisation",
    "encode",
    "encode_columns",
    "evaluate",
    "file_sha256",
    "load_model",
    "roc_auc",
    "save_model",
    "spec_sha256",
]
