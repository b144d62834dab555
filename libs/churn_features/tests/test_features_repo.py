"""The Feast repo folder: only definitions and the yaml; the yaml equals the programmatic
dev config; the CLI lists the view; `feast apply` would register the adapter's objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from feast.cli.cli import cli
from feast.repo_config import load_repo_config
from feast.repo_operations import parse_repo

import churn_features
from churn_features import FEATURE_VIEW_NAME
from churn_features.config import repo_config
from churn_features.definitions import customer, customer_activity_view, offline_source
from churn_features.settings import FeatureStoreSettings
from churn_features.store import CustomerFeatureStore

REPO = Path(churn_features.__file__).parent / "feature_repo"


def test_repo_folder_holds_only_definitions_and_the_yaml() -> None:
    files = sorted(
        path.name for path in REPO.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    )
    assert files == ["customer_features.py", "feature_store.yaml"]


def test_yaml_is_the_programmatic_dev_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_FEATURES_DATA_DIR", str(tmp_path))
    from_yaml = load_repo_config(REPO, REPO / "feature_store.yaml")
    from_code = repo_config(FeatureStoreSettings(data_dir=tmp_path))
    assert from_yaml.project == from_code.project
    assert from_yaml.registry.path == from_code.registry.path
    assert from_yaml.registry.registry_type == from_code.registry.registry_type
    assert from_yaml.online_store.path == from_code.online_store.path
    assert from_yaml.online_store.type == from_code.online_store.type
    assert from_yaml.offline_store.type == from_code.offline_store.type
    assert from_yaml.entity_key_serialization_version == from_code.entity_key_serialization_version


def test_feast_cli_lists_the_view_of_an_applied_store(tmp_path: Path) -> None:
    CustomerFeatureStore(FeatureStoreSettings(data_dir=tmp_path)).apply()
    result = CliRunner().invoke(
        cli,
        ["-c", str(REPO), "feature-views", "list"],
        env={"CHURN_FEATURES_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert FEATURE_VIEW_NAME in result.output


def test_repo_definitions_are_the_applied_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_FEATURES_DATA_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.chdir(REPO)
    contents = parse_repo(REPO)
    settings = FeatureStoreSettings(data_dir=tmp_path)
    # Feast adds its own placeholder entity for entity-less views.
    assert [entity for entity in contents.entities if entity.name != "__dummy"] == [customer]
    assert contents.feature_views == [customer_activity_view(offline_source(settings))]
