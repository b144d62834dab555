"""What the request path costs on its way: no worker-thread hop per request, and no pause
of the reply consumer a reply could fall into."""

from __future__ import annotations

import inspect
from pathlib import Path

from gateway.main import create_app
from gateway.settings import GatewaySettings

from service_kit.http import require_token
from service_kit.in_memory import InMemoryKafka


def test_the_token_check_runs_on_the_event_loop() -> None:
    # FastAPI runs a plain-function dependency in a worker thread: a hop per request.
    assert inspect.iscoroutinefunction(require_token)


async def test_the_replies_are_read_in_batches_on_the_request_path(tmp_path: Path) -> None:
    # The reply consumer's fetch wait is the profile's request-path one (a caller waits on
    # every reply), its offsets committed together; like every subscription it polls again
    # at once after an empty poll (service_kit's test_kit_hot_path).
    settings = GatewaySettings(data_dir=tmp_path, instance_id="gw-1", api_token="t" * 32)
    kafka = InMemoryKafka()
    app = create_app(settings, kafka)
    async with app.router.lifespan_context(app):
        subscriptions = kafka.subscriptions()
    options = subscriptions[f"gateway-gw-1:{settings.reply_topic}"]
    assert options.request_path
    assert options.max_batch > 1
