"""Short links: the rules for targets and aliases, shortening, and visit counts.

Targets are absolute http(s) URLs with a host, at most ``MAX_URL_LENGTH``
characters, that do not point back at Chirp's own short links (a loop would
redirect forever). They are stored in their ASCII form (IDNA host,
percent-encoded path), so the ``Location`` header needs no further encoding
and can never carry a line break.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from chirp.config import Settings
from chirp.errors import BadUserInput, Conflict
from chirp.ids import base62_encode
from chirp.persistence import link_cache, links, visit_counters
from chirp.persistence.link_cache import CachedLink
from chirp.persistence.links import CodeTaken, LinkRecord
from chirp.runtime import Runtime

#: What browsers and most servers accept in a request line (the issue's bound).
MAX_URL_LENGTH = 2_048
#: Aliases: 3 to 32 URL-safe characters that need no escaping in a path.
ALIAS = re.compile(r"[A-Za-z0-9_-]{3,32}")
#: Generated codes are base62 of Snowflake ids: ids minted since February 2024
#: have 9 digits or more, and 11 hold every 63-bit id. A purely base62 alias of
#: that length could one day equal a generated code, so it is refused.
GENERATED_CODE_LENGTHS = range(9, 12)
_BASE62_ONLY = re.compile(r"[A-Za-z0-9]+")
#: ``dailyVisits(days)`` covers at most a quarter: enough for a chart, and it
#: bounds the rows one field can ask for.
MAX_DAILY_VISIT_DAYS = 92
#: ``expiresAt`` at most this far ahead: beyond any campaign, and far inside
#: what Postgres and Python can represent (times near year 9999 overflow).
MAX_LINK_LIFETIME = timedelta(days=100 * 366)
#: Characters left as they are when a non-ASCII URL is percent-encoded: the
#: URI reserved and unreserved sets, and ``%`` (already-escaped octets).
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~-._"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def short_url(settings: Settings, code: str) -> str:
    return f"{settings.base_url}{settings.short_link_prefix}/{code}"


def _bad(message: str, field: str) -> BadUserInput:
    return BadUserInput(message, field=field)


def _ascii(url: str, host: str, field: str) -> str:
    """The URI form of an IRI: IDNA host, UTF-8 percent-encoded everything else."""
    parts = urlsplit(url)
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _bad("The URL's host is not a valid domain name.", field) from None
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = ascii_host if ":" not in ascii_host else f"[{ascii_host}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    if userinfo:
        netloc = quote(userinfo, safe=_URI_SAFE) + "@" + netloc
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


def _effective_port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


def short_link_code(url: str, settings: Settings) -> str | None:
    """The code if ``url`` is one of Chirp's own short links, else None.

    Same host as ``CHIRP_PUBLIC_BASE_URL`` (on its port, or on either default
    port, since a proxy may serve both schemes) and a path, after decoding and
    resolving ``..`` as a browser would, under the short-link prefix.
    """
    try:
        parts = urlsplit(url)
        port = _effective_port(parts.scheme.lower(), parts.port)
    except ValueError:
        return None
    ours = urlsplit(settings.base_url)
    if not parts.hostname or parts.hostname != ours.hostname:
        return None
    our_port = _effective_port(ours.scheme, ours.port)
    defaults = set(_DEFAULT_PORTS.values())
    if port != our_port and not (port in defaults and our_port in defaults):
        return None
    path = posixpath.normpath("/" + unquote(parts.path).lstrip("/"))
    prefix = settings.short_link_prefix + "/"
    if path != settings.short_link_prefix and not path.startswith(prefix):
        return None
    return path[len(prefix) :].split("/", 1)[0]


def check_target(url: str, *, settings: Settings, field: str) -> str:
    """The URL to store and redirect to, or BAD_USER_INPUT naming ``field``."""
    if len(url) > MAX_URL_LENGTH:
        raise _bad(f"URLs hold at most {MAX_URL_LENGTH:,} characters.", field)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _bad("URLs cannot contain spaces or control characters.", field)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise _bad("That is not a valid URL.", field) from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not url[len(parts.scheme) :].startswith("://"):
        raise _bad("Only absolute http:// and https:// URLs can be shortened.", field)
    if not parts.hostname:
        raise _bad("The URL needs a host.", field)
    if short_link_code(url, settings) is not None:
        raise _bad("That URL is already a Chirp short link; it would redirect to itself.", field)
    target = url if url.isascii() else _ascii(url, parts.hostname, field)
    if len(target) > MAX_URL_LENGTH:
        raise _bad(f"URLs hold at most {MAX_URL_LENGTH:,} characters when encoded.", field)
    return target


def check_alias(alias: str) -> str:
    if not ALIAS.fullmatch(alias):
        raise _bad("An alias is 3 to 32 letters, digits, `_` or `-`.", "alias")
    if len(alias) in GENERATED_CODE_LENGTHS and _BASE62_ONLY.fullmatch(alias):
        raise _bad(
            f"Aliases of {GENERATED_CODE_LENGTHS.start} to {GENERATED_CODE_LENGTHS.stop - 1} "
            "letters and digits only are reserved for generated codes; add `-` or `_`.",
            "alias",
        )
    return alias


def _aware(moment: datetime) -> datetime:
    """Times without a zone are taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def new_code(rt: Runtime) -> str:
    return base62_encode(rt.ids.next_id())


def cache_entry(link: LinkRecord) -> CachedLink:
    return CachedLink(
        target_url=link.target_url,
        expires_at=link.expires_at.timestamp() if link.expires_at else None,
        capped=link.max_visits is not None,
    )


async def shorten(
    rt: Runtime,
    *,
    owner_id: int,
    url: str,
    alias: str | None = None,
    expires_at: datetime | None = None,
    max_visits: int | None = None,
) -> LinkRecord:
    target = check_target(url, settings=rt.settings, field="url")
    code = check_alias(alias) if alias is not None else new_code(rt)
    if expires_at is not None:
        expires_at = _aware(expires_at)
        ahead = expires_at - datetime.now(UTC)  # no conversion, so no overflow
        if ahead <= timedelta(0):
            raise _bad("`expiresAt` must be in the future.", "expiresAt")
        if ahead > MAX_LINK_LIFETIME:
            raise _bad("`expiresAt` must be within 100 years.", "expiresAt")
    if max_visits is not None and max_visits < 1:
        raise _bad("`maxVisits` must be at least 1.", "maxVisits")
    try:
        link = await links.insert_link(
            rt.db,
            code=code,
            target_url=target,
            owner_id=owner_id,
            expires_at=expires_at,
            max_visits=max_visits,
        )
    except CodeTaken:
        raise Conflict(f"The alias {code!r} is taken.", field="alias") from None
    # Write-through: replaces a cached "not found" for a fresh alias, and a
    # read replica that lags cannot make the new link look unknown.
    await link_cache.put(rt.redis, code, cache_entry(link))
    return link


@dataclass(frozen=True, slots=True)
class TweetLink:
    """A link of a new tweet: a new code for ``target_url``, or (target None)
    an existing Chirp short link the tweet quotes, referenced if it exists."""

    code: str
    target_url: str | None


def tweet_links(rt: Runtime, urls: Sequence[str]) -> list[TweetLink]:
    """One link per distinct URL, in order of appearance; BAD_USER_INPUT
    (field ``text``) when a URL cannot be shortened."""
    found: list[TweetLink] = []
    for url in dict.fromkeys(urls):
        own = short_link_code(url, rt.settings)
        if own is not None:
            if own:  # the bare prefix names no link: nothing to list
                found.append(TweetLink(code=own, target_url=None))
        else:
            target = check_target(url, settings=rt.settings, field="text")
            found.append(TweetLink(code=new_code(rt), target_url=target))
    return found


@dataclass(frozen=True, slots=True)
class DayVisits:
    day: date
    visits: int


def _unapplied(batches: Sequence[visit_counters.PendingBatch], applied: set[str]):
    return [b for b in batches if b.batch_id is not None and b.batch_id not in applied]


async def visit_counts(rt: Runtime, codes: Sequence[str]) -> dict[str, int]:
    """Visits per code: recorded in Postgres plus those still in Redis.

    Redis is read first, then Postgres in one snapshot that says which of the
    Redis batches it already holds; only the others are added, so a flush in
    between counts nothing twice. The primary is read, since a lagging
    replica would miss a batch that Redis has already let go of.
    """
    batches = await visit_counters.pending(rt.redis, codes=codes)
    totals, applied = await links.visit_totals(
        rt.db, codes=codes, batch_ids=[b.batch_id for b in batches if b.batch_id]
    )
    for batch in _unapplied(batches, applied):
        for code, count in batch.totals.items():
            totals[code] = totals.get(code, 0) + count
    return {code: totals.get(code, 0) for code in codes}


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAILY_VISIT_DAYS:
        raise _bad(f"`days` must be between 1 and {MAX_DAILY_VISIT_DAYS}.", "days")
    return days


def utc_today() -> date:
    return datetime.now(UTC).date()


async def daily_visits(
    rt: Runtime, codes: Sequence[str], *, days: int
) -> dict[str, list[DayVisits]]:
    """Visits per UTC day for the last ``days`` days (today last), zeros included;
    same reading order and rule as ``visit_counts``."""
    today = utc_today()
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    batches = await visit_counters.pending(rt.redis, codes=codes, days=window)
    recorded, applied = await links.daily_visits(
        rt.db,
        codes=codes,
        since=window[0],
        batch_ids=[b.batch_id for b in batches if b.batch_id],
    )
    for batch in _unapplied(batches, applied):
        for (code, day), count in batch.days.items():
            recorded[code][day] = recorded[code].get(day, 0) + count
    return {
        code: [DayVisits(day=day, visits=recorded[code].get(day, 0)) for day in window]
        for code in codes
    }
