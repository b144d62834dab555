"""The environment each mesh container gets, checked against its service's settings class.

For every container running an ``mlops-<service>`` image, the environment is resolved the
way the kubelet would (literal values, ConfigMaps, the downward API; Secrets replaced by
placeholders of the right shape) and fed to ``<package>.settings``: an unknown variable, a
value the settings reject or a production setting left out is a finding. So is a container
port that is not the service's ``http_port``, a grace period shorter than the preStop pause
plus the service's own drain, and SCRAM credentials that are not one KafkaUser's.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mesh_manifests.objects import (
    Finding,
    Manifest,
    containers,
    image_name,
    named,
    of_kind,
    pod_spec,
    ref,
)
from mesh_manifests.policy import MESH_IMAGE_PREFIX, workloads
from service_kit import ServiceSettings

PENDING_SETTINGS: Mapping[str, str] = {}
"""Variables the manifests set for settings fields not written yet. Reported, not failed;
an entry whose field now exists is a finding, so this list only ever shrinks."""

PENDING_MODULES: Mapping[str, str] = {}
"""``python -m`` modules the manifests run that do not exist yet (same rules)."""

_POD_NAME = "pod-0123456789-abcde"
_PLACEHOLDER_SECRET = "placeholder-secret-value"


@dataclass
class SettingsReport:
    """Findings, and the assumptions (pending variables and modules) the manifests make."""

    findings: list[Finding] = field(default_factory=list)
    assumed: set[str] = field(default_factory=set)


def settings_class(service: str) -> type[ServiceSettings]:
    """The settings class of a service: the ServiceSettings subclass in ``<package>.settings``."""
    module = importlib.import_module(f"{service.replace('-', '_')}.settings")
    classes = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and value.__module__ == module.__name__
    ]
    if len(classes) != 1:
        raise LookupError(f"{module.__name__} defines {len(classes)} settings classes")
    return classes[0]


def _placeholder(field_name: str) -> str:
    # Secret values are not in git; a placeholder of the right shape lets the settings'
    # own validators (URL schemes, production requirements) run.
    if field_name.endswith("_url") and "redis" in field_name:
        return "redis://:placeholder@redis.example:6379/0"
    if field_name.endswith("_url"):
        return "postgresql://placeholder:placeholder@postgres.example:5432/placeholder"
    return _PLACEHOLDER_SECRET


def resolve_environment(
    container: Manifest, objects: list[Manifest], prefix: str
) -> tuple[dict[str, str], list[str]]:
    """The container's environment (secrets as placeholders) and unresolvable references."""
    environment: dict[str, str] = {}
    problems: list[str] = []
    for source in container.get("envFrom", []):
        config_ref = source.get("configMapRef")
        if config_ref is None:
            problems.append(f"envFrom {source} is not a ConfigMap")
            continue
        config_map = named(objects, "ConfigMap", config_ref["name"])
        if config_map is None:
            problems.append(f"ConfigMap {config_ref['name']!r} is not rendered")
            continue
        environment.update({k: str(v) for k, v in config_map.get("data", {}).items()})
    for variable in container.get("env", []):
        name: str = variable["name"]
        value_from: Manifest = variable.get("valueFrom", {})
        if "value" in variable:
            environment[name] = str(variable["value"])
        elif "configMapKeyRef" in value_from:
            key_ref = value_from["configMapKeyRef"]
            config_map = named(objects, "ConfigMap", key_ref["name"])
            data = config_map.get("data", {}) if config_map else {}
            if key_ref["key"] not in data:
                problems.append(f"{name}: ConfigMap {key_ref['name']}/{key_ref['key']} missing")
                continue
            environment[name] = str(data[key_ref["key"]])
        elif "secretKeyRef" in value_from:
            field_name = name.removeprefix(prefix).lower()
            environment[name] = _placeholder(field_name)
        elif "fieldRef" in value_from:
            environment[name] = _POD_NAME
        else:
            problems.append(f"{name}: unsupported valueFrom {sorted(value_from)}")
    return environment, problems


def _module_of(container: Manifest) -> str | None:
    command = [str(part) for part in container.get("command", [])]
    if len(command) >= 3 and command[0].startswith("python") and command[1] == "-m":
        return command[2]
    return None


def _check_container(
    obj: Manifest, container: Manifest, objects: list[Manifest], report: SettingsReport
) -> None:
    subject = f"{ref(obj)}[{container.get('name')}]"

    def flag(message: str) -> None:
        report.findings.append(Finding("settings", subject, message))

    service = image_name(str(container["image"])).removeprefix(MESH_IMAGE_PREFIX)
    try:
        cls = settings_class(service)
    except (ImportError, LookupError) as error:
        flag(f"no settings for service {service!r}: {error}")
        return
    prefix = str(cls.model_config.get("env_prefix", ""))
    environment, problems = resolve_environment(container, objects, prefix)
    for problem in problems:
        flag(problem)
    fields = set(cls.model_fields)
    values: dict[str, Any] = {}
    for name, value in sorted(environment.items()):
        if not name.startswith(prefix):
            continue
        field_name = name.removeprefix(prefix).lower()
        if field_name in fields:
            if name in PENDING_SETTINGS:
                flag(f"{name} exists now: remove it from PENDING_SETTINGS")
            values[field_name] = value
        elif name in PENDING_SETTINGS:
            report.assumed.add(name)
        else:
            flag(f"{name} is not a setting of {cls.__name__}")
    try:
        settings = cls(**values)
    except ValidationError as error:
        for detail in error.errors():
            where = ".".join(str(part) for part in detail["loc"])
            what = f"{prefix}{where.upper()}" if where else "the environment"
            flag(f"{cls.__name__} rejects {what}: {detail['msg']}")
        return
    module = _module_of(container)
    if module is not None:
        exists = importlib.util.find_spec(module) is not None
        if module in PENDING_MODULES:
            if exists:
                flag(f"module {module} exists now: remove it from PENDING_MODULES")
            report.assumed.add(f"python -m {module}")
        elif not exists:
            flag(f"python -m {module}: no such module")
    if obj.get("kind") == "Deployment":
        _check_serving(obj, container, settings, flag)
    _check_kafka_credentials(container, objects, prefix, flag)


def _check_serving(
    obj: Manifest, container: Manifest, settings: ServiceSettings, flag: Any
) -> None:
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    if ports.get("http") != settings.http_port:
        flag(f"container port 'http' {ports.get('http')} != http_port {settings.http_port}")
    if settings.http_host not in ("0.0.0.0", "::"):
        flag(f"http_host {settings.http_host} is unreachable from outside the pod")
    if settings.profile != "production":
        flag(f"profile {settings.profile}: a cluster runs profile=production")
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    pause = int(pre_stop.get("seconds", 0))
    grace = int(pod_spec(obj).get("terminationGracePeriodSeconds", 30))
    if grace < pause + settings.shutdown_grace_s + 1:
        flag(
            f"terminationGracePeriodSeconds {grace} < preStop {pause} s + "
            f"shutdown_grace_s {settings.shutdown_grace_s:g} s: SIGKILL would cut the drain"
        )


def _check_kafka_credentials(
    container: Manifest, objects: list[Manifest], prefix: str, flag: Any
) -> None:
    env = {variable["name"]: variable for variable in container.get("env", [])}
    username = env.get(f"{prefix}KAFKA_SASL_USERNAME", {}).get("value")
    password_ref = (
        env.get(f"{prefix}KAFKA_SASL_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
    )
    if username is None or named(objects, "KafkaUser", str(username)) is None:
        flag(f"{prefix}KAFKA_SASL_USERNAME {username!r} is no rendered KafkaUser")
    elif password_ref.get("name") != username or password_ref.get("key") != "password":
        flag(f"{prefix}KAFKA_SASL_PASSWORD must come from Secret {username}, key password")


def mesh_containers(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, container) for every container running a mesh image."""
    for obj in workloads(objects):
        for container in containers(obj):
            if image_name(str(container.get("image", ""))).startswith(MESH_IMAGE_PREFIX):
                yield obj, container


def check_settings(objects: list[Manifest]) -> SettingsReport:
    """Settings findings and assumptions for every mesh container of an overlay."""
    report = SettingsReport()
    for obj, container in mesh_containers(objects):
        _check_container(obj, container, objects, report)
    if not of_kind(objects, "Deployment"):
        report.findings.append(Finding("settings", "overlay", "renders no Deployment"))
    return report
