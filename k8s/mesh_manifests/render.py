"""Render overlays with ``kubectl kustomize`` (offline: kustomize only reads local files)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from mesh_manifests.objects import Manifest

K8S_DIR = Path(__file__).resolve().parents[1]
"""The k8s/ folder: base/, components/, overlays/."""

OVERLAYS_DIR = K8S_DIR / "overlays"


class RenderError(RuntimeError):
    """kubectl is missing or kustomize refused an overlay."""


def overlays() -> list[Path]:
    """Every overlay folder (a folder of overlays/ with a kustomization.yaml), by name."""
    return sorted(path.parent for path in OVERLAYS_DIR.glob("*/kustomization.yaml"))


def kubectl() -> str:
    """Path of kubectl; RenderError when it is not installed."""
    found = shutil.which("kubectl")
    if found is None:
        raise RenderError("kubectl not found on PATH: it renders the kustomize overlays")
    return found


def render_text(path: Path) -> str:
    """The multi-document YAML an overlay (or any kustomization folder) renders to."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {path} failed:\n{result.stderr.strip()}")
    return result.stdout


def parse(text: str) -> list[Manifest]:
    """The objects of a multi-document YAML text (empty documents dropped)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(path: Path) -> list[Manifest]:
    """The objects an overlay renders to."""
    return parse(render_text(path))
