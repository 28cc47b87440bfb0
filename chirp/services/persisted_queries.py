"""Automatic persisted queries, in Apollo's protocol (which Apollo Client, urql
and Relay tooling speak).

A request carries ``extensions.persistedQuery = {version: 1, sha256Hash}``.
With the hash alone the stored document runs, or the client is told
``PersistedQueryNotFound`` and resends the hash with the document, which is
checked against the hash, stored and run. A hash names its document forever,
so each process keeps the documents it has seen in a small LRU and asks Redis
(shared by every instance) only on a local miss. Redis is a cache here: when
it is unreachable a lookup is a miss and storing is skipped, which costs the
client one extra round trip and nothing else.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from typing import Any, Final

from redis.exceptions import RedisError

from chirp.errors import BadUserInput, PersistedQueryNotFound
from chirp.persistence import persisted_queries as store
from chirp.runtime import Runtime

log = logging.getLogger(__name__)

#: The only version of Apollo's protocol.
PROTOCOL_VERSION: Final = 1
#: Documents larger than this run but are not stored: real client documents
#: are a few KiB, and the cap bounds what one client can make Redis hold
#: (MAX_STORED_DOCUMENTS of these at most).
MAX_STORED_DOCUMENT_BYTES: Final = 32 * 1024
#: Documents kept in Redis, least recently used dropped first: far above the
#: few hundred operations an app ships, small enough (at most 320 MiB, about
#: 20 MiB for typical documents) that a client inventing documents cannot
#: crowd out timelines.
MAX_STORED_DOCUMENTS: Final = 10_000
#: Documents each process remembers; a hit costs no Redis round trip.
LOCAL_CACHE_SIZE: Final = 512

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FIELD = "extensions.persistedQuery"


class PersistedQueries:
    """One process's persisted-query lookups: a local LRU in front of Redis."""

    def __init__(self, *, local_cache_size: int = LOCAL_CACHE_SIZE) -> None:
        self._local: OrderedDict[str, str] = OrderedDict()
        self._local_cache_size = local_cache_size

    async def document(
        self, rt: Runtime, *, query: str | None, extensions: dict[str, Any] | None
    ) -> str | None:
        """The document to run: ``query`` itself when no persisted query is
        asked for; otherwise the one stored under the hash (storing ``query``
        when it came along)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        sha256 = _requested_hash(persisted)
        if query is None:
            return await self._lookup(rt, sha256)
        if _sha256(query) != sha256:
            raise BadUserInput("provided sha does not match query", field=_FIELD)
        await self._store(rt, sha256, query)
        return query

    async def _lookup(self, rt: Runtime, sha256: str) -> str:
        document = self._local.get(sha256)
        if document is not None:
            self._local.move_to_end(sha256)
            return document
        try:
            document = await store.get_document(rt.redis, sha256=sha256)
        except RedisError as exc:
            log.warning("persisted query lookup failed, answering not found: %r", exc)
        if document is None:
            raise PersistedQueryNotFound
        self._remember(sha256, document)
        return document

    async def _store(self, rt: Runtime, sha256: str, document: str) -> None:
        if sha256 in self._local or len(document.encode()) > MAX_STORED_DOCUMENT_BYTES:
            return
        try:
            await store.put_document(
                rt.redis, sha256=sha256, document=document, max_documents=MAX_STORED_DOCUMENTS
            )
        except RedisError as exc:
            log.warning("persisted query not stored: %r", exc)
            return
        self._remember(sha256, document)

    def _remember(self, sha256: str, document: str) -> None:
        self._local[sha256] = document
        if len(self._local) > self._local_cache_size:
            self._local.popitem(last=False)


def _requested_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict):
        raise BadUserInput("persistedQuery must be an object", field=_FIELD)
    if persisted.get("version") != PROTOCOL_VERSION:
        raise BadUserInput("Unsupported persisted query version", field=f"{_FIELD}.version")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256.lower()):
        raise BadUserInput(
            "sha256Hash must be the SHA-256 of the query as 64 hex digits",
            field=f"{_FIELD}.sha256Hash",
        )
    return sha256.lower()


def _sha256(query: str) -> str:
    try:
        encoded = query.encode()
    except UnicodeEncodeError as exc:
        raise BadUserInput("query is not valid Unicode text", field="query") from exc
    return hashlib.sha256(encoded).hexdigest()
