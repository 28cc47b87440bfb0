"""Document guards: every hostile document is refused with BAD_USER_INPUT in
time linear in its size, before graphql-core's validation sees it; real
documents (fragments, introspection) pass."""

from __future__ import annotations

import time

import httpx
import pytest
from graphql import get_introspection_query, parse

from chirp.schema.guards import MAX_EXPANDED_FIELDS, refusal
from tests.support import create_users, error_codes, gql


def doubling_fragments(levels: int) -> str:
    """797 bytes at 20 levels; its expansion is 2^levels fields."""
    parts = ["query { viewer { ...F0 } }"]
    parts += [f"fragment F{i} on User {{ id ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    parts.append(f"fragment F{levels} on User {{ id }}")
    return "\n".join(parts)


def nested_repeats(width: int) -> str:
    """Same-named fields repeated at three levels: a merge check of width^6 pairs."""
    author = " ".join("author { id }" for _ in range(width))
    node = " ".join(f"node {{ {author} }}" for _ in range(width))
    tweets = " ".join(f"tweets(first: 1) {{ edges {{ {node} }} }}" for _ in range(width))
    return f"{{ viewer {{ {tweets} }} }}"


HOSTILE = {
    "doubling fragments": (doubling_fragments(30), "maxFields"),
    "too deep": (
        "{ viewer { " + "tweets { edges { node { author { " * 4 + "id" + " } } } }" * 4 + " } }",
        "maxDepth",
    ),
    "aliases through a fragment": (
        "query { viewer { ...A ...B } } "
        "fragment A on User { " + " ".join(f"a{i}: id" for i in range(20)) + " } "
        "fragment B on User { ...A }",
        "maxAliases",
    ),
    "too many spreads": (
        "query { viewer { "
        + " ".join(f"...F{i}" for i in range(150))
        + " } } "
        + " ".join(f"fragment F{i} on User {{ id }}" for i in range(150)),
        "maxFragmentSpreads",
    ),
    "one field over and over": ("{ viewer { " + "handle " * 1_500 + "} }", "maxMergeComparisons"),
    "repeats nested in repeats": (nested_repeats(9), "maxMergeComparisons"),
    "a wide flat selection": (
        "{ viewer { " + "id " * (MAX_EXPANDED_FIELDS + 1) + "} }",
        "maxFields",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_documents_are_refused(client: httpx.AsyncClient, name: str) -> None:
    document, limit = HOSTILE[name]
    body = await gql(client, document)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert "data" not in body
    assert limit in body["errors"][0]["extensions"], body


def test_refusing_is_linear_in_the_document() -> None:
    """Twice the doubling levels cost about twice the time, not 2^n times."""

    def seconds(levels: int) -> float:
        document = parse(doubling_fragments(levels), max_tokens=None)
        start = time.perf_counter()
        for _ in range(20):
            assert refusal(document) is not None
        return time.perf_counter() - start

    assert seconds(400) < 10 * seconds(40) + 0.05


def test_a_fragment_cycle_does_not_loop() -> None:
    cycle = parse(
        "query { viewer { ...A } } fragment A on User { id ...B } fragment B on User { ...A }"
    )
    assert refusal(cycle) is None  # left to validation, which names the cycle


async def test_a_fragment_cycle_is_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        "query { viewer { ...A } } fragment A on User { id ...B } fragment B on User { ...A }",
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "within itself" in body["errors"][0]["message"]


def test_introspection_fits_every_limit() -> None:
    document = parse(
        get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        )
    )
    assert refusal(document) is None


RELAY_STYLE = """
query Profile($handle: String!) {
  user(handle: $handle) { ...Header ...Stats tweets(first: 5) { edges { node { ...TweetRow } } } }
}
fragment Header on User { id handle displayName bio }
fragment Stats on User { id followerCount followingCount tweetCount }
fragment TweetRow on Tweet {
  id text author { ...Header } likeCount quoteOf { id author { ...Header } }
}
"""


async def test_real_documents_with_shared_fragments_pass(client: httpx.AsyncClient, clean) -> None:
    await create_users(clean, ["ada"])
    body = await gql(client, RELAY_STYLE, {"handle": "ada"})
    assert "errors" not in body, body
    assert body["data"]["user"]["handle"] == "ada"
