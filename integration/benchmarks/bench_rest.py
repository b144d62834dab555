"""REST serving benchmark: the gateway (POST /v1/predict -> Kafka -> predictor -> reply)
against ``mlflow models serve`` serving the same weights (a pyfunc loader of the same
artifact, no pickle), with the same load generator and concurrency; beside them the
broker's own floor, a bare aiokafka request/reply echo at the same fixed rate.

    .venv/bin/python integration/benchmarks/bench_rest.py

Boots its own mesh (the first champion is bootstrapped; retraining held, see
embedded_mesh) and its own `mlflow models serve` on a free port; run it on an otherwise
idle machine. Saturation: N concurrent clients as fast as answers come. Fixed rates
(measured first, after a short warm-up): requests started on a schedule (open loop),
latency from the scheduled start to the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_serving import (
    ECHO_REQUESTS,
    ECHO_RESULTS,
    monitor_caught_up,
    percentile,
    run_steps,
    table,
)
from embedded_mesh import EmbeddedMesh, embedded_mesh
from process_cpu import CpuMeter, cpu_rows, mesh_processes, with_descendants

from mesh.mlflow_server import free_port_block
from service_kit import ensure_topics

HERE = Path(__file__).resolve().parent


async def failure(request: Callable[[int], Any], n: int) -> str | None:
    """Why request ``n`` failed (None: it got a 200). A request the server could not take
    in time (above its saturation an open-loop rate queues more than the client's
    connection pool holds: a pool or read timeout) fails like an error status; the table
    says how many of each."""
    try:
        response = await request(n)
    except httpx.TimeoutException as error:
        return type(error).__name__
    if response.status_code == 200:
        return None
    return f"HTTP {response.status_code}"


def failed(failures: Counter[str]) -> str:
    """E.g. ``3 (HTTP 504 x2, ReadTimeout x1)``; ``0``."""
    total = sum(failures.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{why} x{n}" for why, n in failures.most_common()) + ")"


async def saturate(
    client: httpx.AsyncClient, request: Callable[[int], Any], concurrency: int, seconds: float
) -> tuple[float, list[float], Counter[str]]:
    """req/s with ``concurrency`` clients back to back; latencies (ms); failures by reason."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            why = await failure(request, n)
            if why is None:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures[why] += 1
            n += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), sorted(latencies), failures


async def fixed_rate(
    request: Callable[[int], Any], rate: float, seconds: float
) -> tuple[list[float], Counter[str]]:
    """Open loop: request n starts at n / rate; latency from that scheduled start."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    origin = time.perf_counter()

    async def one(n: int) -> None:
        scheduled = origin + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        why = await failure(request, n)
        if why is None:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            failures[why] += 1

    await asyncio.gather(*(one(n) for n in range(int(rate * seconds))))
    return sorted(latencies), failures


def pyfunc_of_champion(mesh: EmbeddedMesh, folder: Path) -> Path:
    """The champion's artifact wrapped as an MLflow pyfunc model (a loader module, no
    pickle); returns the model folder `mlflow models serve` takes."""
    import mlflow.pyfunc

    from model_store import CHAMPION, ModelStore

    models = ModelStore(mesh.url(20))
    champion = models.by_alias("churn", CHAMPION)
    if champion is None:
        raise RuntimeError("the mesh has no champion: the bootstrap did not promote one")
    artifact = models.download(champion.source, folder / "artifact")
    mlflow.pyfunc.save_model(
        path=str(folder / "pyfunc"),
        loader_module="churn_pyfunc",
        data_path=str(artifact),
        code_paths=[str(HERE / "churn_pyfunc.py")],
    )
    return folder / "pyfunc"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="50,100,200", help="fixed rates, req/s")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with embedded_mesh(bootstrap=True, retraining=False, predictor_replicas="2") as mesh:
        print(f"mesh up (with the bootstrap champion) in {mesh.up_seconds:.1f} s", flush=True)
        folder = Path(tempfile.mkdtemp(prefix="bench-rest-"))
        model_dir = pyfunc_of_champion(mesh, folder)
        port = free_port_block(1)
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
            "--env-manager", "local", "-p", str(port), "-w", "1",
            # `mlflow models serve` runs `uvicorn` from PATH: the venv's bin must be on it.
            env={
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
            },
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                mlflow_url = f"http://127.0.0.1:{port}"
                for _ in range(300):
                    try:
                        if (await client.get(f"{mlflow_url}/ping")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
                customers = [f"C-{n:06d}" for n in range(1, 1001)]
                features = (
                    await client.post(
                        f"{mesh.url(2)}/v1/features/lookup",
                        json={"customer_ids": customers[:200]},
                    )
                ).json()["features"]
                rows = list(features.values())
                token = mesh.token

                def via_gateway(n: int) -> Any:
                    return client.post(
                        f"{mesh.url(0)}/v1/predict",
                        json={"customer_id": customers[n % 200]},
                        headers={"Authorization": f"Bearer {token}"},
                    )

                def via_mlflow(n: int) -> Any:
                    return client.post(
                        f"{mlflow_url}/invocations",
                        json={"dataframe_records": [rows[n % len(rows)]]},
                    )

                meter = CpuMeter(
                    mesh_processes(mesh.home)
                    | dict.fromkeys(with_descendants(server.pid), "mlflow models serve")
                    | {os.getpid(): "load generator"}
                )
                results = []
                spent: list[tuple[dict[str, float], int]] = []
                for name, request in (
                    ("gateway", via_gateway),
                    ("mlflow models serve", via_mlflow),
                ):
                    # The monitor closes the gateway's windows (a drift check each) for a
                    # while after its load: mlflow would share the machine with that.
                    await monitor_caught_up(mesh)
                    await fixed_rate(request, 50, 2.0)  # warm-up
                    # The fixed rates before saturation: the embedded broker slows as its
                    # partitions fill (bench_broker_batches.py), and the echo meets fresh
                    # topics; saturation writes the most.
                    at_rates = []
                    for rate in rates:
                        fixed, fixed_failures = await fixed_rate(request, rate, args.seconds)
                        at_rates += [
                            f"{percentile(fixed, 0.5):.1f} / {percentile(fixed, 0.99):.1f}"
                            + (f", failed {failed(fixed_failures)}" if fixed_failures else "")
                        ]
                    meter.start()
                    throughput, latencies, failures = await saturate(
                        client, request, args.concurrency, args.seconds
                    )
                    spent.append((meter.stop(), len(latencies)))
                    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                    line = [name, f"{throughput:,.0f}", f"{p50:.1f}", f"{p99:.1f}"]
                    line += [failed(failures), *at_rates]
                    results.append(line)
                    print("  " + " | ".join(line), flush=True)
        finally:
            server.terminate()
            await server.wait()
        await ensure_topics(mesh.bootstrap_servers, [ECHO_REQUESTS, ECHO_RESULTS])
        echo = await asyncio.create_subprocess_exec(
            sys.executable, str(HERE / "bench_serving.py"), "--echo", mesh.bootstrap_servers
        )
        try:
            echo_rows = await run_steps(
                mesh.bootstrap_servers, ECHO_REQUESTS.name, ECHO_RESULTS.name, rates,
                args.seconds, customers, echo=True, label="aiokafka request/reply echo",
            )  # fmt: skip
        finally:
            echo.terminate()
            await echo.wait()
    print()
    header = ["server", "req/s at saturation", "p50 ms", "p99 ms", "failed"]
    header += [f"p50 / p99 ms at {rate:,.0f}/s" for rate in rates]
    print(
        table(
            f"REST, same load generator ({args.concurrency} concurrent clients at saturation, "
            f"open loop at fixed rates, {args.seconds:g} s each)",
            header,
            results,
        )
    )
    gateway, mlflow_row = results
    ratio = float(gateway[1].replace(",", "")) / float(mlflow_row[1].replace(",", ""))
    print(f"gateway / mlflow req/s at saturation: {ratio:.2f}x")
    print()
    print(
        table(
            f"CPU per answered request (us) at saturation, {args.concurrency} clients",
            ["process", "gateway", "mlflow models serve"],
            cpu_rows(spent, meter),
        )
    )
    print(
        "broker floor, aiokafka request/reply echo p99 ms: "
        + ", ".join(f"{row[1]}/s: {row[6]}" for row in echo_rows)
    )


if __name__ == "__main__":
    asyncio.run(main())
