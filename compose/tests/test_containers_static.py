"""Offline checks of the container build and the compose files (no engine needed).

Dockerfiles: multi-stage on a ``BASE_IMAGE`` argument, dependencies before code, exactly the
parts the service needs, a numeric non-root user, a HEALTHCHECK on ``/ready``, exec-form
entry point. Compose: every reference resolves, every variable is in ``.env.example``, and
each service's environment is accepted by its settings class, as ``k8s/validate.py`` does
for the manifests (production in docker-compose.yml, the podman override's dev profile).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
PACKAGES = {name: name.replace("-", "_") for name in SERVICES}
MESH_IMAGE = re.compile(r"^mlops-(?P<service>[a-z-]+):")
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


parts = _module(COMPOSE / "images" / "parts.py")


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


# ---------------------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_multi_stage_dockerfile_on_the_base_image_argument(
    service: str,
) -> None:
    instructions = _instructions(ROOT / "services" / service / "Dockerfile")
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS deps", "deps AS build", "${BASE_IMAGE} AS runtime"]


@pytest.mark.parametrize("service", SERVICES)
def test_the_runtime_stage_is_non_root_with_healthcheck_and_exec_form_entrypoint(
    service: str,
) -> None:
    final = _final_stage(_instructions(ROOT / "services" / service / "Dockerfile"))
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric uid (runAsNonRoot can check it)"
    assert int(uid) != 0, "the runtime user must not be root"
    healthchecks = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    command = json.loads(healthchecks[0].split(" CMD ", 1)[1])
    assert command[-1] == "/ready"
    entrypoint = json.loads(next(rest for keyword, rest in final if keyword == "ENTRYPOINT"))
    assert entrypoint == ["python3", "-m", PACKAGES[service]]
    assert importlib.util.find_spec(PACKAGES[service]) is not None


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_and_expose_use_the_settings_http_port(service: str) -> None:
    final = _final_stage(_instructions(ROOT / "services" / service / "Dockerfile"))
    settings = _settings_class(service)
    prefix = settings.model_config["env_prefix"]
    port = settings.model_fields["http_port"].default
    assert ("EXPOSE", str(port)) in final
    healthcheck = next(rest for keyword, rest in final if keyword == "HEALTHCHECK")
    assert json.loads(healthcheck.split(" CMD ", 1)[1])[-3:-1] == [prefix, str(port)]


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_copies_exactly_the_parts_the_service_needs(service: str, tmp_path: Path) -> None:
    """The pyprojects copied before the dependency install, and the sources copied after
    it, are the service's closure over its ``mlops-*`` dependencies (nothing more)."""
    instructions = _instructions(ROOT / "services" / service / "Dockerfile")
    copies = [rest.split() for keyword, rest in instructions if keyword == "COPY"]
    pyprojects = {
        src.removesuffix("/pyproject.toml")
        for c in copies
        for src in c[:-1]
        if src.endswith("pyproject.toml")
    }
    sources = {c[0].removesuffix("/src") for c in copies if c[0].endswith("/src")}
    for folder in pyprojects:  # the same layout parts.py sees in the build
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "pyproject.toml").write_text(
            (ROOT / folder / "pyproject.toml").read_text()
        )
    folders, _ = parts.closure(tmp_path)
    needed = {str(folder.relative_to(tmp_path)) for folder in folders}
    assert pyprojects == needed
    assert sources == needed
    install = next(
        i for i, (k, rest) in enumerate(instructions) if "requirements.txt" in rest and k == "RUN"
    )
    first_source = next(
        i for i, (k, rest) in enumerate(instructions) if k == "COPY" and "/src " in rest
    )
    assert install < first_source, "dependencies must be installed before code is copied"


def test_parts_reads_a_missing_local_dependency_as_an_error(tmp_path: Path) -> None:
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "services" / "x" / "pyproject.toml").write_text(
        '[project]\nname = "mlops-x"\ndependencies = ["mlops-contracts", "numpy>=2"]\n'
    )
    with pytest.raises(SystemExit, match="mlops-contracts"):
        parts.closure(tmp_path)


def test_dockerignore_lets_through_what_the_dockerfiles_copy() -> None:
    allowed = [
        line[1:]
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    patterns = [re.compile("^" + re.escape(a).replace(r"\*", "[^/]+") + "(/|$)") for a in allowed]
    dockerfiles = [ROOT / "services" / s / "Dockerfile" for s in SERVICES]
    dockerfiles.append(COMPOSE / "mlflow" / "Dockerfile")
    for dockerfile in dockerfiles:
        for keyword, rest in _instructions(dockerfile):
            if keyword != "COPY" or rest.startswith("--from"):
                continue
            for source in rest.split()[:-1]:
                assert any(p.match(source) for p in patterns), f"{dockerfile}: {source} ignored"


# ---------------------------------------------------------------------------- compose


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _merge(base: Any, override: Any) -> Any:
    """Docker Compose's merge for what the override uses: maps merged, the rest replaced
    (ports and volumes are appended)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in ("ports", "volumes") and isinstance(value, list):
                merged[key] = [*base.get(key, []), *value]
            else:
                merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override


def _interpolate(value: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group("op") == "-":
            return match.group("arg")
        return "placeholder-secret"

    return VARIABLE.sub(substitute, value)


def _settings_class(service: str) -> Any:
    """The ServiceSettings subclass defined in ``<package>.settings``."""
    from service_kit import ServiceSettings

    module = importlib.import_module(f"{PACKAGES[service]}.settings")
    (cls,) = (
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceSettings)
        and value.__module__ == module.__name__
    )
    return cls


BASE = _load(COMPOSE / "docker-compose.yml")
PODMAN = _merge(BASE, _load(COMPOSE / "podman" / "docker-compose.podman.yml"))
GPU = _merge(BASE, _load(COMPOSE / "docker-compose.gpu.yml"))
MESH_SERVICES = {
    name: MESH_IMAGE.match(spec["image"]).group("service")  # type: ignore[union-attr]
    for name, spec in BASE["services"].items()
    if MESH_IMAGE.match(spec.get("image", ""))
    and "entrypoint" not in spec
    and MESH_IMAGE.match(spec["image"]).group("service") in SERVICES  # type: ignore[union-attr]
}


def test_compose_runs_every_service_and_two_predictor_replicas() -> None:
    assert sorted(set(MESH_SERVICES.values())) == SERVICES
    replicas = [name for name, service in MESH_SERVICES.items() if service == "predictor"]
    assert sorted(replicas) == ["predictor-1", "predictor-2"]
    for name in ("kafka", "postgres", "redis", "mlflow", "prometheus", "grafana", "topics"):
        assert name in BASE["services"]


@pytest.mark.parametrize("document", [BASE, PODMAN, GPU], ids=["base", "podman", "gpu"])
def test_references_resolve(document: dict[str, Any]) -> None:
    services = document["services"]
    volumes = set(document.get("volumes", {}))
    networks = set(document.get("networks", {}))
    for name, spec in services.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            )
            if condition["condition"] == "service_healthy":
                target = services[dependency]
                has_own = "healthcheck" in target and not target["healthcheck"].get("disable")
                built_here = MESH_IMAGE.match(target.get("image", ""))
                assert has_own or built_here, f"{dependency} has no healthcheck"
        for mount in spec.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name}: volume {source} not declared"
            else:
                assert (COMPOSE / source).exists() or (COMPOSE / "podman" / source).exists()
        for network in spec.get("networks", []):
            assert network in networks


def test_every_variable_is_in_the_env_example_and_no_secret_is_committed() -> None:
    example = dict(
        line.split("=", 1)
        for line in (COMPOSE / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    text = (COMPOSE / "docker-compose.yml").read_text()
    required = {m.group("name") for m in VARIABLE.finditer(text) if m.group("op") == "?"}
    assert required <= set(example), f"missing in .env.example: {required - set(example)}"
    for name in required:
        assert example[name] == "generate-me", f"{name} must be a placeholder"
    for secret in ("PASSWORD", "TOKEN"):
        for match in re.finditer(rf"[A-Z_]*{secret}[A-Z_]*: (\S+)", text):
            assert match.group(1).startswith("${"), f"literal secret: {match.group(0)}"


@pytest.mark.parametrize(
    ("document", "profile"), [(BASE, "production"), (PODMAN, "dev")], ids=["base", "podman"]
)
@pytest.mark.parametrize("name", sorted(MESH_SERVICES))
def test_each_service_environment_is_accepted_by_its_settings(
    document: dict[str, Any], profile: str, name: str
) -> None:
    spec = document["services"][name]
    cls = _settings_class(MESH_SERVICES[name])
    prefix = cls.model_config["env_prefix"]
    environment = {key: _interpolate(str(value)) for key, value in spec["environment"].items()}
    values = {}
    for key, value in environment.items():
        assert key.startswith(prefix), f"{key}: not a {prefix} setting"
        field = key.removeprefix(prefix).lower()
        assert field in cls.model_fields, f"{key} is not a setting of {cls.__name__}"
        values[field] = value
    try:
        settings = cls(http_host="0.0.0.0", **values)
    except ValidationError as error:
        pytest.fail(f"{name}: {cls.__name__} rejects its environment: {error}")
    assert settings.profile == profile
    assert settings.instance_id == name  # replica ids: one consumer group per predictor
    published = [p.rsplit(":", 1)[1] for p in spec.get("ports", [])]
    assert published[:1] == [str(settings.http_port)]
    grace = float(str(spec["stop_grace_period"]).removesuffix("s"))
    assert grace >= settings.shutdown_grace_s + 5


def test_prometheus_scrapes_every_service_replica() -> None:
    config = _load(COMPOSE / "prometheus" / "prometheus.yml")
    targets = {
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    }
    expected = set()
    for name, service in MESH_SERVICES.items():
        port = _settings_class(service).model_fields["http_port"].default
        expected.add(f"{name}:{port}")
    assert targets == expected
    rules = [
        r["alert"]
        for g in _load(COMPOSE / "prometheus" / "alerts.yml")["groups"]
        for r in g["rules"]
    ]
    assert {"DatasetDrift", "GatewayErrorRate"} <= set(rules)


def test_grafana_is_provisioned_with_the_loop_dashboard() -> None:
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "mlops-loop.json").read_text())
    assert dashboard["panels"]
    datasource = _load(COMPOSE / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = datasource["datasources"][0]["uid"]
    assert all(panel["datasource"]["uid"] == uid for panel in dashboard["panels"])


def test_gpu_override_reserves_a_gpu_for_the_trainer_only() -> None:
    override = _load(COMPOSE / "docker-compose.gpu.yml")["services"]
    assert list(override) == ["trainer-gpu"]
    devices = override["trainer-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert devices[0]["driver"] == "nvidia"


def test_scripts_are_valid_bash() -> None:
    for script in (*(COMPOSE / "podman").glob("*.sh"), COMPOSE / "new-env.sh"):
        assert script.read_text().startswith("#!/usr/bin/env bash\n"), script
        subprocess.run(["bash", "-n", str(script)], check=True)
