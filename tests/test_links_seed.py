"""``chirp seed`` gives seeded tweets their short links, as ``postTweet`` would."""

from __future__ import annotations

import collections

import httpx

from chirp.runtime import Runtime
from chirp.seed.load import seed_synthetic
from chirp.services.text import parse_tweet_text

SMALL = {"users": 50, "celebrities": 2, "follows_per_user": 5, "seed": 11}


async def test_seeded_tweets_have_their_links(client: httpx.AsyncClient, clean: Runtime) -> None:
    await seed_synthetic(clean, **SMALL, tweets=300, console=None)
    links = collections.defaultdict(list)
    for row in await clean.db.fetch(
        "SELECT t.tweet_id, s.code, s.target_url, s.owner_id, s.created_at "
        "FROM tweet_links t JOIN short_links s ON s.code = t.code "
        "ORDER BY t.tweet_id, t.position"
    ):
        links[row["tweet_id"]].append(row)
    tweets = await clean.db.fetch("SELECT id, author_id, text, created_at FROM tweets")
    with_urls = 0
    for tweet in tweets:
        urls = list(dict.fromkeys(parse_tweet_text(tweet["text"]).urls))
        assert [link["target_url"] for link in links[tweet["id"]]] == urls
        assert all(link["owner_id"] == tweet["author_id"] for link in links[tweet["id"]])
        assert all(link["created_at"] == tweet["created_at"] for link in links[tweet["id"]])
        with_urls += bool(urls)
    assert with_urls > 10  # the seed texts do carry URLs
    some = next(link for rows in links.values() for link in rows)
    response = await client.get(f"/s/{some['code']}")
    assert (response.status_code, response.headers["location"]) == (302, some["target_url"])
