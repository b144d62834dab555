"""The churn classifier as trainer, registry and predictor all see it: one spec, one
network, one encoding, one artifact format (JSON + safetensors, sha256-verified)."""

from churn_model.artifact import (
    ArtifactRefused,
    LoadedModel,
    file_sha256,
    load_model,
    save_model,
)
from churn_model.network import ChurnNet, FeatureRow, MissingFeature, encode
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
    "file_sha256",
    "load_model",
    "save_model",
]
