"""Fixtures shared by every test folder: a real Kafka-protocol broker and real databases.

PostgreSQL- and Redis-backed tests skip on a developer machine without PostgreSQL, but FAIL when
``CI`` is set: a missing database must never turn into a green run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("MLOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Tansu broker (Kafka wire protocol over TCP) on a free port for the session."""
    from mesh.plan import broker_command

    port = free_port()
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(broker_command(port), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _postgres_reachable(url: str) -> str | None:
    import asyncpg

    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=3)
        await connection.close()

    try:
        # In a thread of its own: the fixture may be requested from inside a running loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, probe()).result()
    except Exception as error:  # any failure to connect means "not reachable"
        return f"{type(error).__name__}: {error}"
    return None


def _require(what: str, url: str, problem: str | None, variable: str) -> str:
    """``url`` when reachable; otherwise skip locally, but FAIL under CI."""
    if problem:
        message = f"{what} at {url} unreachable ({problem})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the {what}-backed tests", pytrace=False)
        pytest.skip(f"{message}; set {variable} to run these tests")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL URL for `connected` tests; fails under CI when unreachable."""
    return _require(
        "PostgreSQL", POSTGRES_URL, _postgres_reachable(POSTGRES_URL), "MLOPS_TEST_POSTGRES_URL"
    )


def _redis_reachable(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:  # any failure to connect means "not reachable"
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL for `connected` tests; fails under CI when unreachable."""
    return _require("Redis", REDIS_URL, _redis_reachable(REDIS_URL), "MLOPS_TEST_REDIS_URL")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A real SQLite database file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'state.db'}"
