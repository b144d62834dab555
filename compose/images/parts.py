"""Which parts of the repository one service image installs, read from the pyprojects.

Every service Dockerfile copies the ``pyproject.toml`` of the service and of the repository
parts it needs (contracts, libs) into ``/src`` before any code, then runs::

    python3 parts.py requirements /src   # third-party requirements, for the cached layer
    python3 parts.py folders /src        # the parts to install, dependencies first

Starting from the one pyproject under ``/src/services``, it follows the ``mlops-*``
dependencies; one whose pyproject was not copied, or one copied but not needed, fails the
build. ``dockerfiles.py`` writes those COPY lines from the same closure (``resolve``) over the
repository's pyprojects. Standard library only: it runs on the bare base image.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
LOCAL_PREFIX = "mlops-"

Projects = dict[str, tuple[Path, list[str]]]
"""Each part's normalised name -> (its folder, its declared dependencies)."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str, where: object = "a pyproject") -> str:
    """The normalised project name of a requirement: ``torch==2.13.0`` -> ``torch``."""
    match = _NAME.match(requirement)
    if match is None:
        raise SystemExit(f"{where}: cannot read requirement {requirement!r}")
    return _normalise(match.group(1))


def read_projects(pyprojects: list[Path]) -> Projects:
    """The parts declared by these ``pyproject.toml`` files."""
    projects = {}
    for pyproject in pyprojects:
        project = tomllib.loads(pyproject.read_text())["project"]
        projects[_normalise(project["name"])] = (pyproject.parent, project.get("dependencies", []))
    return projects


def resolve(projects: Projects, service: str) -> tuple[list[Path], list[str]]:
    """The part folders ``service`` needs (dependencies first, the service last) and their
    third-party requirements, following the ``mlops-*`` dependencies through ``projects``."""
    order: list[str] = []
    requirements: list[str] = []

    def visit(name: str, wanted_by: str) -> None:
        if name in order:
            return
        if name not in projects:
            raise SystemExit(
                f"{wanted_by} depends on {name}, whose pyproject.toml is not here: "
                "regenerate the Dockerfiles (`make dockerfiles`) after adding a dependency"
            )
        folder, dependencies = projects[name]
        for requirement in dependencies:
            dependency = requirement_name(requirement, folder)
            if dependency.startswith(LOCAL_PREFIX):
                visit(dependency, name)
            elif requirement not in requirements:
                requirements.append(requirement)
        order.append(name)

    visit(_normalise(service), "the service")
    return [projects[name][0] for name in order], requirements


def closure(root: Path) -> tuple[list[Path], list[str]]:
    """The part folders (dependencies first) and the third-party requirements of the one
    service under ``root/services``; every pyproject under ``root`` must be needed."""
    projects = read_projects(sorted(root.glob("**/pyproject.toml")))
    services = [name for name, (folder, _) in projects.items() if "services" in folder.parts]
    if len(services) != 1:
        raise SystemExit(f"expected one service pyproject under {root}/services, got {services}")
    folders, requirements = resolve(projects, services[0])
    unused = sorted(name for name, (folder, _) in projects.items() if folder not in folders)
    if unused:
        raise SystemExit(
            f"copied but not needed by the service: {unused}; keep images minimal "
            "(`make dockerfiles` writes the COPY lines)"
        )
    return folders, requirements


def main(argv: list[str]) -> None:
    """``parts.py requirements|folders ROOT``."""
    if len(argv) != 3 or argv[1] not in ("requirements", "folders"):
        raise SystemExit("usage: parts.py requirements|folders ROOT")
    folders, requirements = closure(Path(argv[2]))
    print("\n".join(requirements if argv[1] == "requirements" else map(str, folders)))


if __name__ == "__main__":
    main(sys.argv)
