"""Every log line is one JSON object carrying the current event and correlation ids."""

from __future__ import annotations

import json
import logging

from service_kit.logs import JsonFormatter, event_context


def render(record: logging.LogRecord) -> dict[str, object]:
    return dict(json.loads(JsonFormatter("predictor", "predictor-1").format(record)))


def make_record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "test", "levelname": "INFO", "msg": message})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_line_is_json_with_service_and_ids_inside_event_context() -> None:
    with event_context("evt-1", "corr-9"):
        line = render(make_record("scored", batch=12))
    assert line["message"] == "scored"
    assert line["service"] == "predictor"
    assert line["instance"] == "predictor-1"
    assert line["event_id"] == "evt-1"
    assert line["correlation_id"] == "corr-9"
    assert line["batch"] == 12


def test_ids_are_cleared_after_the_event() -> None:
    with event_context("evt-1", "corr-9"):
        pass
    line = render(make_record("idle"))
    assert line["event_id"] is None
    assert line["correlation_id"] is None


def test_exception_and_terminal_noise() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = make_record("failed", color_message="\x1b[1mfailed")
        record.exc_info = sys.exc_info()
    line = render(record)
    assert "ValueError: boom" in str(line["exception"])
    assert "color_message" not in line
