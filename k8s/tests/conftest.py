"""Fixtures of the k8s/ tests: the rendered overlays, and mutated copies of them.

The checks live in k8s/mesh_manifests (run by k8s/validate.py), which is no installed
package: k8s/ goes on sys.path here. Rendering needs kubectl: without it these tests skip on a
developer machine but FAIL under CI, like the database-backed tests of the root conftest.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

K8S_DIR = Path(__file__).resolve().parents[1]
if str(K8S_DIR) not in sys.path:
    sys.path.insert(0, str(K8S_DIR))

from mesh_manifests.objects import Manifest, named  # noqa: E402
from mesh_manifests.render import RenderError, kubectl, overlays, render  # noqa: E402

Mutate = Callable[..., list[Manifest]]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every overlay's rendered objects, by overlay name (rendered once per session)."""
    try:
        kubectl()
    except RenderError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error}; CI must validate the manifests", pytrace=False)
        pytest.skip(str(error))
    return {path.name: render(path) for path in overlays()}


def _mutate(
    objects: list[Manifest], kind: str, name: str, change: Callable[[Manifest], object]
) -> list[Manifest]:
    copied = copy.deepcopy(objects)
    target = named(copied, kind, name)
    if target is None:
        raise LookupError(f"{kind}/{name} is not rendered")
    change(target)
    return copied


@pytest.fixture
def mutate() -> Mutate:
    """``mutate(objects, kind, name, change)``: a deep copy of ``objects`` in which
    ``change`` was applied to the one object of that kind and name."""
    return _mutate


def first_container(obj: Manifest) -> Manifest:
    """The first container of a Deployment's pod template (for mutations)."""
    container: Manifest = obj["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.fixture
def container_of() -> Callable[[Manifest], Manifest]:
    """The first container of a Deployment, to mutate it in place."""
    return first_container
