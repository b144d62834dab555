"""What the request path costs on its way: no worker-thread hop per request, and no long
pause of the reply consumer a reply could fall into."""

from __future__ import annotations

import inspect
from pathlib import Path

from gateway.main import create_app
from gateway.routes import require_token
from gateway.settings import GatewaySettings

from service_kit import KAFKA_PROFILES


def test_the_token_check_runs_on_the_event_loop() -> None:
    # FastAPI runs a plain-function dependency in a worker thread: a hop per request.
    assert inspect.iscoroutinefunction(require_token)


def test_the_reply_consumer_pauses_no_longer_than_a_fetch_wait(tmp_path: Path) -> None:
    # After an empty poll FastStream's batch consumer idles for its batch timeout; a reply
    # arriving then waits that long on top of the broker's fetch wait (it was 50 ms: a
    # request at 2/s took 51 ms at the median instead of 23).
    settings = GatewaySettings(data_dir=tmp_path, instance_id="gw-1", api_token="t" * 32)
    runtime = create_app(settings).state.runtime
    [replies] = [
        subscriber
        for subscriber in runtime.broker.subscribers
        if [topic.name for topic in subscriber.topics] == [settings.reply_topic]
    ]
    fetch_wait = KAFKA_PROFILES["dev"].consumer_options(request_path=True)["fetch_max_wait_ms"]
    assert replies.batch_timeout_ms <= fetch_wait
