"""Short links in the API: shortening rules, aliases, lookups, and links inside tweets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chirp.persistence import tweets
from chirp.persistence.tweets import MissingReference
from chirp.runtime import Runtime
from tests.support import create_users, error_codes, gql, sign_up

SHORTEN = """
mutation Shorten($url: String!, $alias: String, $expiresAt: DateTime, $maxVisits: Int) {
  shortenUrl(url: $url, alias: $alias, expiresAt: $expiresAt, maxVisits: $maxVisits) {
    code shortUrl targetUrl createdAt expiresAt maxVisits visitCount owner { handle }
  }
}
"""
SHORT_LINK = """
query Link($code: String!) {
  shortLink(code: $code) { code targetUrl owner { handle } dailyVisits(days: 3) { day visits } }
}
"""
POST = """
mutation Post($text: String!) {
  postTweet(text: $text) { id links { code shortUrl targetUrl owner { handle } } }
}
"""
TWEET_LINKS = "query T($id: ID!) { tweet(id: $id) { links { code targetUrl } } }"


async def shorten(http: httpx.AsyncClient, token: str | None, url: str, **args: Any):
    return await gql(http, SHORTEN, {"url": url, **args}, token=token)


async def link_rows(rt: Runtime) -> int:
    return await rt.db.fetchval("SELECT count(*) FROM short_links")


async def rejected(http: httpx.AsyncClient, token: str, url: str, **args: Any) -> dict[str, Any]:
    body = await shorten(http, token, url, **args)
    assert error_codes(body) == ["BAD_USER_INPUT"], (url, body)
    return body["errors"][0]["extensions"]


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    token, _ = await sign_up(client, "linker")
    return token


async def test_shorten_gives_a_generated_code_and_short_url(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    body = await shorten(client, token, "https://example.com/a?b=c#d")
    link = body["data"]["shortenUrl"]
    assert re.fullmatch(r"[0-9A-Za-z]{10,11}", link["code"])
    assert link["shortUrl"] == f"{clean.settings.base_url}/s/{link['code']}"
    assert link["targetUrl"] == "https://example.com/a?b=c#d"
    assert (link["visitCount"], link["maxVisits"], link["expiresAt"]) == (0, None, None)
    assert link["owner"] == {"handle": "linker"}
    again = (await shorten(client, token, "https://example.com/a?b=c#d"))["data"]["shortenUrl"]
    assert again["code"] != link["code"]


async def test_shorten_needs_a_token(client: httpx.AsyncClient, clean: Runtime) -> None:
    body = await shorten(client, None, "https://example.com/")
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await link_rows(clean) == 0


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript://example.com/%0Aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://example.com/file",
        "mailto:someone@example.com",
        "example.com/no-scheme",
        "//example.com/relative",
        "http:/example.com",
        "http://",
        "https://:443/no-host",
        "http://example.com:99999/",
        "",
    ],
)
async def test_only_absolute_http_urls_with_a_host(
    client: httpx.AsyncClient, clean: Runtime, token: str, url: str
) -> None:
    assert (await rejected(client, token, url))["field"] == "url"
    assert await link_rows(clean) == 0


async def test_urls_hold_at_most_2048_characters(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    base = "https://example.com/"
    ok = await shorten(client, token, base + "x" * (2048 - len(base)))
    assert "errors" not in ok
    await rejected(client, token, base + "x" * (2049 - len(base)))
    assert await link_rows(clean) == 1


@pytest.mark.parametrize(
    "bad", ["https://example.com/a b", "https://example.com/\r\nSet-Cookie: x"]
)
async def test_whitespace_and_control_characters_are_refused(
    client: httpx.AsyncClient, clean: Runtime, token: str, bad: str
) -> None:
    await rejected(client, token, bad)
    assert await link_rows(clean) == 0


async def test_links_to_chirps_own_short_links_are_refused(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    link = (await shorten(client, token, "https://example.com/"))["data"]["shortenUrl"]
    base = clean.settings.base_url
    host = base.split("://", 1)[1]
    for loop in [
        link["shortUrl"],
        f"{base}/s/unknown-code",
        f"{base.upper()}/s/{link['code']}".replace("/S/", "/s/"),
        f"{base}/%73/{link['code']}",  # %73 is "s"
        f"{base}/x/../s/{link['code']}",
        f"{base}//s/{link['code']}",
    ]:
        assert (await rejected(client, token, loop))["field"] == "url", loop
    assert await link_rows(clean) == 1
    # Elsewhere on the same host, or the same path on another host, is fine.
    for fine in [f"{base}/graphql", f"https://other.{host}/s/{link['code']}"]:
        assert "errors" not in await shorten(client, token, fine), fine


async def test_international_urls_are_stored_in_ascii(
    client: httpx.AsyncClient, token: str
) -> None:
    body = await shorten(client, token, "https://bücher.example/straße?q=ü")
    assert body["data"]["shortenUrl"]["targetUrl"] == (
        "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%BC"
    )


async def test_an_alias_is_the_code(client: httpx.AsyncClient, clean: Runtime, token: str) -> None:
    link = (await shorten(client, token, "https://example.com/", alias="My_Link-1"))["data"]
    assert link["shortenUrl"]["code"] == "My_Link-1"
    assert link["shortenUrl"]["shortUrl"].endswith("/s/My_Link-1")


@pytest.mark.parametrize(
    "alias",
    ["ab", "x" * 33, "has space", "dots.not.ok", "slash/no", "ümlaut", "AbCdEfGhIj", "123456789"],
)
async def test_bad_aliases_are_refused(
    client: httpx.AsyncClient, clean: Runtime, token: str, alias: str
) -> None:
    extensions = await rejected(client, token, "https://example.com/", alias=alias)
    assert extensions["field"] == "alias"
    assert await link_rows(clean) == 0


async def test_aliases_outside_the_generated_code_space_are_fine(
    client: httpx.AsyncClient, token: str
) -> None:
    for alias in ["abc", "AbCdEfGh", "AbCdEfGhIjKl", "AbCdE-GhIj", "x" * 32]:
        body = await shorten(client, token, "https://example.com/", alias=alias)
        assert body["data"]["shortenUrl"]["code"] == alias, body


async def test_aliases_are_unique_case_sensitively(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    first = await shorten(client, token, "https://example.com/1", alias="promo")
    assert "errors" not in first
    taken = await shorten(client, token, "https://example.com/2", alias="promo")
    assert error_codes(taken) == ["CONFLICT"]
    assert taken["errors"][0]["extensions"]["field"] == "alias"
    other_case = await shorten(client, token, "https://example.com/3", alias="Promo")
    assert other_case["data"]["shortenUrl"]["code"] == "Promo"
    target = await clean.db.fetchval("SELECT target_url FROM short_links WHERE code = 'promo'")
    assert target == "https://example.com/1"
    assert await link_rows(clean) == 2


async def test_expiry_must_be_in_the_future(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    assert (await rejected(client, token, "https://e.com/", expiresAt=past))["field"] == (
        "expiresAt"
    )
    future = datetime.now(UTC) + timedelta(days=1)
    body = await shorten(client, token, "https://e.com/", expiresAt=future.isoformat())
    assert datetime.fromisoformat(body["data"]["shortenUrl"]["expiresAt"]) == future
    assert await link_rows(clean) == 1


async def test_max_visits_is_at_least_one(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    for bad in (0, -5):
        extensions = await rejected(client, token, "https://e.com/", maxVisits=bad)
        assert extensions["field"] == "maxVisits"
    body = await shorten(client, token, "https://e.com/", maxVisits=1)
    assert body["data"]["shortenUrl"]["maxVisits"] == 1
    assert await link_rows(clean) == 1


async def test_short_link_query(client: httpx.AsyncClient, token: str) -> None:
    await shorten(client, token, "https://example.com/q", alias="lookup")
    body = await gql(client, SHORT_LINK, {"code": "lookup"})
    link = body["data"]["shortLink"]
    assert (link["code"], link["targetUrl"], link["owner"]) == (
        "lookup",
        "https://example.com/q",
        {"handle": "linker"},
    )
    assert [day["visits"] for day in link["dailyVisits"]] == [0, 0, 0]
    assert link["dailyVisits"][-1]["day"] == datetime.now(UTC).date().isoformat()
    assert (await gql(client, SHORT_LINK, {"code": "LOOKUP"}))["data"]["shortLink"] is None


async def test_daily_visits_days_are_bounded(client: httpx.AsyncClient, token: str) -> None:
    await shorten(client, token, "https://example.com/q", alias="bounded")
    query = 'query($d: Int) { shortLink(code: "bounded") { dailyVisits(days: $d) { day } } }'
    for bad in (0, 93):
        assert error_codes(await gql(client, query, {"d": bad})) == ["BAD_USER_INPUT"]
    days = (await gql(client, query, {}))["data"]["shortLink"]["dailyVisits"]
    assert len(days) == 7


async def test_every_url_in_a_tweet_gets_a_link_in_order(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    text = (
        "read https://b.example/2 then http://a.example/1, "
        "again https://b.example/2 and (https://en.wikipedia.org/wiki/Foo_(bar))"
    )
    tweet = (await gql(client, POST, {"text": text}, token=token))["data"]["postTweet"]
    targets = [link["targetUrl"] for link in tweet["links"]]
    assert targets == [
        "https://b.example/2",
        "http://a.example/1",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]
    assert {link["owner"]["handle"] for link in tweet["links"]} == {"linker"}
    fetched = (await gql(client, TWEET_LINKS, {"id": tweet["id"]}))["data"]["tweet"]["links"]
    assert [link["code"] for link in fetched] == [link["code"] for link in tweet["links"]]
    response = await client.get(f"/s/{fetched[1]['code']}")
    assert (response.status_code, response.headers["location"]) == (302, "http://a.example/1")


async def test_a_tweet_without_urls_has_no_links(client: httpx.AsyncClient, token: str) -> None:
    tweet = (await gql(client, POST, {"text": "no links here"}, token=token))["data"]
    assert tweet["postTweet"]["links"] == []


async def test_a_quoted_chirp_short_link_is_listed_not_shortened_again(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    link = (await shorten(client, token, "https://example.com/", alias="quoted"))["data"]
    short = link["shortenUrl"]["shortUrl"]
    text = f"see {short} and {clean.settings.base_url}/s/no-such-link"
    tweet = (await gql(client, POST, {"text": text}, token=token))["data"]["postTweet"]
    assert [link["code"] for link in tweet["links"]] == ["quoted"]
    assert await link_rows(clean) == 1


async def test_a_tweet_with_a_url_that_cannot_be_shortened_is_refused(
    client: httpx.AsyncClient, clean: Runtime, token: str
) -> None:
    text = "too long: https://example.com/" + "x" * 2048
    body = await gql(client, POST, {"text": text}, token=token)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "text"
    assert await clean.db.fetchval("SELECT count(*) FROM tweets") == 0
    assert await link_rows(clean) == 0


async def test_a_tweet_and_its_links_are_written_together(clean: Runtime) -> None:
    """A tweet whose insert fails (its parent vanished) leaves no links behind."""
    [author] = await create_users(clean, ["author"])
    with pytest.raises(MissingReference):
        await tweets.insert_tweet(
            clean.db,
            tweet_id=clean.ids.next_id(),
            author_id=author.id,
            text="reply https://example.com/",
            reply_to_id=12345,
            quote_of_id=None,
            hashtags=[],
            mention_ids=[],
            links=[("Zx1", "https://example.com/")],
        )
    assert await link_rows(clean) == 0
