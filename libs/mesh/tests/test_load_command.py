"""`mlops load`: a table through ingest's real app (in process, on the in-memory Kafka):
records and labels on their topics, in time order, every bad row reported with its line,
and a second load of the same file adding nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from ingest.main import create_app
from ingest.settings import IngestSettings

from mesh.cli import main as mlops
from mesh.load_command import load_table
from mlops_contracts import OutcomeObserved, RecordObserved, topic_for
from mlops_projects import parse_project
from service_kit.in_memory import InMemoryKafka
from service_kit.testing import TopicTap, applied, apply_projects
from simulator.sinks import HttpIngestSink

TOKEN = "t" * 32
SHOP = parse_project("""
name: shop
entity: {key: user}
time_column: at
fields:
  amount: {type: numeric, required: false}
  channel: {type: categorical, values: [web, app]}
features:
  - {name: amount_7d, field: amount, aggregate: sum, window: 7d}
label: {field: bought, positive: 'yes', negative: 'no', delay: 1d}
""")
TABLE = """user,at,amount,channel,bought
u2,2026-03-02T00:00:00Z,5,app,yes
u1,2026-03-01T00:00:00Z,12.5,web,no
u1,2026-03-03T00:00:00Z,,web,
u3,someday,1,web,no
u4,2026-03-04T00:00:00Z,1,tv,no
"""


async def test_a_history_goes_through_ingest_in_time_order_once(tmp_path: Path) -> None:
    table = tmp_path / "orders.csv"
    table.write_text(TABLE)
    kafka = InMemoryKafka()
    await apply_projects(applied(SHOP), memory=kafka)
    settings = IngestSettings(data_dir=tmp_path, instance_id="i-1", api_token=TOKEN)
    app = create_app(settings, kafka)
    records, outcomes = topic_for(RecordObserved).name, topic_for(OutcomeObserved).name
    tap = TopicTap([records, outcomes], memory=kafka)
    async with app.router.lifespan_context(app):
        sink = HttpIngestSink("http://ingest", TOKEN, transport=httpx.ASGITransport(app=app))
        loaded_at = datetime(2026, 12, 7, tzinfo=UTC)
        report = await load_table(SHOP, table, sink, loaded_at=loaded_at, batch=2, progress=False)
        again = await load_table(SHOP, table, sink, loaded_at=loaded_at, progress=False)
        await sink.aclose()
    assert (report.rows, report.records, report.labels) == (5, 3, 2)
    assert (report.accepted, report.duplicates) == (5, 0)
    assert report.rejected == [
        "line 5: at: not an ISO 8601 date or time",
        "line 6: channel: 'tv' is not one of web, app",
    ]
    assert (again.accepted, again.duplicates) == (0, 5)  # the same file again: nothing new
    sent = tap.events(records)
    assert [(r.entity_id, r.observed_at.day) for r in sent] == [("u1", 1), ("u2", 2), ("u1", 3)]
    assert sent[2].values == {"amount": None, "channel": "web"}
    assert all(r.project == "shop" and r.project_version == 1 for r in sent)
    labels = tap.events(outcomes)
    assert [(o.entity_id, o.positive, o.observed_at.day, o.as_of.day) for o in labels] == [
        ("u1", False, 2, 1),
        ("u2", True, 3, 2),
    ]


async def test_a_snapshot_keeps_each_entitys_last_row_and_labels_wait_for_their_time(
    tmp_path: Path,
) -> None:
    snapshot = SHOP.model_copy(update={"time_column": None, "features": ()})
    table = tmp_path / "people.csv"
    table.write_text("user,at,amount,channel,bought\nu1,x,1,web,no\nu1,x,2,app,yes\n")
    kafka = InMemoryKafka()
    await apply_projects(applied(snapshot), memory=kafka)
    settings = IngestSettings(data_dir=tmp_path, instance_id="i-1", api_token=TOKEN)
    app = create_app(settings, kafka)
    tap = TopicTap([topic_for(RecordObserved).name], memory=kafka)
    now = datetime.now(UTC)
    async with app.router.lifespan_context(app):
        sink = HttpIngestSink("http://ingest", TOKEN, transport=httpx.ASGITransport(app=app))
        report = await load_table(snapshot, table, sink, loaded_at=now, progress=False)
        history = tmp_path / "recent.csv"
        history.write_text(f"user,at,amount,channel,bought\nu9,{now.isoformat()},1,web,no\n")
        recent = await load_table(SHOP, history, sink, loaded_at=now, progress=False)
        await sink.aclose()
    assert (report.records, report.superseded, report.labels) == (1, 1, 1)
    [record, _] = tap.events(topic_for(RecordObserved).name)
    assert record.values == {"amount": 2.0, "channel": "app"}  # the later row of u1
    assert (recent.records, recent.labels, recent.held_back) == (1, 0, 1)  # observable in 1 d
    assert "1 labels held back (not observable yet)" in recent.summary(history, "shop")


@pytest.mark.connected
def test_load_says_when_the_project_is_not_applied(
    kafka_bootstrap: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    table.write_text(TABLE)
    argv = ["load", "never-applied", str(table), "--broker", kafka_bootstrap, "--token", "x"]
    assert mlops(argv) == 2
    assert "no model project named 'never-applied' is applied" in capsys.readouterr().err
