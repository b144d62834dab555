"""An MLflow tracking server outside supervisord, with the mesh's own command line: for
tests and benchmarks that need a real one for a while."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from mesh.plan import MLFLOW_ENVIRONMENT, mlflow_command


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_block(size: int = 21) -> int:
    """The first port of ``size`` consecutive ports nobody listens on (a mesh takes its
    base port + 0..20), below Linux's ephemeral range (32768+) where client sockets go."""
    for _ in range(200):
        base = random.randrange(20000, 32000, size)
        if all(_port_free(port) for port in range(base, base + size)):
            return base
    raise RuntimeError("no free block of ports")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def running_mlflow(backend_uri: str, folder: Path, timeout_s: float = 90.0) -> Iterator[str]:
    """A real MLflow server (metadata in ``backend_uri``, artifacts and log in ``folder``) on
    a free port; yields its URL once ``/health`` answers, stops its process group after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "mlflow.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            mlflow_command(port, backend_uri, folder / "artifacts"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **MLFLOW_ENVIRONMENT},
            start_new_session=True,  # the server forks uvicorn: stop the whole group
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log_path, timeout_s)
        yield url
    finally:
        _stop_group(process)


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"MLflow server exited ({process.returncode}):\n{log_path.read_text()[-3000:]}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"MLflow server not healthy after {timeout_s:.0f} s ({log_path})")


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
