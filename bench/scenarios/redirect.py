"""``redirect``: ``GET /s/{code}`` over 1,000 existing short links.

The TinyURL plan's hot path: a browser following a short link. Setup makes
``LINKS`` links through ``shortenUrl`` (batched, ``PER_DOCUMENT`` aliased
mutations per request); the measured requests cycle through all of them on
keep-alive connections and expect a 302 (the load generator never follows
redirects, so only the redirect itself is measured). Chirp counts every
visit (uncapped links: in memory, pushed to Redis, flushed to Postgres).

The cache hit rate comes from Chirp's own counters (``GET /metrics``, lookups
by the tier that answered), read before and after the load: warm-up and
measured window together, so the cold first lookup of every code is in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.graphql import REASON_CHARS, execute, sign_up_or_log_in
from bench.scenario import Request, Scenario, StatsProbe

#: Distinct codes the connections cycle through (the issue's figure).
LINKS = 1_000
#: Aliased mutations per setup request: under Chirp's 30-alias guard.
PER_DOCUMENT = 25
TIERS = ("local", "shared", "redis", "postgres")
_SAMPLE = "chirp_link_lookups_total"


@dataclass(frozen=True)
class State:
    codes: list[str]


def _document(start: int, count: int) -> str:
    fields = " ".join(
        f'l{n}: shortenUrl(url: "https://example.com/bench/{n}") {{ code }}'
        for n in range(start, start + count)
    )
    return f"mutation {{ {fields} }}"


async def setup(client: httpx.AsyncClient, base_url: str) -> State:
    token = (await sign_up_or_log_in(client))["token"]
    codes: list[str] = []
    for start in range(0, LINKS, PER_DOCUMENT):
        count = min(PER_DOCUMENT, LINKS - start)
        data = await execute(client, _document(start, count), token=token)
        codes.extend(data[f"l{n}"]["code"] for n in range(start, start + count))
    return State(codes=codes)


def requests(state: State) -> list[Request]:
    return [Request("GET", f"/s/{code}") for code in state.codes]


def check(status: int, body: bytes) -> str | None:
    """A redirect is the success here: 302, not 2xx."""
    return None if status == 302 else f"HTTP {status}: {body[:REASON_CHARS]!r}"


async def read_lookups(client: httpx.AsyncClient) -> dict[str, float]:
    """Chirp's lookup counters by tier; empty for a server without them (the baseline).

    Parsed with prometheus-client's own parser rather than a pattern, so any
    valid exposition reads the same (values are floats: ``1.0``, ``1e+06``).
    """
    response = await client.get("/metrics")
    if response.status_code != 200:
        return {}
    return {
        sample.labels["tier"]: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == _SAMPLE
    }


def lookup_report(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    if not after:
        return {}
    lookups = {tier: int(after.get(tier, 0) - before.get(tier, 0)) for tier in TIERS}
    total = sum(lookups.values())
    hits = total - lookups["postgres"]
    return {
        "link_lookups": lookups,
        "cache_hit_rate": round(hits / total, 5) if total else None,
        "local_hit_rate": round(lookups["local"] / total, 5) if total else None,
    }


SCENARIO = Scenario(
    name="redirect",
    summary=f"GET /s/{{code}} (302) over {LINKS:,} short links, with the cache hit rate",
    baseline_app="bench.baseline.redirect:app",
    setup=setup,
    requests=requests,
    check=check,
    stats=StatsProbe(read=read_lookups, report=lookup_report),
)
