"""Elasticsearch output: documents → `_bulk`, with retries, per-item outcome and a dead-letter file.

Public surface (shaped like elasticsearch-py's `helpers.streaming_bulk`, but with the answers the
shipper needs to decide whether it may advance its read position):

    out = ElasticsearchOutput(client, index_prefix="dirsrvbeat", index_mode="daily",
                              chunk_bytes=5 * 2**20, chunk_docs=5000, max_retries=8,
                              dead_letter="dead-letter.ndjson")
    result = out.send(docs)        # -> BulkResult; raises DeliveryError when something is undelivered
    stats = out.write(iter(docs))  # plugin interface: streams chunk by chunk, same semantics
    out.close()

* Serialised with orjson into `_bulk` chunks bounded by `chunk_bytes` (and `chunk_docs`).
* `index` action, `_id` = `event.id` when present (so re-sending is idempotent), `_type: _doc` for 6.x.
* The whole request is retried with exponential backoff (tenacity) on connection errors, timeouts,
  5xx and a whole-request 429; items answered 429 or 5xx are retried alone, same backoff and budget.
* Items the server refuses because of the document itself (400 mapping/parse errors, 413) are
  *rejected*: counted, kept in `BulkResult.rejected` and written to the dead-letter NDJSON file with
  their reason. They are delivered as far as the shipper is concerned (retrying cannot help).
* Anything else that is still not indexed after the retries (server down, 401/403, closed index, no
  write alias ...) raises `DeliveryError`: the shipper must NOT advance its state; sending the same
  documents again later is safe (same `_id`, same daily index).
* `event.ingested` is set on every document sent (the caller's dicts are not modified).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain
from typing import Any

import orjson
import tenacity

from ..config import ElasticsearchConfig, load_config
from ..config import client_options as cfg_client_options
from ..deadletter import DeadLetter
from ..es.client import (
    EsAuthError,
    EsClient,
    EsConnectionError,
    EsError,
    EsNotFound,
    EsRequestError,
    EsServerError,
    EsTooManyRequests,
    error_summary,
)
from ..es.indices import IndexNamer
from ..plugins import register

log = logging.getLogger("dirsrvbeat.output.elasticsearch")

MiB = 1 << 20
# what the output reads of a _bulk answer (the rest would be serialised, sent and parsed for nothing)
BULK_FILTER_PATH = "took,errors,items.*._index,items.*._id,items.*.status,items.*.result,items.*.error"
DEFAULT_CHUNK_BYTES = 5 * MiB
DEFAULT_CHUNK_DOCS = 5000

# Per-item errors that are about the index/cluster, not the document: never dead-lettered.
NOT_DOCUMENT_ERRORS = frozenset({
    "index_closed_exception", "invalid_index_name_exception", "cluster_block_exception",
    "index_not_found_exception", "invalid_alias_name_exception", "security_exception",
    "resource_already_exists_exception", "type_missing_exception",
})
NOT_DOCUMENT_REASONS = ("no write index is defined", "Rejecting mapping update to",
                        "the final mapping would have more than 1 type")


@dataclass
class RejectedItem:
    """A document Elasticsearch refused for good (kept, with the reason, in the dead-letter file)."""

    index: str | None
    id: str | None
    status: int | None
    error_type: str | None
    reason: str | None
    doc: dict[str, Any]

    def as_record(self) -> dict[str, Any]:
        return {"@timestamp": _now_iso(), "output": "elasticsearch", "index": self.index, "id": self.id,
                "status": self.status, "error": {"type": self.error_type, "reason": self.reason},
                "document": _json_safe(self.doc)}


def _json_safe(doc: Any) -> Any:
    """The document itself when it serialises, else a lossless-as-possible JSON copy (non-str keys)."""
    try:
        orjson.dumps(doc)
        return doc
    except (orjson.JSONEncodeError, TypeError):
        return orjson.loads(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS, default=repr))


@dataclass
class BulkResult:
    """Outcome of `send()`/`write()`: every document is acknowledged or rejected (or the call raised)."""

    acknowledged: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[RejectedItem] = field(default_factory=list)
    retries: int = 0  # retry rounds (whole request or items)
    retried_items: int = 0
    requests: int = 0
    bytes: int = 0
    by_index: dict[str, int] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return self.acknowledged + len(self.rejected)

    def merge(self, other: BulkResult) -> None:
        self.acknowledged += other.acknowledged
        self.created += other.created
        self.updated += other.updated
        self.rejected.extend(other.rejected)
        self.retries += other.retries
        self.retried_items += other.retried_items
        self.requests += other.requests
        self.bytes += other.bytes
        for k, v in other.by_index.items():
            self.by_index[k] = self.by_index.get(k, 0) + v

    def summary(self) -> dict[str, Any]:
        return {"acknowledged": self.acknowledged, "created": self.created, "updated": self.updated,
                "rejected": len(self.rejected), "retries": self.retries, "retried_items": self.retried_items,
                "requests": self.requests, "bytes": self.bytes}


class DeliveryError(Exception):
    """Documents could not be delivered after the retries; do not advance the shipper's state.

    `result` holds what was acknowledged/rejected before the failure, `undelivered` how many documents
    of the failing chunk were not indexed, `cause` the last error."""

    def __init__(self, message: str, result: BulkResult, undelivered: int,
                 cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.result = result
        self.undelivered = undelivered
        self.cause = cause


class _Item:
    """One `_bulk` item: its action and source lines (each ending in a newline). Items framed
    elsewhere (the compiled engine) carry only the bytes: the document, index and id are read
    from them when needed (a rejection, an error message)."""

    __slots__ = ("_doc", "_id", "_index", "_meta_read", "action", "source")

    def __init__(self, action: bytes, source: bytes, doc: dict[str, Any] | None = None,
                 index: str | None = None, id: str | None = None, *, meta_read: bool = True) -> None:
        self.action = action
        self.source = source
        self._doc = doc
        self._index = index
        self._id = id
        self._meta_read = meta_read

    @property
    def size(self) -> int:
        return len(self.action) + len(self.source)

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            try:
                self._doc = orjson.loads(self.source)
            except orjson.JSONDecodeError:
                self._doc = {"unreadable_source": self.source.decode("utf-8", "replace")}
        return self._doc

    def _read_meta(self) -> None:
        if not self._meta_read:
            self._meta_read = True
            try:
                meta = next(iter(orjson.loads(self.action).values()))
                self._index, self._id = meta.get("_index"), meta.get("_id")
            except (orjson.JSONDecodeError, StopIteration, AttributeError):
                pass

    @property
    def index(self) -> str | None:
        self._read_meta()
        return self._index

    @property
    def id(self) -> str | None:
        self._read_meta()
        return self._id


class _FramedItem(_Item):
    """An item framed elsewhere, its lines held without their newlines (no copy per document)."""

    __slots__ = ()

    def __init__(self, action: bytes, source: bytes) -> None:
        super().__init__(action, source, meta_read=False)

    @property
    def size(self) -> int:
        return len(self.action) + len(self.source) + 2


def _body(items: list[_Item]) -> bytes:
    if items and isinstance(items[0], _FramedItem):
        return b"\n".join(chain((part for item in items for part in (item.action, item.source)), (b"",)))
    return b"".join(part for item in items for part in (item.action, item.source))


class _Retry(Exception):
    """Something retryable happened (internal; drives tenacity)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class _Fatal(Exception):
    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@register("output", "elasticsearch")
class ElasticsearchOutput:
    """Bulk-indexes documents. See the module docstring for the delivery contract."""

    def __init__(self, client: EsClient | None = None, *, config: Any = None,
                 index_for: Callable[[dict[str, Any]], str] | None = None,
                 index_prefix: str | None = None, index_mode: str | None = None,
                 chunk_bytes: int | None = None, chunk_docs: int | None = None,
                 max_retries: int | None = None, initial_backoff: float | None = None,
                 max_backoff: float | None = None, dead_letter: str | DeadLetter | None = None,
                 set_ingested: bool = True, doc_type: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, **client_options: Any) -> None:
        if isinstance(config, Mapping):  # from a YAML pipeline: validate like dirsrvbeat.yml
            config = load_config(overrides={"elasticsearch": dict(config)}, env={}).elasticsearch
        cfg: ElasticsearchConfig = config or ElasticsearchConfig()
        self._own_client = client is None
        if client is None:
            opts = cfg_client_options(cfg) if config is not None else {}
            opts.update(client_options)
            client = EsClient(**opts)
        elif client_options:
            raise TypeError(f"unexpected options with a client: {', '.join(sorted(client_options))}")
        self.client = client
        prefix = index_prefix or cfg.index_prefix
        mode = index_mode or cfg.index_mode
        self.index_for = index_for or IndexNamer(prefix, mode)
        bulk = cfg.bulk
        self.chunk_bytes = int(chunk_bytes or bulk.chunk_bytes)
        self.chunk_docs = int(chunk_docs or bulk.chunk_docs)
        self.max_retries = bulk.max_retries if max_retries is None else int(max_retries)
        self.initial_backoff = bulk.initial_backoff if initial_backoff is None else float(initial_backoff)
        self.max_backoff = bulk.max_backoff if max_backoff is None else float(max_backoff)
        if self.chunk_bytes < 1 or self.chunk_docs < 1 or self.max_retries < 0:
            raise ValueError("chunk_bytes and chunk_docs must be >= 1, max_retries >= 0")
        if isinstance(dead_letter, DeadLetter) or dead_letter is None:
            self.dead_letter = dead_letter
            self._own_dead_letter = False
        else:
            self.dead_letter = DeadLetter(dead_letter)
            self._own_dead_letter = True
        self.set_ingested = set_ingested
        self._doc_type = doc_type
        self._doc_type_known = doc_type is not None
        self._sleep = sleep
        self.stats = BulkResult()

    def __repr__(self) -> str:
        return (f"ElasticsearchOutput({self.client!r}, index_for={self.index_for!r}, "
                f"chunk_bytes={self.chunk_bytes}, chunk_docs={self.chunk_docs})")

    # ----------------------------------------------------------------------------- public API
    def send(self, docs: Iterable[dict[str, Any]]) -> BulkResult:
        """Index a batch. Returns when every document is acknowledged or rejected (dead-lettered);
        raises DeliveryError otherwise (earlier chunks of the batch may have been indexed: resending
        the whole batch is safe)."""
        result = BulkResult()
        try:
            for chunk in self._chunks(self._items(docs, result)):
                self._deliver(chunk, result)
        finally:
            self.stats.merge(result)
        return result

    def send_framed(self, lines: list[bytes]) -> BulkResult:
        """Index documents already framed for `_bulk`: `lines` alternates action and source lines
        (without their newlines), as the compiled engine writes them after `Engine.set_bulk`
        (`framing()` gives its settings). Same contract as `send`."""
        if len(lines) % 2:
            raise ValueError("framed lines must come in (action, source) pairs")
        result = BulkResult()
        items: list[_Item] = [_FramedItem(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
        try:
            for chunk in self._chunks(iter(items)):
                # the usual case: the caller's lines are already one chunk, sent as they are
                body = b"\n".join(chain(lines, (b"",))) if len(chunk) == len(items) else None
                self._deliver(chunk, result, body)
        finally:
            self.stats.merge(result)
        return result

    def framing(self) -> tuple[str, str, str | None]:
        """(index prefix, index mode, `_type` or None) for `Engine.set_bulk`; asks the server's
        version (with retries) for the `_type`. Only for the default IndexNamer."""
        if not isinstance(self.index_for, IndexNamer):
            raise ValueError("framing() needs the default index naming")
        return self.index_for.prefix, self.index_for.mode, self._resolve_type_with_retry()

    def write(self, docs: Iterator[dict[str, Any]]) -> BulkResult:
        """Plugin interface: stream documents chunk by chunk; returns the totals of this call."""
        return self.send(docs)

    def close(self) -> None:
        if self._own_dead_letter and self.dead_letter is not None:
            self.dead_letter.close()
        if self._own_client:
            self.client.close()

    # ----------------------------------------------------------------------------- serialisation
    def _type(self) -> str | None:
        if not self._doc_type_known:
            self._doc_type = "_doc" if self.client.info().major < 7 else None
            self._doc_type_known = True
        return self._doc_type

    def _items(self, docs: Iterable[dict[str, Any]], result: BulkResult) -> Iterator[_Item]:
        dumps = orjson.dumps
        nl = orjson.OPT_APPEND_NEWLINE
        ingested = _now_iso() if self.set_ingested else None
        doc_type = None
        type_resolved = False
        for doc in docs:
            if not type_resolved:
                doc_type = self._resolve_type_with_retry()
                type_resolved = True
            event = doc.get("event")
            doc_id = event.get("id") if isinstance(event, dict) else None
            if doc_id is not None and not isinstance(doc_id, str):
                doc_id = str(doc_id)
            try:
                index = self.index_for(doc)
            except Exception as exc:  # a custom strategy failed on this document
                self._reject(result, _RejectInfo(None, doc_id, None, "index_name_error", str(exc)), doc)
                continue
            if ingested is not None:
                src = dict(doc)
                src["event"] = {**event, "ingested": ingested} if isinstance(event, dict) else {"ingested": ingested}
            else:
                src = doc
            meta: dict[str, str] = {"_index": index}
            if doc_id:
                meta["_id"] = doc_id
            if doc_type:
                meta["_type"] = doc_type
            try:
                source = dumps(src, option=nl)
                action = dumps({"index": meta}, option=nl)
            except (orjson.JSONEncodeError, TypeError) as exc:
                self._reject(result, _RejectInfo(index, doc_id, None, "serialization_error", str(exc)), doc)
                continue
            yield _Item(action, source, doc, index, doc_id)

    def _chunks(self, items: Iterator[_Item]) -> Iterator[list[_Item]]:
        chunk: list[_Item] = []
        size = 0
        for item in items:
            isize = item.size
            if chunk and (size + isize > self.chunk_bytes or len(chunk) >= self.chunk_docs):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += isize
        if chunk:
            yield chunk

    # ----------------------------------------------------------------------------- delivery
    def _retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._backoff,
            retry=tenacity.retry_if_exception_type(_Retry),
            sleep=self._sleep, reraise=True, before_sleep=self._before_sleep)

    def _backoff(self, state: tenacity.RetryCallState) -> float:
        """initial * 2^(n-1), plus up to `initial` of jitter, capped at max_backoff."""
        base = self.initial_backoff * (2 ** (state.attempt_number - 1))
        return min(self.max_backoff, base + random.uniform(0, self.initial_backoff))

    @staticmethod
    def _before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning("bulk: %s; retry %d in %.1fs", exc, state.attempt_number, wait)

    def _resolve_type_with_retry(self) -> str | None:
        if self._doc_type_known:
            return self._doc_type
        try:
            for attempt in self._retrying():
                with attempt:
                    try:
                        return self._type()
                    except (EsConnectionError, EsServerError, EsTooManyRequests) as exc:
                        raise _Retry(f"version detection failed: {exc}", exc) from exc
        except _Retry as exc:
            raise DeliveryError(f"Elasticsearch unreachable: {exc}", BulkResult(), 0, exc.cause) from exc.cause
        except EsError as exc:
            raise DeliveryError(f"Elasticsearch version detection failed: {exc}", BulkResult(), 0, exc) from exc
        return self._doc_type  # pragma: no cover

    def _deliver(self, chunk: list[_Item], result: BulkResult, body: bytes | None = None) -> None:
        state = _ChunkState(pending=list(chunk), body=body)
        try:
            for attempt in self._retrying():
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        result.retries += 1
                        result.retried_items += len(state.pending)
                    self._attempt(state, result)
        except _Retry as exc:
            raise DeliveryError(
                f"{len(state.pending)} document(s) not delivered after {self.max_retries} retries: {exc}",
                result, len(state.pending) + len(state.undeliverable), exc.cause) from exc.cause
        except _Fatal as exc:
            raise DeliveryError(f"{len(state.pending)} document(s) not delivered: {exc}", result,
                                len(state.pending) + len(state.undeliverable), exc.cause) from exc.cause
        if state.split:
            for half in state.split:
                self._deliver(half, result)
        if state.undeliverable:
            first = state.undeliverable[0]
            raise DeliveryError(
                f"{len(state.undeliverable)} document(s) not delivered: HTTP {first.status} "
                f"{first.error_type}: {first.reason} (index {first.index})", result, len(state.undeliverable))

    def _attempt(self, state: _ChunkState, result: BulkResult) -> None:
        pending = state.pending
        body = state.body if state.body is not None else _body(pending)
        state.body = None  # a retry sends what is still pending
        result.requests += 1
        result.bytes += len(body)
        try:
            resp = self.client.bulk(body, filter_path=BULK_FILTER_PATH)
        except (EsConnectionError, EsServerError, EsTooManyRequests) as exc:
            raise _Retry(str(exc), exc) from exc
        except EsRequestError as exc:
            if exc.status == 413:
                if len(pending) > 1:
                    mid = len(pending) // 2
                    state.split = [pending[:mid], pending[mid:]]
                    state.pending = []
                    log.warning("bulk: request of %d bytes too large (413); splitting it", len(body))
                    return
                item = pending[0]
                self._reject(result, _RejectInfo(item.index, item.id, 413, "request_too_large",
                                                 "document larger than the server's http.max_content_length"),
                             item.doc)
                state.pending = []
                return
            raise _Fatal(str(exc), exc) from exc
        except (EsAuthError, EsNotFound) as exc:
            raise _Fatal(str(exc), exc) from exc
        except EsError as exc:
            raise _Fatal(str(exc), exc) from exc
        items = resp.get("items") if isinstance(resp, Mapping) else None
        if not isinstance(items, list) or len(items) != len(pending):
            raise _Fatal(f"unexpected _bulk answer ({len(items) if isinstance(items, list) else 'no'} items "
                         f"for {len(pending)} documents)")
        if not resp.get("errors"):
            for item, answer in zip(pending, items):
                self._ack(result, item, _op_result(answer))
            state.pending = []
            return
        retry: list[_Item] = []
        last: _RejectInfo | None = None
        for item, answer in zip(pending, items):
            r = _op_result(answer)
            status = int(r.get("status", 0))
            if 200 <= status < 300:
                self._ack(result, item, r)
                continue
            etype, reason = error_summary({"error": r.get("error")})
            info = _RejectInfo(item.index, item.id, status, etype, reason)
            if status == 429 or status >= 500:
                retry.append(item)
                last = info
            elif status in (400, 413) and etype not in NOT_DOCUMENT_ERRORS and not (
                    reason and any(s in reason for s in NOT_DOCUMENT_REASONS)):
                self._reject(result, info, item.doc)
            else:
                state.undeliverable.append(info)
        state.pending = retry
        if retry:
            assert last is not None
            raise _Retry(f"{len(retry)} item(s) answered HTTP {last.status} {last.error_type}: {last.reason}")

    def _ack(self, result: BulkResult, item: _Item, answer: Mapping[str, Any]) -> None:
        result.acknowledged += 1
        outcome = answer.get("result")
        if outcome == "created" or (outcome is None and answer.get("created")):
            result.created += 1
        elif outcome == "updated":
            result.updated += 1
        idx = answer.get("_index") or item.index
        result.by_index[idx] = result.by_index.get(idx, 0) + 1

    def _reject(self, result: BulkResult, info: _RejectInfo, doc: dict[str, Any]) -> None:
        rejected = RejectedItem(info.index, info.id, info.status, info.error_type, info.reason, doc)
        result.rejected.append(rejected)
        log.warning("bulk: document %s rejected (index %s): HTTP %s %s: %s", info.id or "(no id)", info.index,
                    info.status, info.error_type, info.reason)
        if self.dead_letter is not None:
            self.dead_letter.add(**rejected.as_record())


@dataclass
class _RejectInfo:
    index: str | None
    id: str | None
    status: int | None
    error_type: str | None
    reason: str | None


@dataclass
class _ChunkState:
    pending: list[_Item]
    body: bytes | None = None  # the pending items' body, when the caller has it already
    undeliverable: list[_RejectInfo] = field(default_factory=list)
    split: list[list[_Item]] | None = None


def _op_result(answer: Any) -> Mapping[str, Any]:
    if isinstance(answer, Mapping) and answer:
        inner = answer.get("index") or next(iter(answer.values()))
        if isinstance(inner, Mapping):
            return inner
    return {}
