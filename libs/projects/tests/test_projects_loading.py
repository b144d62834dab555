"""A table's rows as a project's records and labels: a history, a snapshot, and every bad
row rejected with its line and reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlops_projects import parse_project
from mlops_projects.loading import Rejected, Row, TableError, read_rows

LOADED = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

HISTORY = """
name: shop
entity: {key: user, column: user id}
time_column: at
fields:
  amount: {type: numeric, required: false}
  channel: {type: categorical, values: [web, app]}
  returning: {type: boolean}
features:
  - {name: amount_7d, field: amount, aggregate: sum, window: 7d}
label: {field: bought, positive: 'yes', negative: 'no', delay: 2d}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip())
    return path


def test_a_history_is_records_at_their_time_and_labels_their_delay_later(
    tmp_path: Path,
) -> None:
    table = write(
        tmp_path / "orders.csv",
        """
user id,at,amount,channel,returning,bought,ignored
u1,2026-03-01T10:00:00Z,12.5,web,yes,no,x

u1,2026-03-02,,app,false,,y
u2,2026-03-03T08:00:00+02:00,7,app,t,YES,z
""",
    )
    rows = list(read_rows(parse_project(HISTORY), table, loaded_at=LOADED))
    assert all(isinstance(row, Row) for row in rows)
    first, second, third = (row for row in rows if isinstance(row, Row))
    assert first.record.record_id.startswith("shop-u1-")  # project, entity, row content
    assert len({row.record.record_id for row in (first, second, third)}) == 3
    again = [r for r in read_rows(parse_project(HISTORY), table, loaded_at=LOADED)]
    assert [r.record.record_id for r in again if isinstance(r, Row)] == [
        r.record.record_id for r in (first, second, third)
    ]  # the same rows: the same ids (a reload adds nothing)
    assert first.record.observed_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert dict(first.record.values) == {"amount": 12.5, "channel": "web", "returning": True}
    assert first.outcome is not None
    assert first.outcome.positive is False
    assert first.outcome.as_of == first.record.observed_at
    assert first.outcome.observed_at == first.record.observed_at + timedelta(days=2)
    assert second.record.values["amount"] is None  # optional and empty
    assert second.outcome is None  # no label in that row: a record only
    assert third.record.observed_at == datetime(2026, 3, 3, 6, tzinfo=UTC)
    assert third.outcome is not None
    assert third.outcome.positive is True


def test_a_snapshot_is_each_entity_as_of_the_load(tmp_path: Path) -> None:
    project = parse_project(
        HISTORY.replace("time_column: at\n", "").replace(
            "features:\n  - {name: amount_7d, field: amount, aggregate: sum, window: 7d}\n", ""
        )
    )
    table = write(tmp_path / "t.csv", "user id,amount,channel,returning,bought\nu1,1,web,no,yes\n")
    [row] = read_rows(project, table, loaded_at=LOADED)
    assert isinstance(row, Row)
    assert row.record.observed_at == LOADED
    assert row.outcome is not None
    assert row.outcome.observed_at == LOADED  # observed with its row, whatever the delay
    assert project.label.delay == timedelta(days=2)


def test_every_bad_row_is_rejected_with_its_line_and_every_reason(tmp_path: Path) -> None:
    table = write(
        tmp_path / "t.csv",
        """
user id,at,amount,channel,returning,bought
,2026-03-01,ten,tv,maybe,perhaps
u1,2026-03-01,1,web,yes
u2,yesterday,1,web,no,no
u3,2026-03-01,1,web,no,no
u 4,2026-03-01,1,web,no,no
""",
    )
    rows = list(read_rows(parse_project(HISTORY), table, loaded_at=LOADED))
    rejected = [row for row in rows if isinstance(row, Rejected)]
    assert [str(r) for r in rejected] == [
        "line 2: user id: the entity key is empty; amount: 'ten' is not a number; "
        "channel: 'tv' is not one of web, app; returning: 'maybe' is not true or false; "
        "bought: label 'perhaps' is neither 'yes' nor 'no'",
        "line 3: 5 cells, the header has 6",
        "line 4: at: not an ISO 8601 date or time",
        "line 6: user id: an entity key has no spaces and at most 200 characters",
    ]
    assert [row.line for row in rows if isinstance(row, Row)] == [5]
    assert [
        row.line
        for row in read_rows(
            parse_project(HISTORY),
            write(
                tmp_path / "q.csv",
                "user id,at,amount,channel,returning,bought\n"
                'u1,2026-03-01,1,"we\nb",no,no\nu2,x,1,web,no,no\n',
            ),
            loaded_at=LOADED,
        )
    ] == [3, 4]  # lines where each row ends, quoted newlines counted


def test_a_table_without_the_projects_columns_is_one_clear_error(tmp_path: Path) -> None:
    table = write(tmp_path / "t.csv", "user id,amount\nu1,1\n")
    with pytest.raises(TableError, match="no column channel, returning, at"):
        list(read_rows(parse_project(HISTORY), table, loaded_at=LOADED))
    with pytest.raises(TableError, match="cannot read"):
        list(read_rows(parse_project(HISTORY), tmp_path / "missing.csv", loaded_at=LOADED))
