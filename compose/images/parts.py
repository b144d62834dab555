"""Which parts of the repository one service image installs, read from the pyprojects.

Every service Dockerfile copies the ``pyproject.toml`` of the service and of the repository
parts it needs (contracts, libs) into ``/src`` before any code, then runs::

    python3 parts.py requirements /src   # third-party requirements, for the cached layer
    python3 parts.py folders /src        # the parts to install, dependencies first

Starting from the one pyproject under ``/src/services``, it follows the ``mlops-*``
dependencies; one whose pyproject was not copied fails the build with the COPY line to add.
Standard library only: it runs on the bare base image.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
LOCAL_PREFIX = "mlops-"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _projects(root: Path) -> dict[str, tuple[Path, list[str]]]:
    projects = {}
    for pyproject in sorted(root.glob("**/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        projects[_normalise(project["name"])] = (pyproject.parent, project.get("dependencies", []))
    return projects


def closure(root: Path) -> tuple[list[Path], list[str]]:
    """The part folders (dependencies first) and the third-party requirements of the service."""
    projects = _projects(root)
    services = [name for name, (folder, _) in projects.items() if "services" in folder.parts]
    if len(services) != 1:
        raise SystemExit(f"expected one service pyproject under {root}/services, got {services}")
    order: list[str] = []
    requirements: list[str] = []

    def visit(name: str, wanted_by: str) -> None:
        if name in order:
            return
        if name not in projects:
            raise SystemExit(
                f"{wanted_by} depends on {name}, whose pyproject.toml the Dockerfile does not "
                "copy: add `COPY <its folder>/pyproject.toml <its folder>/` to the deps stage "
                "and its src/ to the code stage"
            )
        folder, dependencies = projects[name]
        for requirement in dependencies:
            match = _NAME.match(requirement)
            if match is None:
                raise SystemExit(f"{folder}: cannot read requirement {requirement!r}")
            dependency = _normalise(match.group(1))
            if dependency.startswith(LOCAL_PREFIX):
                visit(dependency, name)
            elif requirement not in requirements:
                requirements.append(requirement)
        order.append(name)

    visit(services[0], "the service")
    unused = sorted(set(projects) - set(order))
    if unused:
        raise SystemExit(f"copied but not needed by the service: {unused}; keep images minimal")
    return [projects[name][0] for name in order], requirements


def main(argv: list[str]) -> None:
    """``parts.py requirements|folders ROOT``."""
    if len(argv) != 3 or argv[1] not in ("requirements", "folders"):
        raise SystemExit("usage: parts.py requirements|folders ROOT")
    folders, requirements = closure(Path(argv[2]))
    print("\n".join(requirements if argv[1] == "requirements" else map(str, folders)))


if __name__ == "__main__":
    main(sys.argv)
