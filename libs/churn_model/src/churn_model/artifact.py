"""Model artifacts: ``spec.json`` + ``weights.safetensors``, the weights' sha256 checked
before anything is loaded. No pickle anywhere: safetensors holds only tensors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from churn_model.network import ChurnNet, FeatureRow, encode
from churn_model.spec import ModelSpec, Sha256

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.safetensors"


class ArtifactRefused(RuntimeError):
    """An artifact failed verification (digest mismatch, missing file, bad spec) and was
    not loaded; the message says what was wrong."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(folder: Path, spec: ModelSpec, network: ChurnNet) -> Sha256:
    """Write the artifact into ``folder``; return the weights' sha256 (what the registry
    records and every loader must be given)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS_FILE
    tensors = {name: t.detach().cpu().contiguous() for name, t in network.state_dict().items()}
    save_file(tensors, str(weights), metadata={"model_name": spec.model_name})
    sha256 = file_sha256(weights)
    document = {"spec": spec.model_dump(mode="json"), "weights_sha256": sha256}
    (folder / SPEC_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return sha256


@dataclass(frozen=True)
class LoadedModel:
    """A verified model ready for inference on the CPU (or the given device)."""

    spec: ModelSpec
    network: ChurnNet
    sha256: str

    def scores(self, rows: Sequence[FeatureRow]) -> list[float]:
        """Churn probabilities of ``rows`` (``MissingFeature`` names a missing input)."""
        if not rows:
            return []
        inputs = encode(rows, self.spec)
        with torch.inference_mode():
            return torch.sigmoid(self.network(inputs)).tolist()

    def labels(self, scores: Sequence[float]) -> list[bool]:
        """Churn or not, at the spec's threshold."""
        return [score >= self.spec.threshold for score in scores]


def spec_sha256(folder: Path) -> Sha256:
    """sha256 of the artifact's ``spec.json`` (standardisation, threshold, vocabularies and
    the weights' digest): the registry records it beside the weights' sha256."""
    return file_sha256(folder / SPEC_FILE)


def load_model(
    folder: Path, expected_sha256: str, *, expected_spec_sha256: str | None = None
) -> LoadedModel:
    """Verify, then load. Refused (``ArtifactRefused``) unless the weights file's sha256
    equals both ``expected_sha256`` (from the registry) and the one in the spec, and, when
    ``expected_spec_sha256`` is given, the spec file's own sha256 equals it (so neither the
    weights nor the spec can be changed after registration)."""
    weights, spec_path = folder / WEIGHTS_FILE, folder / SPEC_FILE
    for path in (weights, spec_path):
        if not path.is_file():
            raise ArtifactRefused(f"artifact file missing: {path}")
    if expected_spec_sha256 is not None and file_sha256(spec_path) != expected_spec_sha256:
        raise ArtifactRefused(
            f"{SPEC_FILE} sha256 mismatch: expected {expected_spec_sha256}, "
            f"file has {file_sha256(spec_path)}"
        )
    actual = file_sha256(weights)
    if actual != expected_sha256:
        raise ArtifactRefused(
            f"weights sha256 mismatch: expected {expected_sha256}, file has {actual}"
        )
    try:
        document = json.loads(spec_path.read_text())
        spec = ModelSpec.model_validate(document["spec"])
        recorded = document["weights_sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise ArtifactRefused(f"invalid {SPEC_FILE}: {error}") from error
    if recorded != actual:
        raise ArtifactRefused(f"{SPEC_FILE} names weights {recorded}, the file is {actual}")
    network = ChurnNet(spec)
    try:
        network.load_state_dict(load_file(str(weights)), strict=True)
    except (RuntimeError, ValueError) as error:  # shapes or names that do not match
        raise ArtifactRefused(f"weights do not fit the spec: {error}") from error
    network.eval()
    return LoadedModel(spec=spec, network=network, sha256=actual)
