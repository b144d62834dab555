"""Where did an unanswered prediction request go? Reads the topics a request and its answer
pass through (requests, its dead-letter topic, results, the reply topic) and says, for
each request, where it was seen: the difference between a request the broker never kept,
one no predictor answered, and an answer that never reached its reply topic."""

from __future__ import annotations

from collections.abc import Collection

from mesh.model_loop import read_everything
from mlops_contracts import PredictionMade, PredictionRequested, dead_letter_topic, topic_for


async def trace_requests(
    bootstrap_servers: str,
    request_ids: Collection[str],
    reply_topic: str,
    *,
    requests_topic: str = topic_for(PredictionRequested).name,
    results_topic: str = topic_for(PredictionMade).name,
) -> dict[str, str]:
    """Request id -> where it was seen (``topic[partition]@offset``, in the order a request
    and its answer pass the topics), for each of ``request_ids``; "nowhere" when no topic
    holds it."""
    topics = (requests_topic, dead_letter_topic(requests_topic), results_topic, reply_topic)
    seen: dict[str, list[str]] = {request_id: [] for request_id in request_ids}
    needles = {request_id: request_id.encode() for request_id in request_ids}
    async for record in read_everything(bootstrap_servers, topics):
        value = record.value or b""
        for request_id, needle in needles.items():
            if needle in value:
                seen[request_id].append(f"{record.topic}[{record.partition}]@{record.offset}")
    order = {topic: index for index, topic in enumerate(topics)}

    def in_path_order(place: str) -> tuple[int, str]:
        return order.get(place.split("[")[0], len(order)), place

    return {
        request_id: ", ".join(sorted(places, key=in_path_order)) or "nowhere"
        for request_id, places in seen.items()
    }
