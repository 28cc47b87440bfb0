"""Chirp from Python with gql: sign up, tweet, and watch your home feed live.

    pip install "gql[httpx,websockets]>=4"
    python client.py [URL] [HANDLE_PREFIX]

URL is the GraphQL endpoint (else $CHIRP_URL, else http://127.0.0.1:8000/graphql);
the websocket URL is the same with ws:// or wss://. The account is
HANDLE_PREFIX (else $CHIRP_HANDLE_PREFIX, else "py"), an underscore and six
random hex digits, so reruns never collide.
Prints one JSON object; exits 1 (with the reason on stderr) when anything fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

DEFAULT_URL = "http://127.0.0.1:8000/graphql"
PASSWORD = "correct horse battery staple"
#: How long to wait for the second tweet to come back over the websocket.
RECEIVE_SECONDS = 10.0
#: graphql-transport-ws does not acknowledge a subscribe, so give the server a
#: moment to start listening before posting what the subscription should see.
SUBSCRIBE_SETTLE_SECONDS = 0.5

SIGN_UP = """
mutation SignUp($handle: String!, $password: String!) {
  signUp(handle: $handle, password: $password) {
    token
    user { id handle }
  }
}
"""
POST_TWEET = """
mutation PostTweet($text: String!) {
  postTweet(text: $text) { id text hashtags }
}
"""
HOME_FEED = """
subscription HomeFeed {
  homeFeed { id text createdAt author { handle } }
}
"""


def websocket_url(http_url: str) -> str:
    """The same endpoint over websockets: http -> ws, https -> wss."""
    return "ws" + http_url.removeprefix("http")


async def run(url: str, prefix: str) -> dict[str, Any]:
    handle = f"{prefix}_{secrets.token_hex(3)}"

    # Queries and mutations: one JSON POST each.
    async with Client(transport=HTTPXAsyncTransport(url=url)) as anonymous:
        signed_up = await anonymous.execute(
            GraphQLRequest(SIGN_UP, variable_values={"handle": handle, "password": PASSWORD})
        )
    token = signed_up["signUp"]["token"]

    # From here on every request carries the token ...
    api = Client(
        transport=HTTPXAsyncTransport(url=url, headers={"Authorization": f"Bearer {token}"})
    )
    # ... and the websocket sends it in connection_init.
    live = Client(
        transport=WebsocketsTransport(
            url=websocket_url(url),
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
        )
    )
    async with api as session, live as socket:

        async def post(text: str) -> dict[str, Any]:
            result = await session.execute(
                GraphQLRequest(POST_TWEET, variable_values={"text": text})
            )
            return result["postTweet"]

        first = await post(f"Hello from Python, I am @{handle} #chirp")

        # A subscription sees every tweet that enters the home feed after it
        # starts. Feeds are filled by a worker a moment after postTweet returns,
        # so the first tweet may well arrive here too: read until the second.
        feed = socket.subscribe(GraphQLRequest(HOME_FEED))
        arrivals: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()

        async def listen() -> None:
            try:
                async for result in feed:
                    arrivals.put_nowait(result["homeFeed"])
            except Exception as exc:  # the server ended the subscription with errors
                arrivals.put_nowait(exc)

        listener = asyncio.ensure_future(listen())
        await asyncio.sleep(SUBSCRIBE_SETTLE_SECONDS)
        try:
            second = await post("This one arrives over the websocket #chirp")
            received: list[dict[str, Any]] = []
            async with asyncio.timeout(RECEIVE_SECONDS):
                while not received or received[-1]["id"] != second["id"]:
                    item = await arrivals.get()
                    if isinstance(item, Exception):
                        raise item
                    received.append(item)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await feed.aclose()  # sends `complete`

    return {
        "endpoint": url,
        "handle": handle,
        "userId": signed_up["signUp"]["user"]["id"],
        "token": token,
        "posted": [first, second],
        "received": received,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("CHIRP_URL", DEFAULT_URL))
    parser.add_argument(
        "prefix",
        nargs="?",
        default=os.environ.get("CHIRP_HANDLE_PREFIX", "py"),
        help="handle prefix: 1 to 8 letters, digits or underscores",
    )
    args = parser.parse_args(argv)
    if not 1 <= len(args.prefix) <= 8:
        parser.error("the handle prefix takes 1 to 8 letters, digits or underscores")
    try:
        result = asyncio.run(run(args.url, args.prefix))
    except TransportQueryError as exc:  # the server answered with GraphQL errors
        print(f"GraphQL errors: {json.dumps(exc.errors)}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"the tweet did not arrive within {RECEIVE_SECONDS} s", file=sys.stderr)
        return 1
    except (TransportError, OSError) as exc:  # not reachable, or not a GraphQL server
        print(f"cannot talk to {args.url}: {exc!r}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
