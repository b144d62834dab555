"""Security and reliability rules every rendered workload must follow.

Security is the restricted Pod Security Standard plus what it leaves open: a read-only root
filesystem with an emptyDir on /tmp, no service-account token, secrets only through Secrets,
requests and limits on every container, pinned images, GPUs only on the GPU pool. Reliability
is about rollouts and disruptions: maxUnavailable 0, probes, a preStop drain, and a
PodDisruptionBudget wherever more than one replica may run.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator

from mesh_manifests.objects import (
    WORKLOAD_KINDS,
    Finding,
    Manifest,
    containers,
    image_name,
    image_tag,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    ref,
    selector_matches,
)

NAMESPACE = "mlops"
MESH_IMAGE_PREFIX = "mlops-"
GPU_RESOURCE = "nvidia.com/gpu"
CUDA_TAG_SUFFIX = "-cuda"

EXTERNAL_SECRETS = frozenset({"mlops-datastores", "mlops-api-tokens"})
"""Secrets a production overlay does not render: the operator creates them (README)."""

SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|CREDENTIAL|DATABASE_URL|REDIS_URL|STORE_URL)",
    re.IGNORECASE,
)
"""Setting names whose values are secrets: they may only come from a Secret."""

CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
"""A URL with a password in it (scheme://user:password@host)."""

_CPU_MEMORY = ("cpu", "memory")


def _findings(subject: str) -> Callable[[str], Finding]:
    return lambda message: Finding("policy", subject, message)


def workloads(objects: list[Manifest]) -> list[Manifest]:
    """Every object that runs pods."""
    return [obj for obj in objects if obj.get("kind") in WORKLOAD_KINDS]


def is_mesh(container: Manifest) -> bool:
    """Whether a container runs one of the mesh's own images."""
    return image_name(str(container.get("image", ""))).startswith(MESH_IMAGE_PREFIX)


def check_pod_security(obj: Manifest) -> Iterator[Finding]:
    """Restricted Pod Security, read-only root with a writable /tmp, no API token."""
    flag = _findings(ref(obj))
    spec = pod_spec(obj)
    pod_context: Manifest = spec.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            yield flag(f"{host} is not allowed")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            yield flag(f"hostPath volume {volume.get('name')!r} is not allowed")
    if spec.get("automountServiceAccountToken") is not False:
        yield flag("automountServiceAccountToken must be false (no pod calls the API server)")
    if pod_context.get("runAsUser") == 0:
        yield flag("pod runAsUser 0 (root)")
    tmp_volumes = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
    for container in containers(obj):
        name = container.get("name")
        context: Manifest = container.get("securityContext", {})
        if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
            yield flag(f"container {name}: runAsNonRoot must be true (pod or container)")
        if context.get("runAsUser") == 0:
            yield flag(f"container {name}: runAsUser 0 (root)")
        seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            yield flag(f"container {name}: seccompProfile must be RuntimeDefault")
        if context.get("allowPrivilegeEscalation") is not False:
            yield flag(f"container {name}: allowPrivilegeEscalation must be false")
        if context.get("privileged"):
            yield flag(f"container {name}: privileged")
        capabilities: Manifest = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            yield flag(f"container {name}: capabilities must drop ALL")
        if capabilities.get("add"):
            yield flag(f"container {name}: adds capabilities {capabilities['add']}")
        if context.get("readOnlyRootFilesystem") is not True:
            yield flag(f"container {name}: readOnlyRootFilesystem must be true")
        if not any(
            mount.get("mountPath") == "/tmp" and mount.get("name") in tmp_volumes
            for mount in container.get("volumeMounts", [])
        ):
            yield flag(f"container {name}: needs an emptyDir mounted at /tmp")


def check_resources(obj: Manifest) -> Iterator[Finding]:
    """CPU and memory requests and limits on every container; GPUs requested = limited."""
    flag = _findings(ref(obj))
    for container in containers(obj):
        resources: Manifest = container.get("resources", {})
        for kind in ("requests", "limits"):
            missing = [r for r in _CPU_MEMORY if r not in resources.get(kind, {})]
            if missing:
                yield flag(f"container {container.get('name')}: {kind} lack {', '.join(missing)}")
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        if (GPU_RESOURCE in requests or GPU_RESOURCE in limits) and str(
            requests.get(GPU_RESOURCE)
        ) != str(limits.get(GPU_RESOURCE)):
            yield flag(f"container {container.get('name')}: {GPU_RESOURCE} requests != limits")


def check_images(obj: Manifest) -> Iterator[Finding]:
    """Every image pinned by a tag other than latest, or by digest."""
    flag = _findings(ref(obj))
    for container in containers(obj):
        image = str(container.get("image", ""))
        if "@sha256:" not in image and image_tag(image) in (None, "latest"):
            yield flag(f"container {container.get('name')}: image {image!r} is not pinned")


def check_gpu(obj: Manifest) -> Iterator[Finding]:
    """A GPU container runs the CUDA image on the GPU pool; the CUDA image only with a GPU."""
    flag = _findings(ref(obj))
    spec = pod_spec(obj)
    for container in containers(obj):
        wants_gpu = GPU_RESOURCE in container.get("resources", {}).get("limits", {})
        tag = image_tag(str(container.get("image", ""))) or ""
        cuda = tag.endswith(CUDA_TAG_SUFFIX)
        if wants_gpu and not cuda:
            yield flag(f"container {container.get('name')}: GPU without the CUDA image ({tag})")
        if cuda and not wants_gpu:
            yield flag(f"container {container.get('name')}: CUDA image without a GPU request")
        if wants_gpu:
            if not spec.get("nodeSelector"):
                yield flag("GPU pod needs a nodeSelector for the GPU pool")
            if not any(t.get("key") == GPU_RESOURCE for t in spec.get("tolerations", [])):
                yield flag(f"GPU pod needs a toleration for the {GPU_RESOURCE} taint")


def check_secret_env(obj: Manifest) -> Iterator[Finding]:
    """Secrets reach containers only through secretKeyRef, never as literal values."""
    flag = _findings(ref(obj))
    for container in containers(obj):
        for variable in container.get("env", []):
            name, value = variable.get("name", ""), variable.get("value")
            if value is None:
                continue
            if SECRET_NAME.search(name):
                yield flag(f"env {name} is a secret: use valueFrom.secretKeyRef")
            elif CREDENTIALS_IN_URL.search(str(value)):
                yield flag(f"env {name} has a password in its URL: use a Secret")


SINGLETONS = frozenset({"trainer-gpu"})
"""Deployments that must never run two pods at once: the trainer works through a durable
queue of training requests one at a time, and a second pod during a rolling update would
take the same request (and a second GPU)."""


def check_rollout(obj: Manifest) -> Iterator[Finding]:
    """Rolling updates that never drop capacity; probes; a preStop drain in mesh services."""
    flag = _findings(ref(obj))
    kind = obj.get("kind")
    if kind == "Deployment":
        strategy: Manifest = obj.get("spec", {}).get("strategy", {})
        rolling: Manifest = strategy.get("rollingUpdate", {})
        name = obj.get("metadata", {}).get("name")
        if name in SINGLETONS:
            if strategy.get("type") != "Recreate":
                yield flag("a singleton worker must use strategy Recreate (never two at once)")
        elif strategy.get("type", "RollingUpdate") != "RollingUpdate" or str(
            rolling.get("maxUnavailable", "25%")
        ) not in ("0", "0%"):
            yield flag("strategy must be RollingUpdate with maxUnavailable 0")
    if kind == "StatefulSet":
        update: Manifest = obj.get("spec", {}).get("updateStrategy", {})
        if update.get("type", "RollingUpdate") != "RollingUpdate":
            yield flag("updateStrategy must be RollingUpdate")
    if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return
    for container in containers(obj, init=False):
        name = container.get("name")
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in container:
                yield flag(f"container {name}: no {probe}")
        if not is_mesh(container):
            continue
        readiness = container.get("readinessProbe", {}).get("httpGet", {})
        liveness = container.get("livenessProbe", {}).get("httpGet", {})
        if readiness.get("path") != "/ready":
            yield flag(f"container {name}: readiness must be GET /ready (dependencies ready)")
        if liveness.get("path") != "/health":
            yield flag(f"container {name}: liveness must be GET /health")
        if "preStop" not in container.get("lifecycle", {}):
            yield flag(f"container {name}: no preStop hook to drain before SIGTERM")


def _autoscalers(objects: list[Manifest]) -> dict[tuple[str, str], tuple[int, int, str]]:
    """(kind, name) of each autoscaled workload -> (min, max, autoscaler)."""
    scaled: dict[tuple[str, str], tuple[int, int, str]] = {}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        spec = hpa.get("spec", {})
        target = spec.get("scaleTargetRef", {})
        scaled[(target.get("kind", ""), target.get("name", ""))] = (
            int(spec.get("minReplicas", 1)),
            int(spec.get("maxReplicas", 1)),
            ref(hpa),
        )
    for scaled_object in of_kind(objects, "ScaledObject"):
        spec = scaled_object.get("spec", {})
        target = spec.get("scaleTargetRef", {})
        scaled[(target.get("kind", "Deployment"), target.get("name", ""))] = (
            int(spec.get("minReplicaCount", 0)),
            int(spec.get("maxReplicaCount", 100)),
            ref(scaled_object),
        )
    return scaled


def check_disruption(objects: list[Manifest]) -> Iterator[Finding]:
    """Autoscalers point at real workloads, which leave spec.replicas to them; every workload
    that may run more than one replica has a PodDisruptionBudget that allows a drain."""
    scaled = _autoscalers(objects)
    for (kind, name), (_, _, scaler) in scaled.items():
        if named(objects, kind, name) is None:
            yield Finding("policy", scaler, f"scale target {kind}/{name} is not rendered")
    budgets = of_kind(objects, "PodDisruptionBudget")
    for obj in of_kind(objects, "Deployment", "StatefulSet"):
        key = (obj["kind"], obj["metadata"]["name"])
        replicas = obj.get("spec", {}).get("replicas")
        if key in scaled:
            low, high, scaler = scaled[key]
            if replicas is not None:
                yield Finding("policy", ref(obj), f"sets spec.replicas although {scaler} scales it")
        else:
            low = high = 1 if replicas is None else int(replicas)
        if high <= 1:
            continue
        matching = [
            budget
            for budget in budgets
            if selector_matches(budget.get("spec", {}).get("selector"), pod_labels(obj))
        ]
        if not matching:
            yield Finding("policy", ref(obj), f"up to {high} replicas but no PodDisruptionBudget")
        for budget in matching:
            spec = budget.get("spec", {})
            if "minAvailable" in spec and int(str(spec["minAvailable"]).rstrip("%")) >= max(low, 1):
                yield Finding("policy", ref(budget), "minAvailable blocks every voluntary eviction")


def check_namespace(objects: list[Manifest]) -> Iterator[Finding]:
    """One restricted namespace, holding every namespaced object."""
    namespaces = of_kind(objects, "Namespace")
    if [ns["metadata"]["name"] for ns in namespaces] != [NAMESPACE]:
        yield Finding("policy", "Namespace", f"render exactly one Namespace, {NAMESPACE}")
    for namespace in namespaces:
        labels = namespace["metadata"].get("labels", {})
        if labels.get("pod-security.kubernetes.io/enforce") != "restricted":
            yield Finding(
                "policy", ref(namespace), "must enforce the restricted Pod Security level"
            )
    for obj in objects:
        if obj.get("kind") != "Namespace" and obj["metadata"].get("namespace") != NAMESPACE:
            yield Finding("policy", ref(obj), f"not in namespace {NAMESPACE}")


def _secret_keys(secret: Manifest) -> set[str]:
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def secret_value(secret: Manifest, key: str) -> str | None:
    """A rendered Secret's value (decoded from data, or from stringData)."""
    if key in secret.get("stringData", {}):
        return str(secret["stringData"][key])
    if key in secret.get("data", {}):
        return base64.b64decode(secret["data"][key]).decode()
    return None


def operator_secrets(objects: list[Manifest]) -> set[str]:
    """Secrets the Strimzi operators create: one per KafkaUser, the cluster CA certificate."""
    made = {user["metadata"]["name"] for user in of_kind(objects, "KafkaUser")}
    made |= {f"{kafka['metadata']['name']}-cluster-ca-cert" for kafka in of_kind(objects, "Kafka")}
    return made


def _references(obj: Manifest) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key) of every ConfigMap and Secret a workload's pods use."""
    spec = pod_spec(obj)
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            yield "Secret", volume["secret"].get("secretName", ""), None
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"].get("name", ""), None
    for container in containers(obj):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"], None
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"], None
        for variable in container.get("env", []):
            value_from: Manifest = variable.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                key_ref = value_from["configMapKeyRef"]
                yield "ConfigMap", key_ref["name"], key_ref["key"]
            if "secretKeyRef" in value_from:
                key_ref = value_from["secretKeyRef"]
                yield "Secret", key_ref["name"], key_ref["key"]


def check_references(objects: list[Manifest]) -> Iterator[Finding]:
    """Every ConfigMap and Secret a pod uses is rendered (with the key), made by an operator,
    or one of the documented external Secrets, which must then not be rendered under a
    generated (hash-suffixed) name that the reference missed."""
    rendered_secrets = {s["metadata"]["name"]: s for s in of_kind(objects, "Secret")}
    config_maps = {c["metadata"]["name"]: c for c in of_kind(objects, "ConfigMap")}
    made = operator_secrets(objects)
    for obj in workloads(objects):
        for kind, name, key in sorted(set(_references(obj)), key=str):
            if kind == "ConfigMap":
                config_map = config_maps.get(name)
                if config_map is None:
                    yield Finding("policy", ref(obj), f"ConfigMap {name!r} is not rendered")
                elif key is not None and key not in config_map.get("data", {}):
                    yield Finding("policy", ref(obj), f"ConfigMap {name!r} has no key {key!r}")
                continue
            secret = rendered_secrets.get(name)
            if secret is not None:
                if key is not None and key not in _secret_keys(secret):
                    yield Finding("policy", ref(obj), f"Secret {name!r} has no key {key!r}")
                continue
            if name in made:
                continue
            generated = [s for s in rendered_secrets if s.startswith(f"{name}-")]
            if name in EXTERNAL_SECRETS and not generated:
                continue
            yield Finding("policy", ref(obj), f"Secret {name!r} is neither rendered nor external")


def check_config_maps(objects: list[Manifest]) -> Iterator[Finding]:
    """ConfigMaps carry no secrets: no secret-named keys, no passwords in URLs."""
    for config_map in of_kind(objects, "ConfigMap"):
        for key, value in config_map.get("data", {}).items():
            if SECRET_NAME.search(key.replace("-", "_")):
                yield Finding("policy", ref(config_map), f"key {key!r} looks secret: use a Secret")
            elif CREDENTIALS_IN_URL.search(str(value)):
                yield Finding("policy", ref(config_map), f"key {key!r} holds a password in a URL")


def check_secrets_rendered(objects: list[Manifest], *, dev: bool) -> Iterator[Finding]:
    """Outside dev no Secret is rendered: production credentials never live in git."""
    if dev:
        return
    for secret in of_kind(objects, "Secret"):
        yield Finding("policy", ref(secret), "a non-dev overlay must not render Secrets")


PER_WORKLOAD: tuple[Callable[[Manifest], Iterator[Finding]], ...] = (
    check_pod_security,
    check_resources,
    check_images,
    check_gpu,
    check_secret_env,
    check_rollout,
)
"""Rules judged on one workload at a time."""


def check_policy(objects: list[Manifest], *, dev: bool = False) -> list[Finding]:
    """Every policy finding for an overlay's objects (``dev``: the overlay may render Secrets)."""
    findings: list[Finding] = []
    for obj in workloads(objects):
        for rule in PER_WORKLOAD:
            findings.extend(rule(obj))
    findings.extend(check_disruption(objects))
    findings.extend(check_namespace(objects))
    findings.extend(check_references(objects))
    findings.extend(check_config_maps(objects))
    findings.extend(check_secrets_rendered(objects, dev=dev))
    return findings
