"""Every overlay renders and passes every check; the generated Kafka files are current."""

from __future__ import annotations

from pathlib import Path

import pytest
from generate import GENERATED, stale_files
from mesh_manifests.objects import Manifest, of_kind
from mesh_manifests.render import K8S_DIR, RenderError, render, render_text
from validate import main, validate_overlay


def test_the_three_overlays_exist(rendered: dict[str, list[Manifest]]) -> None:
    assert set(rendered) == {"dev", "prod", "gpu"}


@pytest.mark.parametrize("overlay", ["dev", "prod", "gpu"])
def test_overlay_passes_every_check(overlay: str) -> None:
    result = validate_overlay(K8S_DIR / "overlays" / overlay)
    assert result.objects > 50
    assert [str(finding) for finding in result.findings] == []


def test_one_file_per_service_in_the_base() -> None:
    objects = render(K8S_DIR / "base")
    for service in ("gateway", "ingest", "feature", "trainer-gpu", "registry", "predictor",
                    "monitor", "retrain-trigger"):  # fmt: skip
        kinds = {
            obj["kind"]
            for obj in objects
            if obj["metadata"].get("labels", {}).get("app.kubernetes.io/name") == service
        }
        assert {"ServiceAccount", "ConfigMap", "Deployment", "Service"} <= kinds, service
        assert (K8S_DIR / "base" / f"{service}.yaml").is_file()


def test_prod_runs_three_brokers_and_dev_one(rendered: dict[str, list[Manifest]]) -> None:
    def brokers(objects: list[Manifest]) -> int:
        return sum(
            pool["spec"]["replicas"]
            for pool in of_kind(objects, "KafkaNodePool")
            if "broker" in pool["spec"]["roles"]
        )

    assert brokers(rendered["prod"]) == 3
    assert brokers(rendered["gpu"]) == 3
    assert brokers(rendered["dev"]) == 1


def test_only_the_gpu_overlay_requests_a_gpu(rendered: dict[str, list[Manifest]]) -> None:
    def gpu_requests(objects: list[Manifest]) -> list[str]:
        return [
            obj["metadata"]["name"]
            for obj in of_kind(objects, "Deployment")
            for container in obj["spec"]["template"]["spec"]["containers"]
            if "nvidia.com/gpu" in container["resources"].get("limits", {})
        ]

    assert gpu_requests(rendered["gpu"]) == ["trainer-gpu"]
    assert gpu_requests(rendered["prod"]) == []
    assert gpu_requests(rendered["dev"]) == []


def test_a_broken_kustomization_is_a_render_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(RenderError, match=r"missing\.yaml"):
        render_text(folder)


def test_generated_kafka_files_are_current() -> None:
    assert stale_files() == []
    assert set(GENERATED) == {
        K8S_DIR / "base" / "kafka" / "topics.yaml",
        K8S_DIR / "base" / "kafka" / "users.yaml",
    }


def test_validate_prints_a_summary_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prod"]) == 0
    out = capsys.readouterr().out
    assert "overlay" in out
    assert "prod" in out
    assert "PASS" in out
    assert "k8s validation: passed" in out


def test_validate_fails_on_an_unknown_overlay() -> None:
    assert main(["no-such-overlay"]) == 1
