"""``viewer``: the cheapest authenticated read, ``{ viewer { id handle displayName } }``.

It measures the fixed cost every authenticated request pays (HTTP, GraphQL
parse/validate/execute, token lookup, one user load) with nothing else on top,
so it is the floor for all other scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bench.graphql import graphql_check, graphql_request, sign_up_or_log_in
from bench.scenario import Request, Scenario

QUERY = "{ viewer { id handle displayName } }"


@dataclass(frozen=True)
class State:
    token: str


async def setup(client: httpx.AsyncClient, base_url: str) -> State:
    auth = await sign_up_or_log_in(client)
    return State(token=auth["token"])


def requests(state: State) -> list[Request]:
    return [graphql_request(QUERY, token=state.token)]


SCENARIO = Scenario(
    name="viewer",
    summary="authenticated { viewer { id handle displayName } } as one user",
    baseline_app="bench.baseline.viewer:app",
    setup=setup,
    requests=requests,
    check=graphql_check("viewer"),
)
