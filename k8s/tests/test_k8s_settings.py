"""Each mesh container's environment against its service's settings class."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mesh_manifests.objects import Manifest
from mesh_manifests.service_settings import (
    PENDING_MODULES,
    PENDING_SETTINGS,
    check_settings,
    settings_class,
)


def _main(o: Manifest) -> Manifest:
    container: Manifest = o["spec"]["template"]["spec"]["containers"][0]
    return container


def test_every_overlay_configures_its_services_validly(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        report = check_settings(objects)
        assert [str(f) for f in report.findings] == [], overlay
        # Assumptions are reported, and are exactly the pending ones the manifests use.
        assert report.assumed <= set(PENDING_SETTINGS) | {f"python -m {m}" for m in PENDING_MODULES}


def test_settings_classes_are_found_by_service_name() -> None:
    assert settings_class("retrain-trigger").__name__ == "RetrainTriggerSettings"
    assert settings_class("trainer-gpu").model_config.get("env_prefix") == "TRAINER_"


def _env(o: Manifest, name: str, value: str) -> None:
    _main(o)["env"].append({"name": name, "value": value})


BROKEN: list[tuple[str, str, str, Callable[[Manifest], object], str]] = [
    ("misspelt setting", "Deployment", "predictor",
     lambda o: _env(o, "PREDICTOR_HTTP_PROT", "1"), "PREDICTOR_HTTP_PROT is not a setting"),
    ("invalid value", "ConfigMap", "monitor-config",
     lambda o: o["data"].update(MONITOR_LOG_LEVEL="LOUD"), "MONITOR_LOG_LEVEL"),
    ("dev profile", "ConfigMap", "ingest-config",
     lambda o: o["data"].update(INGEST_PROFILE="dev"), "profile=production"),
    ("production setting left out", "Deployment", "feature",
     lambda o: _main(o).update(env=[e for e in _main(o)["env"]
                                    if e["name"] != "FEATURE_REDIS_URL"]),
     "FEATURE_REDIS_URL"),
    ("port mismatch", "Deployment", "gateway",
     lambda o: _main(o)["ports"][0].update(containerPort=8080), "!= http_port 8700"),
    ("bound to loopback", "ConfigMap", "registry-config",
     lambda o: o["data"].update(REGISTRY_HTTP_HOST="127.0.0.1"), "unreachable"),
    ("grace shorter than the drain", "Deployment", "predictor",
     lambda o: o["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=10),
     "SIGKILL would cut the drain"),
    ("someone else's password", "Deployment", "monitor",
     lambda o: _main(o)["env"][3]["valueFrom"]["secretKeyRef"].update(name="predictor"),
     "must come from Secret monitor"),
    ("no such Kafka user", "Deployment", "monitor",
     lambda o: _main(o)["env"][2].update(value="nobody"), "'nobody' is no rendered KafkaUser"),
    ("no such module", "CronJob", "retrain-schedule",
     lambda o: o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].update(
         command=["python", "-m", "retrain_trigger.nope"]), "no such module"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "kind", "name", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_a_broken_environment_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    kind: str,
    name: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    objects = mutate(rendered["prod"], kind, name, change)
    findings = [str(f) for f in check_settings(objects).findings]
    assert any(expected in f for f in findings), (what, findings)


def test_a_pending_setting_that_now_exists_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mesh_manifests.service_settings as module

    monkeypatch.setattr(module, "PENDING_SETTINGS", {**PENDING_SETTINGS, "INGEST_API_TOKEN": "x"})
    findings = [str(f) for f in check_settings(rendered["prod"]).findings]
    assert any("INGEST_API_TOKEN exists now" in f for f in findings)
