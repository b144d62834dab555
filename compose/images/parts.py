"""Which parts of the repository one service image installs, read from the pyprojects.

compose/images/Dockerfile copies the ``pyproject.toml`` of every part a service image may
install (contracts, libs, services) into ``/src`` before any code, and their ``src/`` after
the dependencies are installed; ``SERVICE`` (a folder under ``services/``) picks the image's
service::

    python3 parts.py requirements /src SERVICE [--torch-index-url URL]
        # its third-party requirements, for the cached layer (with ``--extra-index-url URL``
        # first when one of them is torch)
    python3 parts.py folders /src SERVICE
        # the parts to install, dependencies first

Starting from ``services/SERVICE/pyproject.toml`` it follows the ``mlops-*`` dependencies;
a needed part whose pyproject (or, for ``folders``, whose ``src/``) was not copied fails the
build, naming the COPY lines to add. compose/tests checks the Dockerfile's COPY lines against
the same closure (``resolve``) over the repository's pyprojects. Standard library only: it
runs on the bare base image.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
LOCAL_PREFIX = "mlops-"
DOCKERFILE = "compose/images/Dockerfile"

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
                f"{wanted_by} depends on {name}, whose pyproject.toml is not in the build: "
                f"add its COPY lines (pyproject.toml in the deps stage, src/ in the build "
                f"stage) to {DOCKERFILE}"
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


def closure(root: Path, service: str) -> tuple[list[Path], list[str]]:
    """The part folders (dependencies first) and the third-party requirements of the service
    in ``root/services/<service>``, over the pyprojects copied under ``root``."""
    projects = read_projects(sorted(root.glob("**/pyproject.toml")))
    folder = root / "services" / service
    names = [name for name, (where, _) in projects.items() if where == folder]
    if not names:
        available = sorted(
            where.name for where, _ in projects.values() if where.parent == root / "services"
        )
        raise SystemExit(
            f"SERVICE={service!r}: no services/{service}/pyproject.toml in the build "
            f"(the build argument SERVICE names a folder under services/: one of {available})"
        )
    return resolve(projects, names[0])


def check_sources(root: Path, folders: list[Path]) -> None:
    """Every part to build has its ``src/`` copied under ``root``."""
    missing = sorted(
        folder.relative_to(root).as_posix() for folder in folders if not (folder / "src").is_dir()
    )
    if missing:
        raise SystemExit(
            f"needed by the service but their src/ was not copied: {missing}; add "
            f"`COPY <part>/src <part>/src` to the build stage of {DOCKERFILE}"
        )


def main(argv: list[str]) -> None:
    """``parts.py requirements|folders ROOT SERVICE [--torch-index-url URL]``."""
    parser = argparse.ArgumentParser(
        prog="parts.py", description="The parts of the repository one service image installs."
    )
    parser.add_argument("what", choices=("requirements", "folders"))
    parser.add_argument("root", type=Path, help="where the pyprojects (and sources) are")
    parser.add_argument("service", help="the service: its folder name under services/")
    parser.add_argument(
        "--torch-index-url",
        default="",
        help="with `requirements`: an extra index, printed first when torch is required",
    )
    args = parser.parse_args(argv[1:])
    folders, requirements = closure(args.root, args.service)
    if args.what == "folders":
        check_sources(args.root, folders)
        print("\n".join(map(str, folders)))
        return
    torch = any(requirement_name(r) == "torch" for r in requirements)
    if torch and args.torch_index_url:
        print(f"--extra-index-url {args.torch_index_url}")
    print("\n".join(requirements))


if __name__ == "__main__":
    main(sys.argv)
