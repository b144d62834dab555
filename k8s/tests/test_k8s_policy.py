"""The security and reliability policy: clean overlays pass; each deliberately broken copy of
a rendered object is flagged with the rule it breaks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mesh_manifests.objects import Manifest
from mesh_manifests.policy import check_policy


def _pod(o: Manifest) -> Manifest:
    spec: Manifest = o["spec"]["template"]["spec"]
    return spec


def _main(o: Manifest) -> Manifest:
    container: Manifest = _pod(o)["containers"][0]
    return container


def test_every_overlay_follows_the_policy(rendered: dict[str, list[Manifest]]) -> None:
    for overlay, objects in rendered.items():
        assert [str(f) for f in check_policy(objects, dev=overlay == "dev")] == [], overlay


BROKEN: list[tuple[str, str, str, Callable[[Manifest], object], str]] = [
    ("root allowed", "Deployment", "predictor",
     lambda o: _pod(o)["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
    ("root user", "Deployment", "predictor",
     lambda o: _pod(o)["securityContext"].update(runAsUser=0), "runAsUser 0"),
    ("no seccomp", "Deployment", "gateway",
     lambda o: _pod(o)["securityContext"].pop("seccompProfile"), "seccompProfile"),
    ("privilege escalation", "Deployment", "gateway",
     lambda o: _main(o)["securityContext"].update(allowPrivilegeEscalation=True),
     "allowPrivilegeEscalation"),
    ("capabilities kept", "Deployment", "ingest",
     lambda o: _main(o)["securityContext"].pop("capabilities"), "drop ALL"),
    ("capability added", "Deployment", "ingest",
     lambda o: _main(o)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]), "NET_ADMIN"),
    ("writable root", "Deployment", "feature",
     lambda o: _main(o)["securityContext"].update(readOnlyRootFilesystem=False),
     "readOnlyRootFilesystem"),
    ("no /tmp", "Deployment", "feature",
     lambda o: _main(o).update(volumeMounts=[m for m in _main(o)["volumeMounts"]
                                             if m["mountPath"] != "/tmp"]), "/tmp"),
    ("host path", "Deployment", "monitor",
     lambda o: _pod(o)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    ("host network", "Deployment", "monitor",
     lambda o: _pod(o).update(hostNetwork=True), "hostNetwork"),
    ("API token mounted", "Deployment", "registry",
     lambda o: _pod(o).update(automountServiceAccountToken=True), "automountServiceAccountToken"),
    ("no limits", "Deployment", "registry",
     lambda o: _main(o)["resources"].pop("limits"), "limits lack cpu, memory"),
    ("no memory request", "Deployment", "registry",
     lambda o: _main(o)["resources"]["requests"].pop("memory"), "requests lack memory"),
    ("latest image", "Deployment", "gateway",
     lambda o: _main(o).update(image="registry.example.com/mlops/mlops-gateway:latest"),
     "not pinned"),
    ("untagged image", "Deployment", "gateway",
     lambda o: _main(o).update(image="mlops-gateway"), "not pinned"),
    ("literal password", "Deployment", "gateway",
     lambda o: _main(o)["env"].append({"name": "GATEWAY_KAFKA_SASL_PASSWORD", "value": "x"}),
     "secretKeyRef"),
    ("password in a URL", "Deployment", "gateway",
     lambda o: _main(o)["env"].append({"name": "SOME_DSN", "value": "postgresql://u:p@h/db"}),
     "password in its URL"),
    ("secret in a ConfigMap", "ConfigMap", "gateway-config",
     lambda o: o["data"].update(GATEWAY_API_TOKEN="t"), "looks secret"),
    ("capacity dropped in a rollout", "Deployment", "predictor",
     lambda o: o["spec"]["strategy"]["rollingUpdate"].update(maxUnavailable=1), "maxUnavailable 0"),
    ("recreate strategy", "Deployment", "registry",
     lambda o: o["spec"].update(strategy={"type": "Recreate"}), "maxUnavailable 0"),
    ("a second trainer during a rollout", "Deployment", "trainer-gpu",
     lambda o: o["spec"].update(
         strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
     ), "Recreate"),
    ("no readiness probe", "Deployment", "predictor",
     lambda o: _main(o).pop("readinessProbe"), "no readinessProbe"),
    ("readiness is liveness", "Deployment", "predictor",
     lambda o: _main(o)["readinessProbe"]["httpGet"].update(path="/health"), "GET /ready"),
    ("no liveness probe", "Deployment", "feature",
     lambda o: _main(o).pop("livenessProbe"), "no livenessProbe"),
    ("no drain", "Deployment", "gateway",
     lambda o: _main(o).pop("lifecycle"), "preStop"),
    ("replicas fight the autoscaler", "Deployment", "predictor",
     lambda o: o["spec"].update(replicas=3), "ScaledObject/predictor scales it"),
    ("autoscaler without target", "HorizontalPodAutoscaler", "gateway",
     lambda o: o["spec"]["scaleTargetRef"].update(name="gateway-v2"), "not rendered"),
    ("PDB that blocks drains", "PodDisruptionBudget", "ingest",
     lambda o: (o["spec"].update(minAvailable=2) and None) or o["spec"].pop("maxUnavailable"),
     "blocks every voluntary eviction"),
    ("PDB selecting nothing", "PodDisruptionBudget", "predictor",
     lambda o: o["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}),
     "no PodDisruptionBudget"),
    ("unrestricted namespace", "Namespace", "mlops",
     lambda o: o["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"), "restricted"),
    ("object outside the namespace", "Service", "gateway",
     lambda o: o["metadata"].update(namespace="default"), "not in namespace"),
    ("missing ConfigMap", "Deployment", "monitor",
     lambda o: _main(o)["envFrom"][0]["configMapRef"].update(name="nope"),
     "'nope' is not rendered"),
    ("missing ConfigMap key", "Deployment", "monitor",
     lambda o: _main(o)["env"][1]["valueFrom"]["configMapKeyRef"].update(key="nope"),
     "no key 'nope'"),
    ("missing Secret", "Deployment", "monitor",
     lambda o: _main(o)["env"][3]["valueFrom"]["secretKeyRef"].update(name="nope"),
     "neither rendered nor external"),
    ("CUDA image without GPU", "Deployment", "trainer-gpu",
     lambda o: _main(o).update(image="mlops-trainer-gpu:0.1.0-cuda"), "CUDA image without"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "kind", "name", "change", "expected"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_a_broken_manifest_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    kind: str,
    name: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    objects = mutate(rendered["prod"], kind, name, change)
    findings = [str(f) for f in check_policy(objects)]
    assert any(expected in f for f in findings), (what, findings)


GPU_BROKEN: list[tuple[str, Callable[[Manifest], object], str]] = [
    ("GPU without toleration", lambda o: _pod(o).pop("tolerations"), "toleration"),
    ("GPU without node selector", lambda o: _pod(o).pop("nodeSelector"), "nodeSelector"),
    ("GPU on the CPU image", lambda o: _main(o).update(image="mlops-trainer-gpu:0.1.0"),
     "without the CUDA image"),
    ("GPU limit != request",
     lambda o: _main(o)["resources"]["requests"].update({"nvidia.com/gpu": "2"}),
     "requests != limits"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "change", "expected"), GPU_BROKEN, ids=[b[0] for b in GPU_BROKEN])
def test_a_broken_gpu_trainer_is_flagged(
    rendered: dict[str, list[Manifest]],
    mutate: Callable[..., list[Manifest]],
    what: str,
    change: Callable[[Manifest], object],
    expected: str,
) -> None:
    objects = mutate(rendered["gpu"], "Deployment", "trainer-gpu", change)
    assert any(expected in str(f) for f in check_policy(objects)), what


def test_a_secret_outside_dev_is_flagged(rendered: dict[str, list[Manifest]]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "leaked", "namespace": "mlops"},
        "stringData": {"password": "x"},
    }
    findings = [str(f) for f in check_policy([*rendered["prod"], secret])]
    assert any("must not render Secrets" in f for f in findings)
    assert not any("must not render" in str(f) for f in check_policy(rendered["dev"], dev=True))


def test_a_generated_name_the_reference_missed_is_flagged(
    rendered: dict[str, list[Manifest]], mutate: Callable[..., list[Manifest]]
) -> None:
    # The bug kustomize makes when a component generates a Secret the base references.
    objects = mutate(
        rendered["dev"],
        "Secret",
        "mlops-datastores",
        lambda o: o["metadata"].update(name="mlops-datastores-5h2fk8d7g9"),
    )
    assert any("neither rendered nor external" in str(f) for f in check_policy(objects, dev=True))
