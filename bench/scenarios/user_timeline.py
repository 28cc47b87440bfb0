"""``user-timeline``: one user's 20 newest tweets with authors, counts and viewer flags.

DeathStarBench's second most common request (30% of its mix), on its reed98
graph: Chirp is seeded with ``chirp seed reed98 --tweets 20000`` before it
starts, and the measured requests cycle through many users' timelines as
``user_0``, so nothing is served from one hot row.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.graphql import execute, graphql_check, graphql_request
from bench.scenario import Request, Scenario

QUERY = """
query Timeline($handle: String!) {
  user(handle: $handle) {
    tweets(first: 20) {
      edges { cursor node {
        id text createdAt likeCount retweetCount replyCount viewerHasLiked viewerHasRetweeted
        author { id handle displayName followerCount viewerFollows }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token }
}
"""
#: The seed's shared password (chirp.seed.SEED_PASSWORD), spelled out so the
#: harness does not import the app.
SEED_PASSWORD = "chirp-seed-password"
#: Distinct timelines the connections cycle through (of reed98's 962 users).
TIMELINES = 200


@dataclass(frozen=True)
class State:
    token: str


async def setup(client: httpx.AsyncClient, base_url: str) -> State:
    data = await execute(client, LOG_IN, {"handle": "user_0", "password": SEED_PASSWORD})
    return State(token=data["logIn"]["token"])


def requests(state: State) -> list[Request]:
    return [
        graphql_request(QUERY, {"handle": f"user_{n}"}, token=state.token) for n in range(TIMELINES)
    ]


SCENARIO = Scenario(
    name="user-timeline",
    summary="user(handle) { tweets(first: 20) { author, counts, viewer flags } } on reed98",
    baseline_app="bench.baseline.user_timeline:app",
    setup=setup,
    requests=requests,
    check=graphql_check("user"),
    seed=("reed98", "--tweets", "20000"),
)
