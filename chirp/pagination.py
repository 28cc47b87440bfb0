"""Relay pagination: opaque keyset cursors, a bounded page size, and pages.

Cursors encode the sort key of the last item seen (a tweet id, or a follow's
time and user id), never an offset, so a page stays stable while new items
arrive at the head of the list.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from chirp.errors import BadUserInput
from chirp.ids import base62_decode, base62_encode

#: Bounds the work one list field can ask for (the contract's limit).
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_PREFIX = "c1:"

T = TypeVar("T")


def check_first(first: int | None) -> int:
    """The page size asked for; ``null`` means the default."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be between 0 and {MAX_PAGE_SIZE}.", field="first")
    return first


def encode_cursor(*key: int) -> str:
    raw = _PREFIX + ".".join(base62_encode(part) for part in key)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, size: int) -> tuple[int, ...] | None:
    """The key inside a cursor, or ``BAD_USER_INPUT`` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError
        parts = raw[len(_PREFIX) :].split(".")
        if not all(parts):
            raise ValueError
        key = tuple(base62_decode(part) for part in parts)
    except (ValueError, KeyError, UnicodeDecodeError, binascii.Error):
        raise BadUserInput("`after` is not a valid cursor.", field="after") from None
    if len(key) != size or any(part >= 1 << 63 for part in key):
        raise BadUserInput("`after` is not a valid cursor.", field="after")
    return key


@dataclass(frozen=True, slots=True)
class Edge(Generic[T]):
    cursor: str
    node: T


@dataclass(frozen=True, slots=True)
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @classmethod
    def of(cls, edges: list[Edge[T]], *, has_next_page: bool) -> Page[T]:
        end_cursor = edges[-1].cursor if edges else None
        return cls(edges=edges, page_info=PageInfo(has_next_page, end_cursor))

    @classmethod
    def from_rows(
        cls, rows: Sequence[T], *, first: int, key: Callable[[T], tuple[int, ...]]
    ) -> Page[T]:
        """Build a page from up to ``first + 1`` rows; the extra one means "more"."""
        edges = [Edge(encode_cursor(*key(row)), row) for row in rows[:first]]
        return cls.of(edges, has_next_page=len(rows) > first)
