"""Records/s through the real data plane: HTTP -> ingest -> Kafka -> feature -> stores.

Boots the embedded mesh (its own home and free ports), posts simulated history to ingest
in batches like any client, and times until the feature service has admitted every
activity record and every customer's features are readable online. Prints a table.

    .venv/bin/python integration/benchmarks/bench_data_plane.py --records 20000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid
from collections.abc import Sequence

import httpx
from embedded_mesh import EmbeddedMesh, embedded_mesh

from simulator import SimulationConfig, generate_history


def accepted_by_feature(metrics: str) -> float:
    match = re.search(r'feature_activity_records_total\{outcome="accepted"\} ([0-9.e+]+)', metrics)
    return float(match.group(1)) if match else 0.0


async def run(records: int, customers: int, batch: int, concurrency: int) -> None:
    with embedded_mesh(bootstrap=False) as running:
        print(f"mesh up in {running.up_seconds:.1f} s (home {running.home})")
        await measure(running, records, customers, batch, concurrency)


async def measure(
    running: EmbeddedMesh, records: int, customers: int, batch: int, concurrency: int
) -> None:
    """Post the history and time the stages."""
    base = running.base
    token = running.token
    config = SimulationConfig(customers=customers, seed=11, run_id=uuid.uuid4().hex[:10])
    generated = []
    for record in generate_history(60, config=config):
        generated.append(record)
        if len(generated) >= records:
            break
    activity = [r for r in generated if r["kind"] == "activity"]
    ids = sorted({r["customer_id"] for r in activity})
    batches = [generated[i : i + batch] for i in range(0, len(generated), batch)]
    ingest = f"http://127.0.0.1:{base + 1}"
    feature = f"http://127.0.0.1:{base + 2}"
    queue: asyncio.Queue[Sequence[object]] = asyncio.Queue()
    for chunk in batches:
        queue.put_nowait(chunk)

    async with httpx.AsyncClient(timeout=60) as client:

        async def sender() -> None:
            while not queue.empty():
                chunk = queue.get_nowait()
                response = await client.post(
                    f"{ingest}/v1/records",
                    json={"records": chunk},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 200:
                    raise RuntimeError(
                        f"ingest answered {response.status_code}: {response.text[:300]}"
                    )

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        t_ingested = time.perf_counter() - t0
        while True:  # polling another process's metrics: no event to wait on
            metrics = (await client.get(f"{feature}/metrics")).text
            if accepted_by_feature(metrics) >= len(activity):
                break
            await asyncio.sleep(0.2)
        t_admitted = time.perf_counter() - t0
        while True:
            unknown = []
            for i in range(0, len(ids), 256):
                lookup = await client.post(
                    f"{feature}/v1/features/lookup", json={"customer_ids": ids[i : i + 256]}
                )
                unknown += lookup.json()["unknown"]
            if not unknown:
                break
            await asyncio.sleep(0.2)
        t_online = time.perf_counter() - t0

    rows = [
        ("all records accepted by ingest (HTTP)", t_ingested, len(generated)),
        ("all activity admitted by feature", t_admitted, len(activity)),
        ("all customers readable online", t_online, len(activity)),
    ]
    print(f"\n{'stage (from first POST)':<40} {'seconds':>8} {'records/s':>10}")
    for stage, seconds, count in rows:
        print(f"{stage:<40} {seconds:>8.1f} {count / seconds:>10.0f}")
    labels = len(generated) - len(activity)
    print(
        f"\n{len(generated)} records ({len(activity)} activity, {labels} labels), "
        f"{len(ids)} customers, batches of {batch}, {concurrency} concurrent clients"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(run(args.records, args.customers, args.batch, args.concurrency))


if __name__ == "__main__":
    main()
