"""Offline checks of the container build and the compose files (no engine needed).

Images: every service image is built from the one ``compose/images/Dockerfile`` with the
service's build arguments (SERVICE, ENV_PREFIX, HTTP_PORT) as docker-compose.yml and
podman/build-images.sh pass them. For each service the Dockerfile is evaluated here as a
builder would with those arguments (ARG scope per stage, ENV, variables in COPY/ENV/EXPOSE),
and the result must be what a hand-written Dockerfile of that service used to guarantee:
multi-stage on a ``BASE_IMAGE`` argument, dependencies before code, exactly the parts the
service needs (parts.py's closure, run on the copied layout), a numeric non-root user, a
HEALTHCHECK on ``/ready`` on the settings' port, an exec-form entry point that runs the
service's package. Compose: every reference resolves, every variable is in ``.env.example``,
and each service's environment is accepted by its settings class, as ``k8s/validate.py``
does for the manifests (production in docker-compose.yml, the podman override's dev profile).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
IMAGES = COMPOSE / "images"
DOCKERFILE = IMAGES / "Dockerfile"
DOCKERFILE_IN_REPO = DOCKERFILE.relative_to(ROOT).as_posix()
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))
PACKAGES = {name: name.replace("-", "_") for name in SERVICES}
MESH_IMAGE = re.compile(r"^mlops-(?P<service>[a-z-]+):")
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")
# The per-service build arguments of the one Dockerfile (BASE_IMAGE and the pip/torch ones
# are the same for every service).
SERVICE_BUILD_ARGS = ("SERVICE", "ENV_PREFIX", "HTTP_PORT", "NVIDIA_VISIBLE_DEVICES")
ENTRYPOINT_SCRIPT = "/usr/local/lib/mlops/entrypoint.py"
HEALTHCHECK_SCRIPT = "/usr/local/lib/mlops/healthcheck.py"


def _module(path: Path) -> ModuleType:
    name = f"compose_images_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


parts = _module(IMAGES / "parts.py")
healthcheck = _module(IMAGES / "healthcheck.py")
entrypoint = _module(IMAGES / "entrypoint.py")


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


# ------------------------------------------------------------ the Dockerfile, as built

# A variable in a Dockerfile word: ${NAME}, ${NAME:-default}, ${NAME:+alternative}, $NAME.
_WORD_VARIABLE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
# What the base image's environment brings (ENV PATH=...:$PATH refers to it).
_BASE_IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
# Instructions whose arguments a builder expands (RUN is left to the shell; the exec form of
# ENTRYPOINT, CMD and HEALTHCHECK is never expanded).
_EXPANDED = {"FROM", "COPY", "ADD", "ENV", "EXPOSE", "USER", "WORKDIR", "LABEL", "STOPSIGNAL"}


@dataclass
class Stage:
    """One build stage as a builder sees it with given build arguments."""

    name: str
    base: str
    env: dict[str, str]
    """The stage's environment at its end (inherited from a stage it is built on)."""
    instructions: list[tuple[str, str]] = field(default_factory=list)
    """Its instructions after FROM, with the builder's variable expansion applied."""
    args: dict[str, str | None] = field(default_factory=dict)
    """The ARGs declared in it, with their values (None: declared, no value)."""
    undeclared: set[str] = field(default_factory=set)
    """Variables used but neither declared by ARG in this stage nor set by ENV."""


def _build(dockerfile: Path, build_args: dict[str, str]) -> list[Stage]:
    """Evaluate ``dockerfile`` as ``docker build --build-arg K=V ...`` would: ARG scoping
    (global ARGs only for FROM, each stage declares its own), ENV, and the expansion of
    variables in the instructions that support it."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []

    def expand(word: str, stage: Stage | None) -> str:
        if stage is None:
            values: dict[str, str | None] = dict(global_args)
        else:
            values = {**stage.args, **stage.env}

        def substitute(match: re.Match[str]) -> str:
            name = match.group("braced") or match.group("bare")
            if name not in values and stage is not None:
                stage.undeclared.add(name)
            value = values.get(name)
            if match.group("op") == "-":
                return value if value else match.group("arg")
            if match.group("op") == "+":
                return match.group("arg") if value else ""
            return value or ""

        return _WORD_VARIABLE.sub(substitute, word)

    for keyword, rest in _instructions(dockerfile):
        stage = stages[-1] if stages else None
        if keyword == "ARG":
            name, has_default, default = rest.partition("=")
            value = build_args.get(name, default if has_default else None)
            if stage is None:
                global_args[name] = value or ""
            else:
                if value is None and name in global_args:
                    value = global_args[name]
                stage.args[name] = value
            continue
        if keyword == "FROM":
            base, _, name = expand(rest, None).partition(" AS ")
            parent = next((s for s in stages if s.name == base), None)
            env = dict(parent.env) if parent else dict(_BASE_IMAGE_ENV)
            stages.append(Stage(name=name, base=base, env=env))
            continue
        assert stage is not None, f"{keyword} before the first FROM"
        if keyword == "ENV":
            assignments = [word.partition("=") for word in shlex.split(rest)]
            assert all(sep for _, sep, _ in assignments), f"ENV {rest}: use KEY=VALUE"
            expanded = [(expand(k, stage), expand(v, stage)) for k, _, v in assignments]
            stage.env.update(expanded)
            stage.instructions.append((keyword, " ".join(f"{k}={v}" for k, v in expanded)))
        elif keyword in _EXPANDED:
            stage.instructions.append((keyword, " ".join(expand(w, stage) for w in rest.split())))
        else:
            stage.instructions.append((keyword, rest))
    return stages


def _compose_build(document: dict[str, Any], service: str) -> dict[str, Any]:
    """The ``build`` of the one compose service that builds ``mlops-<service>``."""
    (build,) = (
        spec["build"]
        for spec in document["services"].values()
        if "build" in spec
        and MESH_IMAGE.match(spec.get("image", ""))
        and MESH_IMAGE.match(spec["image"]).group("service") == service  # type: ignore[union-attr]
    )
    built: dict[str, Any] = build
    return built


def _build_args(document: dict[str, Any], service: str) -> dict[str, str]:
    """The build arguments compose passes for ``mlops-<service>``, interpolated."""
    args = _compose_build(document, service).get("args", {})
    return {key: _interpolate(str(value)) for key, value in args.items()}


@dataclass
class Image:
    """One service image: the Dockerfile evaluated with that service's compose build args."""

    service: str
    build_args: dict[str, str]
    stages: dict[str, Stage]

    @property
    def runtime(self) -> Stage:
        return self.stages["runtime"]

    def one(self, stage: str, keyword: str) -> str:
        (rest,) = (r for k, r in self.stages[stage].instructions if k == keyword)
        return rest


def _image(service: str, document: dict[str, Any] | None = None) -> Image:
    build_args = _build_args(BASE if document is None else document, service)
    stages = _build(DOCKERFILE, build_args)
    return Image(service, build_args, {s.name: s for s in stages})


def _cuda(service: str) -> bool:
    """Whether the service's settings accept ``device=cuda`` (it may run on a GPU)."""
    device = _settings_class(service).model_fields.get("device")
    return device is not None and "cuda" in typing.get_args(device.annotation)


def _repository_closure(service: str) -> tuple[list[str], list[str]]:
    """The service's parts (repository-relative folders, dependencies first) and their
    third-party requirements, from the repository's own pyprojects."""
    pyprojects = [
        ROOT / "contracts" / "pyproject.toml",
        *sorted((ROOT / "libs").glob("*/pyproject.toml")),
        *sorted((ROOT / "services").glob("*/pyproject.toml")),
    ]
    name = _load_toml(ROOT / "services" / service / "pyproject.toml")["project"]["name"]
    folders, requirements = parts.resolve(parts.read_projects(pyprojects), name)
    return [folder.relative_to(ROOT).as_posix() for folder in folders], requirements


def _load_toml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = tomllib.loads(path.read_text())
    return loaded


def _copies(stage: Stage) -> list[list[str]]:
    """The stage's COPY instructions from the build context: [sources..., destination]."""
    return [
        rest.split()
        for keyword, rest in stage.instructions
        if keyword == "COPY" and not rest.startswith("--")
    ]


def _replay_copies(stage: Stage, root: Path, workdir: str) -> None:
    """Do the stage's context COPYs under ``root``, which stands for ``workdir``: files are
    copied from the repository, folders only created (parts.py reads no code)."""
    for *sources, destination in _copies(stage):
        relative = destination.removeprefix(workdir) if destination.startswith("/") else destination
        target = root / relative.lstrip("/")
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif destination.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target / origin.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target)


# ---------------------------------------------------------------------------- images


def test_every_service_image_is_built_from_the_one_dockerfile() -> None:
    leftovers = [s for s in SERVICES if (ROOT / "services" / s / "Dockerfile").exists()]
    assert not leftovers, (
        f"services/<name>/Dockerfile of {leftovers}: every service image is built from "
        f"{DOCKERFILE_IN_REPO} (build arguments pick the service); remove them"
    )
    for document in (BASE, GPU):
        for service in SERVICES:
            build = _compose_build(document, service)
            assert build["context"] == ".."
            assert build["dockerfile"] == DOCKERFILE_IN_REPO


def test_the_dockerfile_is_multi_stage_on_the_base_image_argument() -> None:
    instructions = _instructions(DOCKERFILE)
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE} AS deps", "deps AS build", "${BASE_IMAGE} AS runtime"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_is_multi_stage_on_its_base_image_argument(service: str) -> None:
    image = _image(service)
    assert image.build_args["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    bases = [(stage.name, stage.base) for stage in image.stages.values()]
    assert bases == [
        ("deps", image.build_args["BASE_IMAGE"]),
        ("build", "deps"),
        ("runtime", image.build_args["BASE_IMAGE"]),
    ]
    for stage in image.stages.values():
        # A variable a stage does not declare expands to nothing: ARG in every stage.
        assert not stage.undeclared, f"{stage.name} uses {stage.undeclared} without an ARG"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_builds_each_image_with_the_service_and_its_settings(service: str) -> None:
    settings = _settings_class(service)
    expected = {
        "SERVICE": service,
        "ENV_PREFIX": settings.model_config["env_prefix"],
        "HTTP_PORT": str(settings.model_fields["http_port"].default),
    }
    if _cuda(service):  # the NVIDIA toolkit exposes a GPU when the container gets one
        expected["NVIDIA_VISIBLE_DEVICES"] = "all"
    for document in (BASE, GPU):
        args = _build_args(document, service)
        assert {k: v for k, v in args.items() if k in SERVICE_BUILD_ARGS} == expected
        assert args["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    if not _cuda(service):
        assert _image(service).runtime.env["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_the_gpu_override_builds_the_cuda_trainer_with_all_its_arguments() -> None:
    """The override names every build argument itself: the image does not depend on how an
    engine merges ``build.args`` of two files."""
    base = _compose_build(BASE, "trainer-gpu")["args"]
    own = _load(COMPOSE / "docker-compose.gpu.yml")["services"]["trainer-gpu"]["build"]["args"]
    assert set(base) <= set(own)
    assert {k: str(v) for k, v in own.items() if k in base} == {k: str(v) for k, v in base.items()}
    assert own["TORCH_INDEX_URL"] == "https://pypi.org/simple"
    image = _image("trainer-gpu", GPU)
    assert image.runtime.env["NVIDIA_VISIBLE_DEVICES"] == "all"


def test_build_images_sh_passes_the_compose_build_arguments() -> None:
    """podman (make test-containers) builds each image with the arguments compose uses."""
    script = (COMPOSE / "podman" / "build-images.sh").read_text()
    listed = re.search(r"^SERVICES=\((?P<names>[^)]*)\)", script, re.MULTILINE)
    assert listed is not None
    assert sorted(listed.group("names").split()) == SERVICES
    table = {
        m.group("service"): dict(pair.split("=", 1) for pair in m.group("pairs").split())
        for m in re.finditer(
            r'^\s*\[(?P<service>[a-z-]+)\]="(?P<pairs>[^"]*)"$', script, re.MULTILINE
        )
    }
    assert sorted(table) == SERVICES
    for service in SERVICES:
        compose = {k: v for k, v in _build_args(BASE, service).items() if k != "BASE_IMAGE"}
        assert {"SERVICE": service, **table[service]} == compose, service
    assert f"-f {DOCKERFILE_IN_REPO} ." in script


@pytest.mark.parametrize("service", SERVICES)
def test_the_runtime_stage_is_non_root_with_healthcheck_and_exec_form_entrypoint(
    service: str,
) -> None:
    image = _image(service)
    final = image.runtime.instructions
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric uid (runAsNonRoot can check it)"
    assert int(uid) != 0, "the runtime user must not be root"
    healthchecks = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    command = json.loads(healthchecks[0].split(" CMD ", 1)[1])
    assert command[:2] == ["python3", HEALTHCHECK_SCRIPT]
    assert command[-1] == "/ready"
    assert image.one("runtime", "STOPSIGNAL") == "SIGTERM"
    # Exec form (python is PID 1 and gets SIGTERM): a JSON array, never expanded, so the
    # service comes from the image's environment, which entrypoint.py reads.
    entrypoint_form = image.one("runtime", "ENTRYPOINT")
    assert json.loads(entrypoint_form) == ["python3", ENTRYPOINT_SCRIPT]
    assert "$" not in entrypoint_form
    assert "$" not in healthchecks[0]
    scripts = {
        destination.rstrip("/") + "/" + Path(source).name: source
        for *sources, destination in _copies(image.runtime)
        for source in sources
    }
    assert scripts[ENTRYPOINT_SCRIPT] == "compose/images/entrypoint.py"
    assert scripts[HEALTHCHECK_SCRIPT] == "compose/images/healthcheck.py"
    assert image.runtime.env["MLOPS_SERVICE"] == service
    package = entrypoint.package(image.runtime.env)
    assert package == PACKAGES[service]
    assert importlib.util.find_spec(f"{package}.__main__") is not None, "not runnable by -m"


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_and_expose_use_the_settings_http_port(service: str) -> None:
    image = _image(service)
    settings = _settings_class(service)
    prefix = settings.model_config["env_prefix"]
    port = settings.model_fields["http_port"].default
    assert ("EXPOSE", str(port)) in image.runtime.instructions
    env = image.runtime.env
    assert env[f"{prefix}HTTP_HOST"] == "0.0.0.0"
    assert env[f"{prefix}HTTP_PORT"] == str(port)
    assert env[f"{prefix}DATA_DIR"] == "/var/lib/mlops"
    assert (env["MLOPS_ENV_PREFIX"], env["MLOPS_HTTP_PORT"]) == (prefix, str(port))
    assert env["HOME"] == "/tmp"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # The image's own settings are settings of the service.
    own = {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    assert set(own) <= set(settings.model_fields)
    settings(**own)
    # What the HEALTHCHECK probes, in the image's environment and with a port moved by the
    # container's environment (as the service itself reads it).
    healthcheck_form = image.one("runtime", "HEALTHCHECK")
    arguments = json.loads(healthcheck_form.split(" CMD ", 1)[1])[2:]
    assert healthcheck.url(arguments, env) == f"http://127.0.0.1:{port}/ready"
    moved = {**env, f"{prefix}HTTP_PORT": "9999"}
    assert healthcheck.url(arguments, moved) == "http://127.0.0.1:9999/ready"


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_installs_exactly_the_parts_the_service_needs(
    service: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replays the deps and build stages' COPYs and parts.py calls: the third-party
    requirements installed and the parts built are the service's closure over its
    ``mlops-*`` dependencies (nothing more), dependencies before code, and the runtime
    image gets only the two folders."""
    image = _image(service)
    deps, build = image.stages["deps"], image.stages["build"]
    needed, requirements = _repository_closure(service)
    workdir = image.one("deps", "WORKDIR")
    assert workdir == "/src"
    # deps: the pyprojects, no code; parts.py picks the service's requirements.
    assert not [c for c in _copies(deps) if any(s.endswith("/src") for s in c[:-1])]
    _replay_copies(deps, tmp_path, workdir)
    (install,) = (r for k, r in deps.instructions if k == "RUN")
    assert 'python3 parts.py requirements /src "$SERVICE"' in install
    assert "-r requirements.txt" in install
    assert deps.args.get("SERVICE") == service
    torch_index = deps.args["TORCH_INDEX_URL"]
    assert torch_index
    parts.main(
        ["parts.py", "requirements", str(tmp_path), service, "--torch-index-url", torch_index]
    )
    installed = capsys.readouterr().out.splitlines()
    torch = any(parts.requirement_name(r) == "torch" for r in requirements)
    assert installed == ([f"--extra-index-url {torch_index}"] if torch else []) + requirements
    # build: the sources after the install; parts.py picks the service's parts.
    _replay_copies(build, tmp_path, workdir)
    (wheels,) = (r for k, r in build.instructions if k == "RUN")
    assert 'python3 parts.py folders /src "$SERVICE" > folders.txt' in wheels
    assert "xargs -a folders.txt" in wheels
    assert build.args.get("SERVICE") == service
    parts.main(["parts.py", "folders", str(tmp_path), service])
    built = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert [folder.relative_to(tmp_path).as_posix() for folder in built] == needed
    # runtime: only /opt/venv (the requirements) and /opt/app (the parts' wheels).
    from_stages = [
        rest.split()
        for keyword, rest in image.runtime.instructions
        if keyword == "COPY" and rest.startswith("--from=")
    ]
    assert from_stages == [
        ["--from=deps", "/opt/venv", "/opt/venv"],
        ["--from=build", "/opt/app", "/opt/app"],
    ]
    assert all(s.startswith("compose/images/") for c in _copies(image.runtime) for s in c[:-1])


def test_the_dockerfile_copies_exactly_the_parts_the_services_need() -> None:
    """The pyprojects copied before the dependency install, and the sources copied after it,
    are the parts of at least one service's closure (a part one needs is there; nothing else
    is copied), and the install runs before any code is copied."""
    image = _image(SERVICES[0])
    needed = {folder for service in SERVICES for folder in _repository_closure(service)[0]}
    pyprojects = {
        source.removesuffix("/pyproject.toml")
        for copy in _copies(image.stages["deps"])
        for source in copy[:-1]
        if source.endswith("pyproject.toml")
    }
    sources = {
        copy[0].removesuffix("/src")
        for copy in _copies(image.stages["build"])
        if copy[0].endswith("/src")
    }
    assert pyprojects == needed, f"add or remove COPY lines in {DOCKERFILE_IN_REPO}"
    assert sources == needed, f"add or remove COPY lines in {DOCKERFILE_IN_REPO}"
    for copy in _copies(image.stages["build"]):
        assert copy == [copy[0], copy[0]], f"COPY {' '.join(copy)}: keep the folder's path"
    instructions = _instructions(DOCKERFILE)
    install = next(
        i for i, (k, rest) in enumerate(instructions) if "requirements.txt" in rest and k == "RUN"
    )
    first_source = next(
        i for i, (k, rest) in enumerate(instructions) if k == "COPY" and "/src " in rest
    )
    assert install < first_source, "dependencies must be installed before code is copied"
    # Each part's metadata its wheel build reads: the pyproject and a declared readme.
    for folder in needed:
        readme = _load_toml(ROOT / folder / "pyproject.toml")["project"].get("readme")
        if readme:
            assert any(
                f"{folder}/{readme}" in copy[:-1] for copy in _copies(image.stages["deps"])
            ), f"{folder}/{readme} (its pyproject's readme) is not copied"


def test_parts_reads_a_missing_local_dependency_as_an_error(tmp_path: Path) -> None:
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "services" / "x" / "pyproject.toml").write_text(
        '[project]\nname = "mlops-x"\ndependencies = ["mlops-contracts", "numpy>=2"]\n'
    )
    with pytest.raises(SystemExit, match="mlops-contracts"):
        parts.closure(tmp_path, "x")


def test_parts_reads_an_unknown_service_or_a_missing_source_as_an_error(tmp_path: Path) -> None:
    for folder, dependencies in (("contracts", "[]"), ("services/x", '["mlops-contracts"]')):
        name = "mlops-" + folder.rsplit("/", 1)[-1]
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\ndependencies = {dependencies}\n'
        )
    with pytest.raises(SystemExit, match=r"SERVICE='y'.*\['x'\]"):
        parts.closure(tmp_path, "y")
    (tmp_path / "services" / "x" / "src").mkdir()
    with pytest.raises(SystemExit, match=r"src/ was not copied: \['contracts'\]"):
        parts.main(["parts.py", "folders", str(tmp_path), "x"])


def test_parts_adds_the_torch_index_only_when_torch_is_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "services" / "x").mkdir(parents=True)
    pyproject = tmp_path / "services" / "x" / "pyproject.toml"
    index = ["--torch-index-url", "https://torch.example/whl"]
    pyproject.write_text('[project]\nname = "mlops-x"\ndependencies = ["numpy>=2"]\n')
    parts.main(["parts.py", "requirements", str(tmp_path), "x", *index])
    assert capsys.readouterr().out.splitlines() == ["numpy>=2"]
    pyproject.write_text('[project]\nname = "mlops-x"\ndependencies = ["Torch==2.13.0"]\n')
    parts.main(["parts.py", "requirements", str(tmp_path), "x", *index])
    assert capsys.readouterr().out.splitlines() == [
        "--extra-index-url https://torch.example/whl",
        "Torch==2.13.0",
    ]


def test_healthcheck_probes_the_service_port_from_the_image_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = {"MLOPS_ENV_PREFIX": "PREDICTOR_", "MLOPS_HTTP_PORT": "8710"}
    assert healthcheck.url([], image) == "http://127.0.0.1:8710/ready"
    moved = image | {"PREDICTOR_HTTP_PORT": "9000"}  # as the service itself reads it
    assert healthcheck.url(["/health"], moved) == "http://127.0.0.1:9000/health"
    with pytest.raises(ValueError, match="MLOPS_ENV_PREFIX"):
        healthcheck.url(["/ready"], {})
    monkeypatch.delenv("MLOPS_ENV_PREFIX", raising=False)
    monkeypatch.delenv("MLOPS_HTTP_PORT", raising=False)
    assert healthcheck.main(["healthcheck.py", "/ready"]) == 1  # unhealthy, probes nothing


def test_the_entrypoint_names_what_is_missing() -> None:
    with pytest.raises(entrypoint.EntryPointError, match="MLOPS_SERVICE is not set"):
        entrypoint.package({})
    with pytest.raises(entrypoint.EntryPointError, match="no package 'no_such_service'"):
        entrypoint.package({"MLOPS_SERVICE": "no-such-service"})
    with pytest.raises(entrypoint.EntryPointError, match="not a service folder name"):
        entrypoint.package({"MLOPS_SERVICE": "../predictor"})


def test_the_entrypoint_becomes_python_m_package_in_the_same_process(tmp_path: Path) -> None:
    """``os.execv``: the service's ``python3 -m <package>`` keeps the entry point's PID (PID 1
    in a container, which gets SIGTERM) and its arguments."""
    package = tmp_path / "some_service"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(
        "import json, os, sys\n"
        "print(json.dumps({'pid': os.getpid(), 'argv': sys.argv[1:], 'name': __name__,"
        " 'spec': __spec__.name}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MLOPS_SERVICE": "some-service"}
    script = str(IMAGES / "entrypoint.py")
    process = subprocess.Popen(
        [sys.executable, script, "--flag"], env=env, stdout=subprocess.PIPE, text=True
    )
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    report = json.loads(out)
    assert report == {
        "pid": process.pid,
        "argv": ["--flag"],
        "name": "__main__",
        "spec": "some_service.__main__",
    }
    env.pop("MLOPS_SERVICE")
    failed = subprocess.run(
        [sys.executable, script], env=env, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 2
    assert "MLOPS_SERVICE is not set" in failed.stderr


def test_dockerignore_lets_through_what_the_dockerfiles_copy() -> None:
    allowed = [
        line[1:]
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    patterns = [re.compile("^" + re.escape(a).replace(r"\*", "[^/]+") + "(/|$)") for a in allowed]
    for dockerfile in (DOCKERFILE, COMPOSE / "mlflow" / "Dockerfile"):
        for keyword, rest in _instructions(dockerfile):
            if keyword != "COPY" or rest.startswith("--from"):
                continue
            for source in rest.split()[:-1]:
                assert "$" not in source, f"{dockerfile}: COPY {source}: no variable sources"
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
