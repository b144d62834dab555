"""Where records go: ingest's public ``POST /v1/records`` (like any client), or a JSON-lines file.

The HTTP sink retries what is transient (connection errors after the first success, timeouts,
429, 5xx) with exponential backoff, resending the *same* records: ingest is idempotent on
``record_id``, so a batch that did land before its answer was lost comes back as duplicates.
What retrying cannot fix raises an :class:`IngestError` with a message that says what to do.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any, Protocol

import httpx

IngestRecord = Mapping[str, Any]
"""A record as ingest takes it (a JSON object: the simulator's records, a project's records)."""

RECORDS_PATH = "/v1/records"
MAX_BODY_BYTES = 1024 * 1024
"""Ingest's body limit (1 MiB); larger batches are split before sending."""
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record ingest refused, with its per-field errors (``field: message``)."""

    index: int
    record_id: str
    errors: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.record_id}: {'; '.join(self.errors) or 'rejected'}"


@dataclass(slots=True)
class BatchOutcome:
    """What happened to one batch (its retries included)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    retries: int = 0
    rejections: list[RejectedRecord] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        """Fold the outcome of a part of the batch into this one."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.retries += other.retries
        self.rejections.extend(other.rejections)


class IngestError(Exception):
    """Sending cannot go on; the message says why and what to do."""


class IngestAuthError(IngestError):
    """Ingest refused the bearer token (401/403)."""


class IngestUnreachable(IngestError):
    """Ingest cannot be reached, or kept failing until the retries ran out."""


class IngestRefused(IngestError):
    """Ingest refused the request itself (wrong URL, a record too large, a contract mismatch)."""


class RecordSink(Protocol):
    """Something that takes batches of records."""

    max_batch: int | None
    """Largest batch the sink has learnt it can take (None: no limit known)."""

    async def send(self, records: Sequence[IngestRecord]) -> BatchOutcome:
        """Deliver ``records``; raise :class:`IngestError` when it cannot."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


class JsonLinesSink:
    """Writes one JSON record per line (``--output``): no ingest needed, e.g. to inspect the
    data or to feed ``customer.records.raw`` with a Kafka client."""

    max_batch: int | None = None

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    async def send(self, records: Sequence[IngestRecord]) -> BatchOutcome:
        self._stream.writelines(
            json.dumps(record, separators=(",", ":")) + "\n" for record in records
        )
        self._stream.flush()
        return BatchOutcome(accepted=len(records))

    async def aclose(self) -> None:
        self._stream.flush()


class HttpIngestSink:
    """Posts batches to ingest with a bearer token; see the module docstring for retries."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 8,
        backoff_s: float = 0.25,
        max_backoff_s: float = 8.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_batch: int | None = None
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_body_bytes = max_body_bytes
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._on_retry = on_retry
        self._jitter = random.Random(0)  # backoff jitter; seeded so runs are reproducible
        self._reached = False
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, records: Sequence[IngestRecord]) -> BatchOutcome:
        body = _encode(records)
        if len(body) > self._max_body_bytes and len(records) > 1:
            return await self._send_halves(records)
        return await self._post(records, body)

    async def _send_halves(self, records: Sequence[IngestRecord]) -> BatchOutcome:
        middle = len(records) // 2
        outcome = await self.send(records[:middle])
        second = await self.send(records[middle:])
        # Each rejection's index is into the whole batch, as for an unsplit one.
        second.rejections = [
            replace(r, index=r.index + middle) if r.index >= 0 else r for r in second.rejections
        ]
        outcome.add(second)
        return outcome

    async def _post(self, records: Sequence[IngestRecord], body: bytes) -> BatchOutcome:
        retries = 0
        while True:
            try:
                response = await self._client.post(RECORDS_PATH, content=body)
            except httpx.TransportError as error:
                if isinstance(error, httpx.ConnectError) and not self._reached:
                    # Nothing ever answered: almost certainly no mesh, not a hiccup.
                    raise IngestUnreachable(
                        f"cannot connect to ingest at {self.base_url} ({_describe(error)}). "
                        "Is the mesh up? Start it with `make up`, or point --ingest-url "
                        "(MLOPS_INGEST_URL) at a running ingest."
                    ) from error
                problem = _describe(error)
            else:
                status = response.status_code
                if status in (200, 422):
                    self._reached = True
                    outcome = _outcome(response, records)
                    outcome.retries = retries
                    return outcome
                if status in (401, 403):
                    raise IngestAuthError(
                        f"ingest refused the API token ({status} {response.reason_phrase}). "
                        "Pass --token, set MLOPS_API_TOKEN, or use the token `make up` wrote to "
                        "${MLOPS_MESH_HOME:-var}/secrets/api-token (is it from this mesh?)."
                    )
                if status == 413:
                    self._reached = True
                    if len(records) > 1:
                        # Ingest takes fewer records than we send: halve, and remember it.
                        self.max_batch = max(1, len(records) // 2)
                        outcome = await self._send_halves(records)
                        outcome.retries += retries
                        return outcome
                    raise IngestRefused(
                        f"ingest refused a single record as too large (413): {_snippet(response)}"
                    )
                if status not in _TRANSIENT_STATUS:
                    hint = (
                        f" Is {self.base_url} ingest? (no {RECORDS_PATH} there)"
                        if status in (404, 405)
                        else ""
                    )
                    raise IngestRefused(
                        f"ingest answered {status} {response.reason_phrase} to POST "
                        f"{RECORDS_PATH}: {_snippet(response)}.{hint}"
                    )
                self._reached = True
                problem = f"{status} {response.reason_phrase}"
            if retries >= self._max_retries:
                raise IngestUnreachable(
                    f"gave up on a batch of {len(records)} records after {retries + 1} attempts "
                    f"to {self.base_url}{RECORDS_PATH}; last error: {problem}"
                )
            retries += 1
            delay = min(self._max_backoff_s, self._backoff_s * 2 ** (retries - 1))
            delay *= 0.5 + self._jitter.random() / 2
            if self._on_retry is not None:
                self._on_retry(
                    f"ingest: {problem}; retrying {len(records)} records in {delay:.1f} s "
                    f"(attempt {retries + 1} of {self._max_retries + 1})"
                )
            await self._sleep(delay)


def _encode(records: Sequence[IngestRecord]) -> bytes:
    return json.dumps({"records": list(records)}, separators=(",", ":")).encode()


def _describe(error: httpx.TransportError) -> str:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


def _snippet(response: httpx.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def _outcome(response: httpx.Response, records: Sequence[IngestRecord]) -> BatchOutcome:
    """Read ingest's batch answer; tolerate a 422 in another shape (a framework's validation
    error) by counting the whole batch as rejected with whatever detail it gives."""
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or "accepted" not in payload:
        if response.status_code == 200:
            return BatchOutcome(accepted=len(records))
        detail = payload.get("detail") if isinstance(payload, dict) else None
        message = json.dumps(detail)[:300] if detail is not None else _snippet(response)
        return BatchOutcome(
            rejected=len(records),
            rejections=[RejectedRecord(index=-1, record_id="(batch)", errors=(message,))],
        )
    rejections: list[RejectedRecord] = []
    for result in payload.get("results") or []:
        if not isinstance(result, dict) or result.get("status") != "rejected":
            continue
        index = result.get("index", -1)
        record_id = result.get("record_id")
        if record_id is None and isinstance(index, int) and 0 <= index < len(records):
            record_id = records[index]["record_id"]
        errors = tuple(
            f"{error.get('field', '?')}: {error.get('message', '?')}"
            if isinstance(error, dict)
            else str(error)
            for error in result.get("errors") or []
        )
        rejections.append(
            RejectedRecord(
                index=index if isinstance(index, int) else -1,
                record_id=str(record_id),
                errors=errors,
            )
        )
    return BatchOutcome(
        accepted=int(payload.get("accepted", 0)),
        duplicates=int(payload.get("duplicates", 0)),
        rejected=int(payload.get("rejected", len(rejections))),
        rejections=rejections,
    )
