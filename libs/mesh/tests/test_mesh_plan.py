"""The mesh plan: every service once (predictors N times), distinct ports, the settings
env prefix each service really reads, and a configuration supervisord itself accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from mesh.plan import (
    BROKER,
    GUARD,
    MLFLOW,
    SERVICES,
    invalid_service_settings,
    mesh_environment,
    mesh_programs,
    migrate_databases,
    supervisord_config,
)
from mesh.settings import MeshSettings

ROOT = Path(__file__).resolve().parents[3]


def test_every_service_and_replica_is_planned(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path, predictor_replicas=3)
    names = [p.name for p in mesh_programs(settings)]
    assert names[:2] == [BROKER, MLFLOW]
    singles = [spec.name for spec in SERVICES if not spec.replicated]
    assert sorted(names[2:]) == sorted([*singles, "predictor-1", "predictor-2", "predictor-3"])
    assert {path.name for path in (ROOT / "services").iterdir()} == {s.name for s in SERVICES}


def test_service_default_ports_match_the_plan() -> None:
    default_base = MeshSettings.model_fields["base_port"].default
    for spec in SERVICES:
        assert spec.settings_type().model_fields["http_port"].default == (
            default_base + spec.port_offset
        ), spec.name


def test_ports_are_distinct_and_follow_settings(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path, base_port=20000, broker_port=21000)
    programs = mesh_programs(settings)
    ports = [p.port for p in programs]
    assert len(set(ports)) == len(ports)
    assert ports[0] == 21000
    assert all(20000 <= port < 20020 for port in ports[2:])
    assert ports[1] == settings.mlflow_port == 20020


def test_services_get_their_own_prefixed_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from predictor.settings import PredictorSettings

    settings = MeshSettings(home=tmp_path, broker_port=21001)
    predictor = next(p for p in mesh_programs(settings) if p.name == "predictor-2")
    for key, value in predictor.environment.items():
        monkeypatch.setenv(key, value)
    parsed = PredictorSettings()
    assert parsed.instance_id == "predictor-2"
    assert parsed.kafka_bootstrap_servers == "127.0.0.1:21001"
    assert parsed.http_port == predictor.port


def test_bad_service_settings_are_reported_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    programs = mesh_programs(MeshSettings(home=tmp_path))
    assert invalid_service_settings(programs) == []
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("INGEST_HTTP_PROT", "1")
    problems = invalid_service_settings(programs)
    assert any(line.startswith("  gateway: log_level") for line in problems), problems
    assert any("INGEST_HTTP_PROT" in line for line in problems), problems


def test_supervisord_accepts_the_configuration(tmp_path: Path) -> None:
    tmp_path = tmp_path / "a folder with spaces"
    settings = MeshSettings(home=tmp_path)
    programs = mesh_programs(settings, python=str(tmp_path / "my venv" / "python"))
    for folder in (settings.log_dir, settings.run_dir):
        folder.mkdir(parents=True)
    config = tmp_path / "supervisord.conf"
    config.write_text(
        supervisord_config(settings, programs, tmp_path, python=str(tmp_path / "my venv/py"))
    )
    options = ServerOptions()
    options.realize(args=["-c", str(config)])
    parsed = {group.name: group for group in options.process_group_configs}
    assert set(parsed) == {p.name for p in programs} | {GUARD}
    assert parsed[BROKER].process_configs[0].autorestart is False  # the guard restarts all
    predictor = parsed["predictor-1"].process_configs[0]
    assert predictor.autostart is False
    assert predictor.stopsignal == 15  # SIGTERM: drain, commit, exit
    assert predictor.environment["PREDICTOR_INSTANCE_ID"] == "predictor-1"
    assert predictor.command.startswith(f"'{tmp_path / 'my venv' / 'python'}' -m predictor")


def test_api_token_goes_only_to_services_that_take_one(tmp_path: Path) -> None:
    programs = mesh_programs(MeshSettings(home=tmp_path), api_token="s3cret")
    given = {p.name for p in programs if any(k.endswith("_API_TOKEN") for k in p.environment)}
    assert "ingest" in given
    assert "predictor-1" not in given


def test_api_token_is_generated_once_and_private(tmp_path: Path) -> None:
    from service_kit.secrets import ensure_secret_file

    path = tmp_path / "secrets" / "api-token"
    first = ensure_secret_file(path)
    assert len(first) >= 32
    assert ensure_secret_file(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("")  # a crash between create and write
    assert len(ensure_secret_file(path)) >= 32


def test_feature_store_folder_is_shared(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path)
    feature = next(p for p in mesh_programs(settings) if p.name == "feature")
    assert feature.environment["FEATURE_FEATURE_STORE_DIR"] == str(
        settings.data_dir / "feature_store"
    )


def test_mlflow_is_shared_and_runs_without_its_job_runners(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path)
    programs = {p.name: p for p in mesh_programs(settings)}
    mlflow = programs[MLFLOW]
    assert mlflow.ready_url == f"{settings.mlflow_url}/health"
    assert mlflow.environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert f"sqlite:///{settings.data_dir / 'mlflow' / 'mlflow.db'}" in mlflow.command
    given = {
        name
        for name, program in programs.items()
        if any(k.endswith("_MLFLOW_TRACKING_URI") for k in program.environment)
    }
    assert {"trainer-gpu", "registry"} <= given
    assert programs["trainer-gpu"].environment["TRAINER_MLFLOW_TRACKING_URI"] == settings.mlflow_url
    assert "ingest" not in given


def test_predictor_replicas_stop_below_the_mlflow_port() -> None:
    from pydantic import ValidationError

    settings = MeshSettings(predictor_replicas=10)
    ports = [p.port for p in mesh_programs(settings)]
    assert len(set(ports)) == len(ports)
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        MeshSettings(predictor_replicas=11)


def test_every_service_counts_in_the_same_business_day_and_the_loop_scales_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETRAIN_TRIGGER_WINDOW_DAYS", raising=False)
    compressed = MeshSettings(home=tmp_path, day_seconds=3)
    programs = [p for p in mesh_programs(compressed) if p.service is not None]
    assert {p.environment["MLOPS_DAY_SECONDS"] for p in programs} == {"3"}
    trigger = next(p for p in programs if p.name == "retrain-trigger").environment
    assert float(trigger["RETRAIN_TRIGGER_WINDOW_DAYS"]) == pytest.approx(6 * 3 / 86400, 1e-4)
    assert float(trigger["RETRAIN_TRIGGER_COOLDOWN_MINUTES"]) == pytest.approx(0.5)
    real = next(
        p for p in mesh_programs(MeshSettings(home=tmp_path)) if p.name == "retrain-trigger"
    )
    assert float(real.environment["RETRAIN_TRIGGER_WINDOW_DAYS"]) == 6
    assert invalid_service_settings(programs) == []


def test_a_loop_setting_of_the_user_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_TRIGGER_WINDOW_DAYS", "9")
    trigger = next(
        p for p in mesh_programs(MeshSettings(home=tmp_path)) if p.name == "retrain-trigger"
    )
    # Not overridden in the program's environment: supervisord passes the user's on.
    assert "RETRAIN_TRIGGER_WINDOW_DAYS" not in trigger.environment


def test_migrate_upgrades_each_service_database_once(tmp_path: Path) -> None:
    """`mlops migrate`: each service's own database (the predictor replicas share one), at
    the heads of its parts; a second run finds nothing to do."""
    settings = MeshSettings(home=tmp_path, predictor_replicas=2)
    programs = mesh_programs(settings)
    first = migrate_databases(programs)
    assert [line.split(":")[0] for line in first] == [spec.name for spec in SERVICES]
    assert all("migrated from an empty database" in line for line in first)
    assert "registry_0002" in first[0]
    assert sorted(path.name for path in settings.data_dir.glob("*/*.db")) == sorted(
        f"{spec.name}.db" for spec in SERVICES
    )
    again = migrate_databases(programs, ["trainer-gpu"])
    assert again == ["trainer-gpu: at churn_labels_0001, trainer_gpu_0002 already"]


def test_the_broker_guard_gets_settings_it_can_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = MeshSettings(
        home=tmp_path, projects=(Path("examples/churn"), tmp_path / "credit"), day_seconds=3
    )
    for name, value in mesh_environment(settings).items():
        monkeypatch.setenv(name, value)
    assert MeshSettings() == settings
