"""``home-feed``: ``homeFeed(first: 20)`` with authors, counts and viewer flags.

DeathStarBench's most common request (60% of its mix), on its reed98 graph:
Chirp is seeded with ``chirp seed reed98 --tweets 20000``, and the measured
requests cycle through ``READERS`` users' feeds (each logged in once). The
warm-up reads every feed at least once, so timelines are built from Postgres
and the graph before measuring, as they are for active users.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.graphql import execute, graphql_check, graphql_request
from bench.scenario import Request, Scenario
from bench.scenarios.user_timeline import LOG_IN, SEED_PASSWORD

QUERY = """
query Home {
  homeFeed(first: 20) {
    edges { cursor node {
      id text createdAt likeCount retweetCount replyCount viewerHasLiked viewerHasRetweeted
      author { id handle displayName followerCount viewerFollows }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
#: Distinct readers; each login costs an argon2 verification in setup.
READERS = 50


@dataclass(frozen=True)
class State:
    tokens: list[str]


async def setup(client: httpx.AsyncClient, base_url: str) -> State:
    tokens = []
    for n in range(READERS):
        variables = {"handle": f"user_{n * 7}", "password": SEED_PASSWORD}
        tokens.append((await execute(client, LOG_IN, variables))["logIn"]["token"])
    return State(tokens=tokens)


def requests(state: State) -> list[Request]:
    return [graphql_request(QUERY, token=token) for token in state.tokens]


SCENARIO = Scenario(
    name="home-feed",
    summary="homeFeed(first: 20) { author, counts, viewer flags } for 50 reed98 users",
    baseline_app="bench.baseline.home_feed:app",
    setup=setup,
    requests=requests,
    check=graphql_check("homeFeed"),
    seed=("reed98", "--tweets", "20000"),
)
