"""What the end-to-end tests share: a mesh booted as a user boots it, on its own ports and
home, with real processes and a real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mesh.mlflow_server import free_port_block

ROOT = Path(__file__).resolve().parents[1]


class MeshUnderTest:
    def __init__(self, home: Path, settings: dict[str, str] | None = None) -> None:
        base = free_port_block()
        # The user's own MLOPS_MESH_* settings must not leak into the mesh under test.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_MESH_")}
        self.home = home
        self.env = {
            **inherited,
            "MLOPS_MESH_PREDICTOR_REPLICAS": "2",
            "MLOPS_MESH_HOME": str(home),
            "MLOPS_MESH_BASE_PORT": str(base),
            "MLOPS_MESH_BROKER_PORT": str(base + 19),
        }
        self.env |= {f"MLOPS_MESH_{name.upper()}": v for name, v in (settings or {}).items()}
        self.bootstrap = f"127.0.0.1:{base + 19}"
        self.base = base
        self.up_output = ""

    def url(self, offset: int) -> str:
        return f"http://127.0.0.1:{self.base + offset}"

    def run(self, *command: str, timeout: float = 480) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mesh", *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status(self) -> dict[str, list[str]]:
        out = self.run("status").stdout.splitlines()
        return {line.split()[0]: line.split() for line in out[1:-1]}

    def ready_urls(self) -> dict[str, str]:
        return {
            name: f"http://127.0.0.1:{fields[4]}/ready"
            for name, fields in self.status().items()
            if name not in ("broker", "mlflow")
        }


@contextmanager
def booted_mesh(home: Path, **settings: str) -> Iterator[MeshUnderTest]:
    """`mlops up` (bootstrapping the first champion) in ``home``, on free ports, with further
    ``MLOPS_MESH_*`` ``settings``; `mlops down` after."""
    under_test = MeshUnderTest(home, settings)
    started = time.monotonic()
    result = under_test.run("up")
    under_test.up_output = result.stdout
    print(f"\nmesh up: {time.monotonic() - started:.1f} s\n{result.stdout}")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield under_test
    finally:
        under_test.run("down", timeout=120)
