"""The embedded mesh for a benchmark: its own home folder and free ports, booted with
`mlops up` and stopped with `mlops down` (shared by the benchmark scripts here)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mesh.mlflow_server import free_port_block

ROOT = Path(__file__).resolve().parents[2]


HELD_RETRAINING = {
    "RETRAIN_TRIGGER_CONSECUTIVE_DRIFT_WINDOWS": "1000",
    "RETRAIN_TRIGGER_CONSECUTIVE_DEGRADED_WINDOWS": "1000",
}
"""The most windows in a row the trigger accepts (5-s windows in the mesh: 83 minutes)."""


@dataclass(frozen=True)
class EmbeddedMesh:
    """A running mesh: where it lives and listens."""

    home: Path
    base: int
    env: dict[str, str]
    up_seconds: float

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.base + 19}"

    def url(self, offset: int) -> str:
        """http://127.0.0.1:<base + offset> (gateway 0, ingest 1, feature 2, ... MLflow 20)."""
        return f"http://127.0.0.1:{self.base + offset}"

    @property
    def token(self) -> str:
        return (self.home / "secrets" / "api-token").read_text().strip()

    def run(self, *command: str, timeout: float = 600) -> str:
        """`mlops <command>` against this mesh; its output (raises when it fails)."""
        done = subprocess.run(
            [sys.executable, "-m", "mesh", *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"mlops {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout


@contextlib.contextmanager
def embedded_mesh(
    *, bootstrap: bool, retraining: bool = True, **settings: str
) -> Iterator[EmbeddedMesh]:
    """Boot a mesh (``bootstrap``: also train and promote the first champion), yield it,
    stop it. ``settings`` are further ``MLOPS_MESH_*`` values (without the prefix).

    ``retraining=False`` holds the closed loop: a benchmark's synthetic traffic drifts from
    the training data, and a training and a swap in the middle of a measured step (one
    took a 200/s REST step from 34 ms to 924 ms p50) measure the loop, not serving."""
    base = free_port_block()
    home = Path(tempfile.mkdtemp(prefix="bench-mesh-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_MESH_")}
    env |= {
        "MLOPS_MESH_HOME": str(home),
        "MLOPS_MESH_BASE_PORT": str(base),
        "MLOPS_MESH_BROKER_PORT": str(base + 19),
        "MLOPS_MESH_BOOTSTRAP": "true" if bootstrap else "false",
    }
    env |= {f"MLOPS_MESH_{name.upper()}": value for name, value in settings.items()}
    if not retraining:
        env |= HELD_RETRAINING
    started = time.perf_counter()
    mesh = EmbeddedMesh(home=home, base=base, env=env, up_seconds=0.0)
    mesh.run("up")
    mesh = EmbeddedMesh(home=home, base=base, env=env, up_seconds=time.perf_counter() - started)
    try:
        yield mesh
    finally:
        mesh.run("down", timeout=180)
