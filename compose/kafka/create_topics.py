"""One-shot topic set-up for the compose mesh: every catalogue topic with its partition
count and retention, plus the dead-letter topics (the launcher's job in the embedded mesh,
Strimzi's KafkaTopic resources on Kubernetes). Waits for the broker; exits 0 when done.

Runs in a service image (it has the contracts and the shared Kafka helper).
"""

import asyncio
import os
import sys
import time

from mlops_contracts import topics_to_create
from service_kit.kafka import ensure_topics


async def main() -> int:
    """Create what is missing, retrying while the broker starts."""
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    deadline = time.monotonic() + float(os.environ.get("TOPICS_TIMEOUT_S", "120"))
    while True:
        try:
            created = await ensure_topics(servers, topics_to_create())
        except Exception as error:  # the broker is still starting: any error, retry
            if time.monotonic() > deadline:
                print(f"could not create the topics on {servers}: {error!r}", file=sys.stderr)
                return 1
            await asyncio.sleep(2)
            continue
        print(f"{len(created)} topics created on {servers}; {len(topics_to_create())} expected")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
