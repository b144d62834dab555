"""The mesh plan: every service once (predictors N times), distinct ports, the settings
env prefix each service really reads, and a configuration supervisord itself accepts."""

from __future__ import annotations

from pathlib import Path

from supervisor.options import ServerOptions

from mesh.plan import BROKER, GUARD, mesh_programs, supervisord_config
from mesh.settings import MeshSettings


def test_every_service_and_replica_is_planned(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path, predictor_replicas=3)
    names = [p.name for p in mesh_programs(settings)]
    assert names[0] == BROKER
    assert sorted(names[1:]) == sorted(
        [
            "registry",
            "feature",
            "ingest",
            "trainer-gpu",
            "monitor",
            "retrain-trigger",
            "gateway",
            "predictor-1",
            "predictor-2",
            "predictor-3",
        ]
    )


def test_ports_are_distinct_and_follow_settings(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path, base_port=20000, broker_port=21000)
    programs = mesh_programs(settings)
    ports = [p.port for p in programs]
    assert len(set(ports)) == len(ports)
    assert ports[0] == 21000
    assert all(20000 <= port < 20020 for port in ports[1:])


def test_services_get_their_own_prefixed_settings(tmp_path: Path) -> None:
    from predictor.settings import PredictorSettings

    settings = MeshSettings(home=tmp_path, broker_port=21001)
    predictor = next(p for p in mesh_programs(settings) if p.name == "predictor-2")
    parsed = PredictorSettings(
        **{
            key.removeprefix("PREDICTOR_").lower(): value
            for key, value in predictor.environment.items()
            if key.startswith("PREDICTOR_")
        }
    )
    assert parsed.instance_id == "predictor-2"
    assert parsed.kafka_bootstrap_servers == "127.0.0.1:21001"
    assert parsed.http_port == predictor.port


def test_supervisord_accepts_the_configuration(tmp_path: Path) -> None:
    settings = MeshSettings(home=tmp_path)
    programs = mesh_programs(settings)
    for folder in (settings.log_dir, settings.run_dir):
        folder.mkdir(parents=True)
    config = tmp_path / "supervisord.conf"
    config.write_text(supervisord_config(settings, programs, tmp_path))
    options = ServerOptions()
    options.realize(args=["-c", str(config)])
    parsed = {group.name: group for group in options.process_group_configs}
    assert set(parsed) == {p.name for p in programs} | {GUARD}
    assert parsed[BROKER].process_configs[0].autorestart is False  # the guard restarts all
    predictor = parsed["predictor-1"].process_configs[0]
    assert predictor.autostart is False
    assert predictor.stopsignal == 15  # SIGTERM: drain, commit, exit
    assert predictor.environment["PREDICTOR_INSTANCE_ID"] == "predictor-1"
