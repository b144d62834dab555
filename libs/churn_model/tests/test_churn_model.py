"""The artifact round trip and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from churn_model import (
    ArtifactRefused,
    ChurnNet,
    MissingFeature,
    ModelSpec,
    Standardisation,
    encode,
    file_sha256,
    load_model,
    save_model,
)

torch.set_num_threads(1)

SPEC = ModelSpec(
    model_name="churn",
    numeric_features=("tenure_months", "monthly_charges"),
    categorical_features={"plan": ("basic", "standard", "premium")},
    standardisation={
        "tenure_months": Standardisation(mean=24.0, std=12.0),
        "monthly_charges": Standardisation(mean=50.0, std=20.0),
    },
    hidden_sizes=(8,),
    feature_view_version="v1-test",
)
ROWS = [
    {"tenure_months": 36, "monthly_charges": 70.0, "plan": "premium"},
    {"tenure_months": 2, "monthly_charges": 20.0, "plan": "basic"},
]


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, str, ChurnNet]:
    torch.manual_seed(3)
    network = ChurnNet(SPEC)
    network.eval()
    sha256 = save_model(tmp_path / "model", SPEC, network)
    return tmp_path / "model", sha256, network


def test_round_trip_scores_exactly_like_the_trained_network(
    saved: tuple[Path, str, ChurnNet],
) -> None:
    folder, sha256, network = saved
    loaded = load_model(folder, sha256)
    with torch.inference_mode():
        expected = torch.sigmoid(network(encode(ROWS, SPEC))).tolist()
    assert loaded.scores(ROWS) == expected
    assert loaded.spec == SPEC
    assert sorted(p.name for p in folder.iterdir()) == ["spec.json", "weights.safetensors"]


def test_tampered_weights_are_refused(saved: tuple[Path, str, ChurnNet]) -> None:
    folder, sha256, _ = saved
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactRefused, match="sha256 mismatch"):
        load_model(folder, sha256)


def test_spec_naming_other_weights_is_refused(saved: tuple[Path, str, ChurnNet]) -> None:
    folder, sha256, _ = saved
    document = json.loads((folder / "spec.json").read_text())
    document["weights_sha256"] = "0" * 64
    (folder / "spec.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactRefused, match="names weights"):
        load_model(folder, sha256)


def test_wrong_expected_digest_and_missing_files_are_refused(
    saved: tuple[Path, str, ChurnNet],
) -> None:
    folder, _, _ = saved
    with pytest.raises(ArtifactRefused, match="mismatch"):
        load_model(folder, "f" * 64)
    (folder / "spec.json").unlink()
    with pytest.raises(ArtifactRefused, match="missing"):
        load_model(folder, file_sha256(folder / "weights.safetensors"))


def test_weights_that_do_not_fit_the_spec_are_refused(tmp_path: Path) -> None:
    other = SPEC.model_copy(update={"hidden_sizes": (4,)})
    sha256 = save_model(tmp_path, other, ChurnNet(other))
    document = json.loads((tmp_path / "spec.json").read_text())
    document["spec"]["hidden_sizes"] = [8]  # spec and weights disagree
    (tmp_path / "spec.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactRefused, match="do not fit"):
        load_model(tmp_path, sha256)


def test_encoding_standardises_one_hots_and_names_missing_inputs() -> None:
    matrix = encode([{"tenure_months": 36, "monthly_charges": 10.0, "plan": "gold"}], SPEC)
    assert matrix.tolist() == [[1.0, -2.0, 0.0, 0.0, 0.0]]  # unknown plan: all zeros
    with pytest.raises(MissingFeature, match="monthly_charges"):
        encode([{"tenure_months": 1, "monthly_charges": float("nan"), "plan": "basic"}], SPEC)
    with pytest.raises(MissingFeature, match="plan"):
        encode([{"tenure_months": 1, "monthly_charges": 1.0}], SPEC)


def test_labels_follow_the_threshold(saved: tuple[Path, str, ChurnNet]) -> None:
    folder, sha256, _ = saved
    loaded = load_model(folder, sha256)
    assert loaded.labels([0.2, 0.5, 0.9]) == [False, True, True]
    assert loaded.scores([]) == []


def test_inconsistent_specs_are_refused() -> None:
    with pytest.raises(ValidationError, match="standardisation"):
        SPEC.model_validate({**SPEC.model_dump(), "numeric_features": ("tenure_months",)})
    with pytest.raises(ValidationError, match="extra"):
        ModelSpec.model_validate({**SPEC.model_dump(), "pickle": "no"})


def test_a_changed_spec_is_refused_when_its_digest_is_known(
    saved: tuple[Path, str, ChurnNet],
) -> None:
    from churn_model import spec_sha256

    folder, sha256, _ = saved
    recorded = spec_sha256(folder)
    assert load_model(folder, sha256, expected_spec_sha256=recorded).sha256 == sha256
    # Same weights, a lower threshold: every customer would be flagged as churning.
    document = json.loads((folder / "spec.json").read_text())
    document["spec"]["threshold"] = 0.01
    (folder / "spec.json").write_text(json.dumps(document))
    with pytest.raises(ArtifactRefused, match=r"spec\.json sha256 mismatch"):
        load_model(folder, sha256, expected_spec_sha256=recorded)
