"""Generate the committed contract documents from the models.

``python -m mlops_contracts.generate``          (re)writes ``contracts/schemas/*.json`` and
                                                ``contracts/asyncapi.yaml``;
``python -m mlops_contracts.generate --check``  writes nothing, exits 1 listing every file
                                                that is missing, differs, or is stale.

Output is deterministic (stable key order, indent 2, trailing newline), so CI can compare the
committed files byte for byte with what the code generates.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from .codec import CONTENT_TYPE, CONTENT_TYPE_HEADER, CORRELATION_ID_EXTENSION, SPEC_VERSION
from .events import ALL_EVENTS, Event
from .topics import (
    DEAD_LETTER_HEADERS,
    REPLY_TOPIC_PREFIX,
    TopicSpec,
    reply_topic_spec,
    topic_for,
    topics_to_create,
)

__all__ = [
    "ASYNCAPI_FILE",
    "SCHEMAS_DIR",
    "check",
    "default_output_dir",
    "main",
    "render",
    "write",
]

SCHEMAS_DIR = "schemas"
ASYNCAPI_FILE = "asyncapi.yaml"
ASYNCAPI_VERSION = "1.0.0"
"""Version of the documented API; bump it when an event type or topic is added or changed."""
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
KAFKA_BINDING_VERSION = "0.5.0"
RAW_RECORD_MESSAGE = "RawCustomerRecord"
DEAD_LETTER_MESSAGE = "DeadLetter"
REGENERATE_HINT = "run `make contracts` (python -m mlops_contracts.generate)"

# Readable order for the top-level keys of a generated JSON Schema.
_SCHEMA_KEY_ORDER = ("$schema", "title", "description", "type", "properties", "required")


def schema_file_name(cls: type[Event]) -> str:
    """File name of an event type's JSON Schema: its versioned type + ``.json``."""
    return f"{cls.event_type}.json"


def _channel_id(topic_name: str) -> str:
    # AsyncAPI ids allow letters, digits, '_' and '-' only.
    return topic_name.replace(".", "_")


# --------------------------------------------------------------------------------------------
# JSON Schema
# --------------------------------------------------------------------------------------------


def event_json_schema(cls: type[Event]) -> dict[str, Any]:
    """Standalone JSON Schema (draft 2020-12) of an event's data, with contract metadata."""
    schema = cls.model_json_schema(mode="serialization")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    ordered = {k: schema.pop(k) for k in _SCHEMA_KEY_ORDER if k in schema}
    ordered.update(schema)  # remaining keys ($defs...) keep pydantic's order
    ordered["x-cloudevents-type"] = cls.event_type
    ordered["x-kafka-topic"] = topic_for(cls).name
    ordered["x-kafka-key"] = cls.key_field
    return ordered


def _render_json(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# AsyncAPI
# --------------------------------------------------------------------------------------------


def _cloudevents_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 attributes in Kafka binary content mode: one `ce_<attribute>` "
            "header per attribute, UTF-8 text. Other headers may be present and are ignored."
        ),
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": {
                "type": "string",
                "minLength": 1,
                "description": "Unique event id; consumers deduplicate on it.",
            },
            "ce_source": {
                "type": "string",
                "format": "uri-reference",
                "minLength": 1,
                "description": "Producer, e.g. `urn:mlops:predictor:replica-1`.",
            },
            "ce_type": {"type": "string", "description": "Versioned event type."},
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When the event was produced (RFC 3339).",
            },
            "ce_subject": {
                "type": "string",
                "description": "The entity the event is about; equals the record key.",
            },
            CONTENT_TYPE_HEADER: {"type": "string", "const": CONTENT_TYPE},
            f"ce_{CORRELATION_ID_EXTENSION}": {
                "type": "string",
                "description": "Correlation id tying a reply to its request (extension).",
            },
        },
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
    }


def _dead_letter_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "The original record's headers, unchanged, plus these headers saying why it was "
            "dead-lettered."
        ),
        "properties": {
            name: {"type": "string", "description": text}
            for name, text in DEAD_LETTER_HEADERS.items()
        },
        "required": ["dlq_error_type", "dlq_error_message", "dlq_original_topic"],
    }


def _event_message(cls: type[Event]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": cls.__name__,
        "title": f"{cls.__name__} ({cls.event_type})",
        "summary": cls.description,
        "description": inspect.cleandoc(cls.__doc__ or cls.description),
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventsHeaders"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"const": cls.event_type},
                        "ce_subject": {"description": f"The event's `{cls.key_field}`."},
                    },
                },
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"The event's `{cls.key_field}` (UTF-8).",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    if cls.__name__ in {"PredictionRequested", "PredictionMade"}:
        message["correlationId"] = {
            "description": "Set by request/reply clients (e.g. the gateway); echoed in the reply.",
            "location": f"$message.header#/ce_{CORRELATION_ID_EXTENSION}",
        }
    return message


def _raw_record_message() -> dict[str, Any]:
    return {
        "name": RAW_RECORD_MESSAGE,
        "title": "Raw customer record (untrusted)",
        "summary": "An activity or label record from an external producer, not yet validated.",
        "description": (
            "Ingest validates each record (the same rules as its `POST /v1/records` API) and "
            "publishes CustomerActivityRecorded or LabelObserved; invalid records go to the "
            "dead-letter topic with the reason."
        ),
        "contentType": CONTENT_TYPE,
        "payload": {"type": "object", "description": "One record as a JSON object."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The customer id (recommended)."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER_MESSAGE,
        "title": "Dead letter",
        "summary": "A record a consumer gave up on, with the reason in its headers.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": "The original record value, byte for byte."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _message_names(spec: TopicSpec) -> list[str]:
    if spec.event_types:
        return [cls.__name__ for cls in spec.event_types]
    if spec.name.endswith(".dlq"):
        return [DEAD_LETTER_MESSAGE]
    return [RAW_RECORD_MESSAGE]


def _channel(spec: TopicSpec, *, address: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"cleanup.policy": [spec.cleanup_policy]}
    if spec.retention_ms is not None:
        config["retention.ms"] = spec.retention_ms
    key = (
        f"Record key: the `{spec.key_field}`."
        if spec.key_field
        else "Record key: not interpreted by the mesh."
    )
    return {
        "address": address or spec.name,
        "title": address or spec.name,
        "description": f"{spec.description}\n\n{key}",
        "messages": {
            name: {"$ref": f"#/components/messages/{name}"} for name in _message_names(spec)
        },
        "bindings": {
            "kafka": {
                "topic": address or spec.name,
                "partitions": spec.partitions,
                "topicConfiguration": config,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operations(channel_id: str, spec: TopicSpec) -> dict[str, Any]:
    messages = [
        {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in _message_names(spec)
    ]
    operations: dict[str, Any] = {}
    if spec.producers:
        operations[f"send_{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Produced by: {', '.join(spec.producers)}.",
            "messages": copy.deepcopy(messages),
        }
    if spec.consumers:
        operations[f"receive_{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Consumed by: {', '.join(spec.consumers)}.",
            "messages": copy.deepcopy(messages),
        }
    return operations


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic, message, header and key of the mesh."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in topics_to_create():
        channel_id = _channel_id(spec.name)
        channels[channel_id] = _channel(spec)
        operations.update(_operations(channel_id, spec))

    reply = reply_topic_spec("instance-id")
    reply_id = _channel_id(REPLY_TOPIC_PREFIX.rstrip("."))
    channels[reply_id] = _channel(reply, address=REPLY_TOPIC_PREFIX + "{instanceId}")
    channels[reply_id]["parameters"] = {
        "instanceId": {
            "description": (
                "Gateway instance id (lowercase letters, digits, '-'); each instance creates "
                "and alone consumes its own reply topic."
            )
        }
    }
    operations.update(_operations(reply_id, reply))

    _, definitions = models_json_schema(
        [(cls, "serialization") for cls in ALL_EVENTS],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = {
        "CloudEventsHeaders": _cloudevents_headers_schema(),
        "DeadLetterHeaders": _dead_letter_headers_schema(),
    }
    schemas.update(definitions.get("$defs", {}))

    messages: dict[str, Any] = {cls.__name__: _event_message(cls) for cls in ALL_EVENTS}
    messages[RAW_RECORD_MESSAGE] = _raw_record_message()
    messages[DEAD_LETTER_MESSAGE] = _dead_letter_message()

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "MLOps event mesh",
            "version": ASYNCAPI_VERSION,
            "description": (
                "Every Kafka topic of the event-driven MLOps mesh. Events follow the "
                "CloudEvents 1.0 Kafka protocol binding in binary content mode: attributes in "
                "`ce_*` headers, the event data as compact JSON in the record value, and the "
                "record key = the entity the event is about. Generated from "
                "`contracts/src/mlops_contracts` by `make contracts`; do not edit."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "dev": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": (
                    "Embedded Kafka-protocol broker started by `make up` (port configurable)."
                ),
            },
            "production": {
                "host": "kafka-bootstrap:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KRaft): compose/ and k8s/ (Strimzi).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _no_aliases(_dumper: object, _data: object) -> bool:
    return True


# A safe dumper that never emits anchors/aliases: shared sub-trees are written out in full.
# (Built with type() so that mypy accepts it with or without PyYAML's type stubs.)
_Dumper = type("_Dumper", (yaml.SafeDumper,), {"ignore_aliases": _no_aliases})


def _render_yaml(document: dict[str, Any]) -> bytes:
    text = yaml.dump(
        document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return str(text).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def render() -> dict[str, bytes]:
    """Every generated file: path relative to the output folder -> content."""
    files = {
        f"{SCHEMAS_DIR}/{schema_file_name(cls)}": _render_json(event_json_schema(cls))
        for cls in ALL_EVENTS
    }
    files[ASYNCAPI_FILE] = _render_yaml(asyncapi_document())
    return files


def _stale(out_dir: Path, expected: dict[str, bytes]) -> list[Path]:
    schemas = out_dir / SCHEMAS_DIR
    if not schemas.is_dir():
        return []
    return sorted(
        path for path in schemas.glob("*.json") if f"{SCHEMAS_DIR}/{path.name}" not in expected
    )


def check(out_dir: Path) -> list[str]:
    """Problems of the generated files under `out_dir` (empty when all are up to date)."""
    expected = render()
    problems = []
    for relative, content in expected.items():
        path = out_dir / relative
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != content:
            problems.append(f"{path}: differs from what the code generates")
    problems.extend(
        f"{path}: stale (no event type generates it)" for path in _stale(out_dir, expected)
    )
    return problems


def write(out_dir: Path) -> list[Path]:
    """Write the generated files under `out_dir` and delete stale schemas; returns the paths
    created, changed or deleted."""
    expected = render()
    touched = []
    for relative, content in expected.items():
        path = out_dir / relative
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        touched.append(path)
    for path in _stale(out_dir, expected):
        path.unlink()
        touched.append(path)
    return touched


def default_output_dir() -> Path:
    """The repository's ``contracts/`` folder (this package must be installed editable)."""
    candidate = Path(__file__).resolve().parents[2]
    if not (candidate / "pyproject.toml").is_file() or not (candidate / "src").is_dir():
        raise FileNotFoundError(
            f"cannot find the contracts/ folder above {Path(__file__).resolve()}; install "
            "mlops-contracts editable (pip install -e contracts) or pass --out-dir"
        )
    return candidate


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mlops_contracts.generate",
        description="Generate JSON Schema and AsyncAPI from the event contracts.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file is out of date"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="output folder (default: the contracts/ folder)"
    )
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir or default_output_dir()
    if args.check:
        problems = check(out_dir)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"generated contract files are out of date: {REGENERATE_HINT}", file=sys.stderr)
            return 1
        print(f"generated contract files in {out_dir} are up to date")
        return 0
    touched = write(out_dir)
    for path in touched:
        print(f"wrote {path}" if path.exists() else f"deleted {path}")
    print(f"{len(touched)} file(s) changed in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
