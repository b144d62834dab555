"""Write every ``services/<name>/Dockerfile`` from the one ``Dockerfile.template`` beside this.

``python compose/images/dockerfiles.py``          (re)writes the Dockerfiles (`make dockerfiles`);
``python compose/images/dockerfiles.py --check``  writes nothing, exits 1 naming each Dockerfile
                                                  that is missing or differs from the template.

What differs between services comes from the repository itself:

- the parts the image installs: ``parts.resolve`` (the closure the build itself checks) over the
  pyprojects of contracts/, libs/* and services/*, dependencies first; their pyprojects (and
  a declared readme) go to the ``deps`` stage, their ``src/`` to the ``build`` stage;
- the HTTP port and the environment prefix: the service's settings class in ``<package>.settings``;
- the package: the folder name with ``-`` replaced by ``_``;
- the description: the pyproject's ``description``, without its ``Name:`` label;
- the torch index argument: when a part requires torch; the NVIDIA toolkit variables: when the
  settings accept ``device=cuda``.

Runs in .venv: it imports the services' settings and renders with Jinja2.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import parts  # compose/images/parts.py: this script's folder is first on sys.path

IMAGES = Path(__file__).resolve().parent
ROOT = IMAGES.parents[1]
TEMPLATE = IMAGES / "Dockerfile.template"
REGENERATE_HINT = "run `make dockerfiles` (python compose/images/dockerfiles.py)"


@dataclass(frozen=True)
class Part:
    """One repository part an image installs."""

    folder: str
    """Its folder, relative to the repository root."""
    metadata: list[str]
    """What its wheel build reads besides ``src/``: the pyproject and a declared readme."""


@dataclass(frozen=True)
class Image:
    """The per-service values of the template."""

    service: str
    package: str
    description: str
    prefix: str
    port: int
    parts: list[Part]
    torch: bool
    cuda: bool


def services() -> list[str]:
    """Every service folder under ``services/`` with a pyproject."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


def _pyprojects() -> list[Path]:
    # The installable parts, as the Makefile's PARTS lists them.
    folders = [
        ROOT / "contracts",
        *sorted((ROOT / "libs").iterdir()),
        *sorted((ROOT / "services").iterdir()),
    ]
    return [
        folder / "pyproject.toml" for folder in folders if (folder / "pyproject.toml").is_file()
    ]


def _project(folder: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    return project


def _part(folder: Path) -> Part:
    relative = folder.relative_to(ROOT).as_posix()
    metadata = [f"{relative}/pyproject.toml"]
    readme = _project(folder).get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if readme:
        metadata.append(f"{relative}/{readme}")
    return Part(folder=relative, metadata=metadata)


def settings_class(package: str) -> Any:
    """The ServiceSettings subclass defined in ``<package>.settings``."""
    from service_kit import ServiceSettings

    module = importlib.import_module(f"{package}.settings")
    (cls,) = (
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceSettings)
        and value.__module__ == module.__name__
    )
    return cls


def image(service: str) -> Image:
    """What the template needs to write ``services/<service>/Dockerfile``."""
    folder = ROOT / "services" / service
    project = _project(folder)
    folders, requirements = parts.resolve(parts.read_projects(_pyprojects()), project["name"])
    package = service.replace("-", "_")
    settings = settings_class(package)
    device = settings.model_fields.get("device")
    return Image(
        service=service,
        package=package,
        # "Registry: the promotion gate ..." -> "the promotion gate ...": the image is named.
        description=project["description"].split(": ", 1)[-1].rstrip("."),
        prefix=settings.model_config["env_prefix"],
        port=settings.model_fields["http_port"].default,
        parts=[_part(f) for f in folders],
        torch=any(parts.requirement_name(r) == "torch" for r in requirements),
        cuda=device is not None and "cuda" in typing.get_args(device.annotation),
    )


def render(service: str) -> str:
    """The text of ``services/<service>/Dockerfile``."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(IMAGES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # a Dockerfile, not HTML
    )
    values = image(service)
    return environment.get_template(TEMPLATE.name).render(vars(values))


def dockerfile(service: str) -> Path:
    """Where a service's Dockerfile is written."""
    return ROOT / "services" / service / "Dockerfile"


def stale_services() -> list[str]:
    """Services whose Dockerfile is missing or differs from what the template renders now."""
    return [
        service
        for service in services()
        if not dockerfile(service).is_file() or dockerfile(service).read_text() != render(service)
    ]


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Write the stale Dockerfiles, or with --check only report them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    stale = stale_services()
    if args.check:
        for service in stale:
            shown = _shown(dockerfile(service))
            print(f"stale: {shown} differs from the template; {REGENERATE_HINT}")
        return 1 if stale else 0
    for service in stale:
        dockerfile(service).write_text(render(service))
        print(f"wrote {_shown(dockerfile(service))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
