"""CloudEvents 1.0 Kafka protocol binding, binary content mode.

A record on the wire:

- key: the entity the event is about (the value of the event's key field, UTF-8);
- value: the event data as compact JSON;
- headers: the CloudEvents attributes as ``ce_<attribute>`` (UTF-8 strings) and
  ``content-type: application/json``.

:func:`encode` turns an event into a :class:`WireRecord`; :func:`decode` turns record parts
back into an :class:`Envelope`. Every decoding failure raises a :class:`ContractError` whose
message says exactly what was wrong: consumers put it into the dead-letter record's headers.
"""

from __future__ import annotations

import difflib
import functools
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar, overload

from pydantic import ValidationError

from .events import EVENT_TYPES, Event
from .topics import topic_for, topic_spec

__all__ = [
    "CONTENT_TYPE",
    "SPEC_VERSION",
    "ContractError",
    "Envelope",
    "EventTypeNotAllowedError",
    "FieldError",
    "InvalidAttributeError",
    "InvalidPayloadError",
    "KeyMismatchError",
    "MalformedPayloadError",
    "MissingAttributeError",
    "UnknownEventTypeError",
    "WireRecord",
    "decode",
    "encode",
    "service_source",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
CONTENT_TYPE_HEADER = "content-type"
HEADER_PREFIX = "ce_"
CORRELATION_ID_EXTENSION = "correlationid"

# Attributes with a meaning of their own; every other ce_* header is an extension.
_CORE_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema"}
)
_RESERVED_NAMES = _CORE_ATTRIBUTES | {"data", CORRELATION_ID_EXTENSION}
# CloudEvents: attribute names are lowercase a-z and 0-9, at most 20 characters.
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_PREFIX_LENGTH = len(HEADER_PREFIX)
_MORE_THAN_MICROSECONDS = re.compile(r"(\.\d{6})\d+")
_MAX_ERRORS_SHOWN = 10
_MAX_INPUT_SHOWN = 80

E = TypeVar("E", bound=Event)
E_co = TypeVar("E_co", bound=Event, covariant=True)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ContractError(ValueError):
    """A record or an event does not follow the contract. Deterministic: retrying won't help,
    dead-letter the record. `code` names the kind of error (for a `dlq_error_type` header)."""

    code: ClassVar[str] = "contract_error"


class MissingAttributeError(ContractError):
    """A required CloudEvents header is absent."""

    code: ClassVar[str] = "missing_attribute"


class InvalidAttributeError(ContractError):
    """A header is present but unusable (bad specversion, time, content-type, encoding...)."""

    code: ClassVar[str] = "invalid_attribute"


class UnknownEventTypeError(ContractError):
    """`ce_type` names no registered event type."""

    code: ClassVar[str] = "unknown_event_type"


class EventTypeNotAllowedError(ContractError):
    """A registered event type arrived on a topic or consumer that does not take it."""

    code: ClassVar[str] = "event_type_not_allowed"


class MalformedPayloadError(ContractError):
    """The record value is missing, not JSON, or not a JSON object."""

    code: ClassVar[str] = "malformed_payload"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error of an event's data."""

    field: str
    """Dotted path of the offending field (``(event)`` for errors about the whole event)."""
    message: str
    """What is wrong with it."""


class InvalidPayloadError(ContractError):
    """The JSON data does not validate against the event type's model."""

    code: ClassVar[str] = "invalid_payload"

    def __init__(self, message: str, errors: tuple[FieldError, ...]) -> None:
        super().__init__(message)
        self.errors = errors


class KeyMismatchError(ContractError):
    """The record key is not the entity the event is about."""

    code: ClassVar[str] = "key_mismatch"


# --------------------------------------------------------------------------------------------
# Records and envelopes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireRecord:
    """A Kafka record ready to produce. Use ``dataclasses.replace(record, topic=...)`` to send
    the same record to another topic (e.g. a request's reply-to topic)."""

    topic: str
    key: bytes | None
    """The entity the event is about (None only for a dead letter of an unkeyed record)."""
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> bytes | None:
        """Value of header `name`, or None."""
        for header_name, value in self.headers:
            if header_name == name:
                return value
        return None

    def text_headers(self) -> dict[str, str]:
        """Headers as ``str -> str`` (for clients such as FastStream that take text headers)."""
        return {name: value.decode("utf-8") for name, value in self.headers}


@dataclass(frozen=True, slots=True)
class Envelope(Generic[E_co]):
    """A decoded event with its CloudEvents attributes."""

    id: str
    """`ce_id`: unique per event and source; consumers deduplicate on it."""
    source: str
    """`ce_source`: who produced the event (e.g. ``urn:mlops:predictor:replica-1``)."""
    type: str
    """`ce_type`: the versioned event type."""
    time: datetime | None
    """`ce_time`: when the event was produced (optional in CloudEvents)."""
    subject: str | None
    """`ce_subject`: the entity, same as the record key."""
    correlation_id: str | None
    """`ce_correlationid` extension: ties a reply to its request."""
    data: E_co
    """The event."""
    extensions: Mapping[str, str] = field(default_factory=dict)
    """Other ``ce_*`` headers (CloudEvents extensions), by attribute name."""


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def service_source(service: str, instance_id: str | None = None) -> str:
    """Conventional `ce_source` of a mesh service: ``urn:mlops:<service>[:<instance>]``."""
    return f"urn:mlops:{service}" if instance_id is None else f"urn:mlops:{service}:{instance_id}"


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    correlation_id: str | None = None,
    extensions: Mapping[str, str] | None = None,
) -> WireRecord:
    """Encode `event` as a record for its catalogue topic (CloudEvents Kafka binary mode).

    `event_id` defaults to a random UUID, `time` to now. `correlation_id` becomes the
    ``ce_correlationid`` extension; `extensions` adds further ``ce_<name>`` headers (names are
    1-20 lowercase letters or digits).
    """
    if not source:
        raise InvalidAttributeError("source must be a non-empty string (e.g. urn:mlops:ingest)")
    if event_id is not None and not event_id:
        raise InvalidAttributeError("event_id must be a non-empty string when given")
    if time is not None and time.utcoffset() is None:
        raise InvalidAttributeError(f"time {time.isoformat()} has no timezone; pass an aware one")
    key = event.partition_key()
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", (event_id or str(uuid.uuid4())).encode()),
        ("ce_source", source.encode()),
        ("ce_type", event.event_type.encode()),
        ("ce_time", _format_time(time or datetime.now(UTC)).encode()),
        ("ce_subject", key.encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
    ]
    if correlation_id is not None:
        if not correlation_id:
            raise InvalidAttributeError("correlation_id must be a non-empty string when given")
        headers.append((HEADER_PREFIX + CORRELATION_ID_EXTENSION, correlation_id.encode()))
    for name, value in (extensions or {}).items():
        if not _EXTENSION_NAME.match(name) or name in _RESERVED_NAMES:
            raise InvalidAttributeError(
                f"invalid CloudEvents extension name {name!r}: use 1-20 lowercase letters or "
                f"digits, not one of {sorted(_RESERVED_NAMES)}"
            )
        headers.append((HEADER_PREFIX + name, value.encode()))
    return WireRecord(
        topic=topic_for(event).name,
        key=key.encode(),
        value=event.model_dump_json().encode(),
        headers=tuple(headers),
    )


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------

HeaderValue = bytes | bytearray | memoryview | str | None
Headers = Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]]


def _header_text(name: str, value: object) -> str:
    if type(value) is bytes:  # what Kafka clients hand over: the hot path
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidAttributeError(
                f"header {name!r} is not valid UTF-8 (bad byte at position {exc.start})"
            ) from None
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return _header_text(name, bytes(value))
    raise InvalidAttributeError(f"header {name!r} has a {type(value).__name__} value, not bytes")


def _read_headers(headers: Headers) -> tuple[dict[str, str], str | None]:
    """CloudEvents attributes by name (without the ``ce_`` prefix), and the content type."""
    pairs: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    attributes: dict[str, str] = {}
    content_type: str | None = None
    try:
        iterator = iter(pairs)
    except TypeError:
        raise InvalidAttributeError("headers must be a mapping or (name, value) pairs") from None
    for pair in iterator:
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise InvalidAttributeError("headers must be a mapping or (name, value) pairs")
        name, value = pair
        if type(name) is not str:
            if isinstance(name, bytes | bytearray):
                name = bytes(name).decode("utf-8", errors="replace")
            if not isinstance(name, str):
                raise InvalidAttributeError(f"header name {name!r} is not a string")
        if name.startswith(HEADER_PREFIX):
            attribute = name[_PREFIX_LENGTH:]
            if attribute in attributes:
                raise InvalidAttributeError(f"header {name!r} appears more than once")
            attributes[attribute] = _header_text(name, value)
        elif name.lower() == CONTENT_TYPE_HEADER:
            content_type = _header_text(name, value)
    return attributes, content_type


def _check_content_type(content_type: str | None) -> None:
    if not content_type:  # absent: CloudEvents implies application/json
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("application/cloudevents"):
        raise InvalidAttributeError(
            f"structured content mode (content-type {content_type!r}) is not supported: send "
            "binary mode, with the attributes in ce_* headers and the event data as the value"
        )
    if media_type != CONTENT_TYPE:
        raise InvalidAttributeError(
            f"unsupported content-type {content_type!r}: the value must be {CONTENT_TYPE}"
        )


def _required(attributes: Mapping[str, str], name: str) -> str:
    value = attributes.get(name)
    if value is None:
        raise MissingAttributeError(
            f"missing header 'ce_{name}' (CloudEvents attribute {name!r} is required)"
        )
    if not value:
        raise InvalidAttributeError(f"header 'ce_{name}' is empty")
    return value


def _parse_time(text: str) -> datetime:
    if not _RFC3339.match(text):
        raise InvalidAttributeError(f"header 'ce_time' is not an RFC 3339 timestamp: {text!r}")
    normalized = text.upper().replace(" ", "T")
    dot = normalized.find(".")
    if dot != -1 and normalized[dot + 7 : dot + 8].isdigit():
        # Python parses at most 6 fractional digits; RFC 3339 allows more.
        normalized = _MORE_THAN_MICROSECONDS.sub(r"\1", normalized)
    try:
        return datetime.fromisoformat(normalized)
    except ValueError as exc:
        raise InvalidAttributeError(
            f"header 'ce_time' {text!r} is not a valid time: {exc}"
        ) from None


def _event_class(type_name: str) -> type[Event]:
    cls = EVENT_TYPES.get(type_name)
    if cls is not None:
        return cls
    close = difflib.get_close_matches(type_name, EVENT_TYPES, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known types: {', '.join(EVENT_TYPES)}"
    raise UnknownEventTypeError(f"unknown event type {type_name!r} in header 'ce_type' ({hint})")


def _allowed_types(
    topic: str | None, expected_types: type[Event] | Iterable[type[Event]] | None
) -> tuple[frozenset[str] | None, str]:
    """Type names allowed by the caller (None = any) and how to say where."""
    if expected_types is None or isinstance(expected_types, type):
        return _allowed_types_of(topic, expected_types)
    return _allowed_types_of(topic, tuple(expected_types))


@functools.lru_cache(maxsize=256)  # a consumer asks the same question for every record
def _allowed_types_of(
    topic: str | None, expected_types: type[Event] | tuple[type[Event], ...] | None
) -> tuple[frozenset[str] | None, str]:
    allowed: set[str] | None = None
    where = []
    if topic is not None:
        try:
            spec = topic_spec(topic)
        except KeyError:
            spec = None  # not a catalogue topic: the caller's expected_types decide
        if spec is not None and spec.type_names:
            allowed = set(spec.type_names)
            where.append(f"topic {topic!r}")
    if expected_types is not None:
        classes = (expected_types,) if isinstance(expected_types, type) else tuple(expected_types)
        expected = {cls.event_type for cls in classes}
        allowed = expected if allowed is None else allowed & expected
        where.append("this consumer")
    return (None if allowed is None else frozenset(allowed)), " and ".join(where)


def _shorten(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_INPUT_SHOWN:
        return text[: _MAX_INPUT_SHOWN - 3] + "..."
    return text


def _field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    errors = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(event)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] not in {"missing", "model_type"} and error["loc"]:
            message = f"{message} (got {_shorten(error.get('input'))})"
        errors.append(FieldError(location, message))
    return tuple(errors)


def _validate(cls: type[E], value: bytes | bytearray | memoryview | None) -> E:
    if value is None or len(value) == 0:
        raise MalformedPayloadError(
            f"record has no value; expected the JSON data of {cls.event_type}"
        )
    try:
        return cls.model_validate_json(bytes(value))
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else None
        if first is not None and first["type"] == "json_invalid":
            detail = str(first.get("ctx", {}).get("error", first["msg"]))
            raise MalformedPayloadError(
                f"value of {cls.event_type} is not valid JSON: {detail}"
            ) from None
        if first is not None and first["type"] == "model_type" and not first["loc"]:
            raise MalformedPayloadError(
                f"value of {cls.event_type} must be a JSON object, "
                f"got {_shorten(first.get('input'))}"
            ) from None
        field_errors = _field_errors(exc)
        shown = "; ".join(f"{e.field}: {e.message}" for e in field_errors[:_MAX_ERRORS_SHOWN])
        more = len(field_errors) - _MAX_ERRORS_SHOWN
        if more > 0:
            shown += f"; and {more} more"
        count = f"{len(field_errors)} error{'s' if len(field_errors) != 1 else ''}"
        raise InvalidPayloadError(
            f"invalid {cls.event_type} data ({count}): {shown}", field_errors
        ) from None


@overload
def decode(
    value: bytes | bytearray | memoryview | None,
    headers: Headers,
    *,
    key: bytes | str | None = None,
    topic: str | None = None,
    expected_types: type[E],
) -> Envelope[E]: ...


@overload
def decode(
    value: bytes | bytearray | memoryview | None,
    headers: Headers,
    *,
    key: bytes | str | None = None,
    topic: str | None = None,
    expected_types: Iterable[type[Event]] | None = None,
) -> Envelope[Event]: ...


def decode(
    value: bytes | bytearray | memoryview | None,
    headers: Headers,
    *,
    key: bytes | str | None = None,
    topic: str | None = None,
    expected_types: type[Event] | Iterable[type[Event]] | None = None,
) -> Envelope[Event]:
    """Decode a Kafka record (value, headers, optionally key) into an :class:`Envelope`.

    `topic`: the topic the record came from; a catalogue topic (or a DLQ/reply topic) only
    accepts its own event types. `expected_types`: the event classes this consumer accepts.
    `key`: the record key; when present and non-empty it must equal the event's key field.

    Raises a :class:`ContractError` subclass, with a message saying what is wrong, for any
    record that does not follow the contract; never anything else.
    """
    attributes, content_type = _read_headers(headers)
    _check_content_type(content_type)
    specversion = _required(attributes, "specversion")
    if specversion != SPEC_VERSION:
        raise InvalidAttributeError(
            f"unsupported CloudEvents specversion {specversion!r} in header 'ce_specversion' "
            f"(supported: {SPEC_VERSION})"
        )
    event_id = _required(attributes, "id")
    source = _required(attributes, "source")
    type_name = _required(attributes, "type")
    cls = _event_class(type_name)
    allowed, where = _allowed_types(topic, expected_types)
    if allowed is not None and type_name not in allowed:
        raise EventTypeNotAllowedError(
            f"event type {type_name!r} is not accepted by {where} "
            f"(accepted: {', '.join(sorted(allowed)) or 'none'})"
        )
    time_text = attributes.get("time")
    time = _parse_time(time_text) if time_text else None
    data = _validate(cls, value)
    if key is not None and len(key) > 0:
        key_text = key if isinstance(key, str) else bytes(key).decode("utf-8", errors="replace")
        if key_text != data.partition_key():
            raise KeyMismatchError(
                f"record key {key_text!r} does not match {cls.key_field} "
                f"{data.partition_key()!r} of the {type_name} event "
                "(the key must be the entity the event is about)"
            )
    extensions = {
        name: text
        for name, text in attributes.items()
        if name not in _CORE_ATTRIBUTES and name != CORRELATION_ID_EXTENSION
    }
    return Envelope(
        id=event_id,
        source=source,
        type=type_name,
        time=time,
        subject=attributes.get("subject") or None,
        correlation_id=attributes.get(CORRELATION_ID_EXTENSION) or None,
        data=data,
        extensions=MappingProxyType(extensions),
    )
