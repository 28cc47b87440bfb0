"""Property-based fuzzing of the whole GraphQL schema over real HTTP.

hypothesis-graphql writes documents from ``schema.graphql`` (queries and
mutations, valid ones and ones with one schema violation), and a strategy
here writes one operation per root field with its arguments as variables
filled with hostile values (NUL, lone surrogates, huge and negative numbers,
overlong text, wrong JSON types, ids of every kind and none). Each document
goes to the in-process app over HTTP, anonymously or with a valid token.

Whatever the input, the answer must be the server's considered refusal or a
result, never a crash: an HTTP status below 500, a JSON body, and no error
coded ``INTERNAL_SERVER_ERROR``. A failure prints the document, the
variables, the response and what the server logged.

Runs are deterministic (``derandomize=True``, no example database) and
bounded (``max_examples`` per test, no deadline: the shared 2-core machine
makes per-example timing meaningless). Ids of objects the fixture creates
are written as placeholders (``§TWEET§``) by the strategies and replaced by
the real ids just before sending, since they differ from run to run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from chirp.pagination import encode_cursor
from chirp.persistence import tokens
from chirp.runtime import Runtime
from chirp.schema import printed_schema
from chirp.services import accounts
from chirp.workers import feeds as feed_worker
from chirp.workers import notifications as notification_worker
from chirp.workers import trends as trend_worker
from chirp.workers.consumer import StreamConsumer
from tests.support import gql, sign_up
from tests.test_feed_pipeline import drain

SCHEMA_SDL = printed_schema()
SCHEMA = graphql.build_schema(SCHEMA_SDL)

#: Examples per test: 460 in all take about 15 s on a quiet 2-core machine
#: and under a minute on a loaded one (a sign-up or log-in hashes with argon2).
DOCUMENT_EXAMPLES = 150
NEGATIVE_EXAMPLES = 60
VARIABLE_EXAMPLES = 250

FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    # The app and its databases are set up once per test, not per example;
    # each example sees what the previous ones left, as a real server would.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- placeholders for ids made by the fixture -------------------------------------------------

VIEWER_HANDLE = "fuzzer"
OTHER_HANDLE = "other_user"
ALIAS = "fuzz-alias"
#: Each stands for the global id (or code) of an object ``world`` creates.
PLACEHOLDERS = (
    "§VIEWER§",
    "§OTHER§",
    "§TWEET§",
    "§OTHER_TWEET§",
    "§REPLY§",
    "§RETWEET§",
    "§NOTIFICATION§",
    "§CODE§",
    "§CURSOR§",
    "§FOLLOW_CURSOR§",
)

# --- hostile values ---------------------------------------------------------------------------

NUL = "\x00"
LONE_SURROGATES = ("\ud800", "\udbff", "\udc00", "\udfff")
#: Values that have broken servers like this one: control characters,
#: invisible and direction-changing characters, text that changes length
#: under NFC, IDNA edge cases, SQL and markup, overlong and empty input.
INTERESTING_TEXT: tuple[str, ...] = (
    "",
    " ",
    NUL,
    "a\x00b",
    *LONE_SURROGATES,
    "a\ud800b",
    "\udfff\ud800",
    "\ufeff",
    "\u202e\u2066evil",
    "\r\n\t\x0b\x0c",
    "e\u0301" * 300,
    "\u1100\u1161\u11a8" * 100,
    "🎉" * 281,
    "a" * 281,
    "a" * 5_000,
    "#" * 300,
    "#tag #Tag #TAG #ṫag",
    "#" + "x" * 500,
    "@" + VIEWER_HANDLE,
    "@" + OTHER_HANDLE + " @" + OTHER_HANDLE,
    "@" * 200,
    "@nobody_at_all hi",
    VIEWER_HANDLE,
    VIEWER_HANDLE.upper(),
    "@" + OTHER_HANDLE,
    OTHER_HANDLE,
    "x" * 16,
    "ab",
    "_" * 15,
    ALIAS,
    "https://example.com/",
    "http://example.com/" + "a" * 3_000,
    "https://例え.テスト/パス?q=値#frag",
    "https://" + "a" * 64 + ".com/",
    "https://" + "a." * 130 + "com/",
    "http://xn--/",
    "http://xn--zz.com/",
    "http://[::1]:80/",
    "http://[::1/",
    "http://256.256.256.256/",
    "http://:80/",
    "http://user:pass@host:99999/",
    "https://exa mple.com/",
    "https://example.com/\x00",
    "https://example.com/\ud800",
    "https://\ud800.com/",
    "https://\x00.com/",
    "javascript:alert(1)",
    "ftp://example.com/",
    "//example.com/",
    "https://",
    "see https://example.com/a and http://example.org/b?c=d #tag @" + OTHER_HANDLE,
    "'; DROP TABLE users; --",
    "%00%ff%",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "\\",
    '"',
    "1970-01-01",
    "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
    "-1",
    "NaN",
    "Infinity",
    "1e309",
    "9" * 400,
    "null",
    "HOUR",
    "YWJj",
    "eyJ0IjoxfQ==",
    "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=",
    *PLACEHOLDERS,
)
#: Every code point, surrogates included (the codec of the JSON body must
#: cope with what a hostile client sends, not only with valid UTF-8).
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
HOSTILE_CHAR = st.one_of(ANY_CHAR, st.sampled_from([NUL, *LONE_SURROGATES, "#", "@", "_", " "]))

hostile_text = st.one_of(
    st.sampled_from(INTERESTING_TEXT),
    st.text(HOSTILE_CHAR, max_size=40),
    st.tuples(
        st.sampled_from(INTERESTING_TEXT), st.text(HOSTILE_CHAR, max_size=8),
        st.sampled_from(INTERESTING_TEXT),
    ).map("".join),
)  # fmt: skip

#: Cursors in our own format around keys no page ever handed out (zero, the
#: largest bigint, the wrong number of parts), and real ones (placeholders).
cursors = st.one_of(
    st.sampled_from(
        ["§CURSOR§", "§FOLLOW_CURSOR§", "c1:", "YzE6", "YzE6MA", "YzE6Lg", "====", "Y"]
    ),
    st.lists(
        st.one_of(st.sampled_from([0, 1, 2**62, 2**63 - 1, 2**63, 2**64]), st.integers(0, 2**63)),
        min_size=1,
        max_size=3,
    ).map(lambda key: encode_cursor(*key)),
)
#: Text an ordinary client would send, so that requests also get past validation.
plain_text = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60),
    st.from_regex(r"[A-Za-z0-9_]{3,15}", fullmatch=True),
    st.builds("{} #{} @{} https://example.com/{}".format,
              st.text(max_size=20), st.from_regex(r"\w{1,20}", fullmatch=True),
              st.sampled_from([VIEWER_HANDLE, OTHER_HANDLE, "nobody"]),
              st.from_regex(r"[a-z0-9/?=&%.-]{0,30}", fullmatch=True)),
)  # fmt: skip
strings = st.one_of(hostile_text, plain_text, cursors)

#: Ids: the fixture's real objects (placeholders), ids of the wrong kind, ids
#: of nothing, and strings that only look like ids.
id_text = st.one_of(
    st.sampled_from(PLACEHOLDERS),
    st.sampled_from(
        [
            "U_1", "T_1", "N_1", "X_1", "T_", "_", "", "T__1", "T_1_2", "T_-1", "T_0",
            "T_zzzzzzzzzzz", "T_AzL8n0Y58m7", "T_AzL8n0Y58m8", "T_" + "1" * 12, "U_é",
            "T_\x00", "T_\ud800", "t_1", " T_1", "T_1 ", "VHdlZXQ6MQ==", "18446744073709551616",
        ]
    ),
    st.builds(lambda kind, digits: f"{kind}_{digits}",
              st.sampled_from("UTNX"), st.text("0123456789abcXYZ", min_size=1, max_size=12)),
    hostile_text,
)  # fmt: skip

ints = st.one_of(
    st.integers(-3, 60),
    st.sampled_from([0, -1, 100, 101, 1_000, 10**6, 2**31 - 1, -(2**31)]),
)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


NOW = datetime(2030, 1, 1, tzinfo=UTC)
date_times = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(_iso),
    st.datetimes().map(_iso),  # naive
    st.sampled_from(
        [
            _iso(NOW + timedelta(days=3650)),
            "9999-12-31T23:59:59+14:00",
            "9999-12-31T23:59:59.999999-12:00",
            "0001-01-01T00:00:00+14:00",
            "0001-01-01T00:00:00",
            "2024-02-30T00:00:00Z",
            "2999-01-01T00:00:00Z",
            "2999-01-01T25:61:61Z",
            "2999-01-01",
            "tomorrow",
            "",
        ]
    ),
    hostile_text,
)
dates = st.one_of(
    st.dates().map(_iso),
    st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-30", "2999-13-01"]),
    hostile_text,
)
#: Scalars hypothesis-graphql cannot make up itself, and better ids than random text.
CUSTOM_SCALARS = {
    "String": strings.map(nodes.String),
    "Int": ints.map(nodes.Int),
    "DateTime": date_times.map(nodes.String),
    "Date": dates.map(nodes.String),
    "ID": id_text.map(nodes.String),
}

#: JSON values of the wrong type for any variable (the server must refuse them);
#: drawn for one variable in ten, so most operations get past coercion.
wrong_json = st.one_of(
    st.sampled_from([True, 1.5, -0.0, 2**63, 10**30, [], {}, ["a"], {"a": 1}, [None]]),
    st.lists(hostile_text, max_size=3),
)

VALUES_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "String": strings,
    "ID": st.one_of(id_text, st.integers(-(2**70), 2**70)),
    "Int": ints,
    "Boolean": st.booleans(),
    "DateTime": date_times,
    "Date": dates,
    "TrendWindow": st.sampled_from(["HOUR", "DAY", "WEEK", "hour", ""]),
}


def _variable_value(type_: graphql.GraphQLInputType) -> st.SearchStrategy[Any]:
    nullable = not isinstance(type_, graphql.GraphQLNonNull)
    named = graphql.get_named_type(type_)
    value = VALUES_BY_TYPE[named.name]
    value = st.one_of(value, st.none()) if nullable else value
    return st.integers(0, 9).flatmap(lambda n: wrong_json if n == 0 else value)


def _leaf_selection(type_: graphql.GraphQLOutputType) -> str:
    """Every argument-free field of the return type (one level deep, plus the
    author or actor and its counts), so each resolver of the result runs."""
    named = graphql.get_named_type(type_)
    if isinstance(named, (graphql.GraphQLScalarType, graphql.GraphQLEnumType)):
        return ""
    if isinstance(named, graphql.GraphQLInterfaceType):
        return "{ __typename id ... on Tweet { text likeCount } ... on User { handle } }"
    parts = ["__typename"]
    for name, fld in named.fields.items():
        if any(isinstance(a.type, graphql.GraphQLNonNull) for a in fld.args.values()):
            continue
        inner = graphql.get_named_type(fld.type)
        if isinstance(inner, (graphql.GraphQLScalarType, graphql.GraphQLEnumType)):
            parts.append(name)
        elif name in ("author", "actor", "owner", "user"):
            parts.append(f"{name} {{ id handle followerCount viewerFollows followsViewer }}")
    return "{ " + " ".join(parts) + " }"


@dataclass(frozen=True)
class RootField:
    operation: str
    name: str
    document: str
    arguments: dict[str, graphql.GraphQLInputType] = field(default_factory=dict)


def _root_fields() -> list[RootField]:
    found = []
    roots = (
        ("query", SCHEMA.query_type),
        ("mutation", SCHEMA.mutation_type),
        # Over HTTP a subscription must be refused (it needs a websocket).
        ("subscription", SCHEMA.subscription_type),
    )
    for operation, root in roots:
        assert root is not None
        for name, fld in root.fields.items():
            definitions = ", ".join(f"${arg}: {a.type}" for arg, a in fld.args.items())
            arguments = ", ".join(f"{arg}: ${arg}" for arg in fld.args)
            head = f"{operation} Fuzz({definitions})" if definitions else f"{operation} Fuzz"
            call = f"{name}({arguments})" if arguments else name
            document = f"{head} {{ {call} {_leaf_selection(fld.type)} }}"
            found.append(
                RootField(operation, name, document, {a: v.type for a, v in fld.args.items()})
            )
    return found


ROOT_FIELDS = _root_fields()


@st.composite
def variable_operations(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """One root field with every argument passed as a variable; optional ones
    may be left out, required ones are always sent (possibly of a wrong type)."""
    root = draw(st.sampled_from(ROOT_FIELDS))
    variables = {}
    for name, type_ in root.arguments.items():
        required = isinstance(type_, graphql.GraphQLNonNull)
        if required or draw(st.booleans()):
            variables[name] = draw(_variable_value(type_))
    return root.document, variables


# --- the world every example runs in -----------------------------------------------------------


@dataclass
class World:
    runtime: Runtime
    viewer_id: int
    token: str
    ids: dict[str, str]
    minted: int = 0

    def substitute(self, text: str) -> str:
        for placeholder, value in self.ids.items():
            text = text.replace(placeholder, value)
        return text

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.substitute(value)
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        return value

    async def fresh_token(self) -> str:
        """A new live token for the viewer (after a fuzzed ``logOut`` revoked one)."""
        self.minted += 1
        token = f"fuzz-token-{self.viewer_id}-{self.minted}"
        digest = accounts.token_digest(token)
        await tokens.insert_token(self.runtime.db, digest=digest, user_id=self.viewer_id)
        self.token = token
        return token


@pytest.fixture
async def world(client: httpx.AsyncClient, clean: Runtime) -> World:
    """Two users who follow each other, tweets, a reply, a retweet, a
    notification and a short link: the objects placeholders stand for."""
    token, viewer = await sign_up(client, VIEWER_HANDLE)
    other_token, other = await sign_up(client, OTHER_HANDLE)

    async def call(document: str, variables: dict[str, Any], as_token: str) -> dict[str, Any]:
        body = await gql(client, document, variables, token=as_token)
        assert "errors" not in body, body
        return body["data"]

    post = "mutation($t: String!, $r: ID) { postTweet(text: $t, replyToId: $r) { id } }"
    follow = "mutation($u: ID!) { follow(userId: $u) { id } }"
    await call(follow, {"u": other["id"]}, token)
    await call(follow, {"u": viewer["id"]}, other_token)
    text = f"hello @{VIEWER_HANDLE} #fuzz https://example.com/x"
    other_tweet = (await call(post, {"t": text}, other_token))["postTweet"]["id"]
    tweet = (await call(post, {"t": "mine #fuzz"}, token))["postTweet"]["id"]
    reply = (await call(post, {"t": "a reply", "r": tweet}, other_token))["postTweet"]["id"]
    retweet = "mutation($id: ID!) { retweet(id: $id) { id } }"
    await call(retweet, {"id": other_tweet}, token)
    shorten = "mutation($u: String!, $a: String) { shortenUrl(url: $u, alias: $a) { code } }"
    await call(shorten, {"u": "https://example.com/fuzz", "a": ALIAS}, token)
    for worker in (feed_worker, notification_worker, trend_worker):
        await drain(clean, StreamConsumer(clean, group=worker.GROUP, handler=worker.handle))
    listing = await call(
        "{ viewer { tweets(first: 1) { edges { cursor node { id retweetOf { id } } } }"
        " followers(first: 1) { edges { cursor } } }"
        " notifications(first: 5) { edges { node { id } } } }",
        {},
        token,
    )
    own = listing["viewer"]["tweets"]["edges"]
    retweet_id = own[0]["node"]["id"]  # the newest
    assert own[0]["node"]["retweetOf"], own
    notification_edges = listing["notifications"]["edges"]
    assert notification_edges, "the fixture expects the viewer to have a notification"
    ids = {
        "§VIEWER§": viewer["id"],
        "§OTHER§": other["id"],
        "§TWEET§": tweet,
        "§OTHER_TWEET§": other_tweet,
        "§REPLY§": reply,
        "§RETWEET§": retweet_id,
        "§NOTIFICATION§": notification_edges[0]["node"]["id"],
        "§CODE§": ALIAS,
        "§CURSOR§": own[0]["cursor"],
        "§FOLLOW_CURSOR§": listing["viewer"]["followers"]["edges"][0]["cursor"],
    }
    assert set(ids) == set(PLACEHOLDERS)
    viewer_id = await clean.db.fetchval("SELECT id FROM users WHERE handle = $1", VIEWER_HANDLE)
    return World(runtime=clean, viewer_id=viewer_id, token=token, ids=ids)


# --- sending one example and judging the answer ------------------------------------------------


class _Collect(logging.Handler):
    """Keeps the ERROR records (with tracebacks) the app logs during one example."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(r) for r in self.records)


@pytest.fixture
def server_log() -> Iterator[_Collect]:
    handler = _Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _failure(response: httpx.Response) -> str | None:
    """Why this answer is a crash, or None when it is a considered one."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    internal = [
        e for e in body.get("errors") or []
        if (e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]  # fmt: skip
    return "INTERNAL_SERVER_ERROR" if internal else None


ABSENT = object()


@dataclass(frozen=True)
class Envelope:
    """How one operation travels: the transport, ``operationName`` and
    Apollo's persisted-query extension (each mostly the plain choice)."""

    transport: str
    operation_name: Any = ABSENT
    persisted: str | None = None
    extensions: Any = ABSENT

    def __repr__(self) -> str:
        shown = {k: v for k, v in vars(self).items() if v is not ABSENT and v is not None}
        return f"Envelope({shown})"


def _mostly(usual: Any, *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` four times in five, else one of ``others``."""
    return st.integers(0, 4).flatmap(lambda n: st.one_of(*others) if n == 0 else st.just(usual))


envelopes = st.builds(
    Envelope,
    transport=_mostly("post", st.sampled_from(["post-graphql-response", "get"])),
    operation_name=_mostly(ABSENT, st.just("Fuzz"), st.just("Other"), hostile_text, wrong_json),
    # with-query: the document and its hash (stored, then run); hash-only: the
    # hash alone (run if stored, else PERSISTED_QUERY_NOT_FOUND); bad-hash:
    # a hostile hash with the document.
    persisted=_mostly(None, st.sampled_from(["with-query", "hash-only", "bad-hash"])),
    extensions=_mostly(
        ABSENT,
        wrong_json,
        st.fixed_dictionaries({"persistedQuery": st.one_of(wrong_json, hostile_text)}),
        st.fixed_dictionaries(
            {"persistedQuery": st.fixed_dictionaries(
                {"version": st.one_of(st.just(1), ints, wrong_json), "sha256Hash": hostile_text}
            )}
        ),
    ),
)  # fmt: skip


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _payload(document: str, variables: Any, envelope: Envelope) -> dict[str, Any]:
    payload: dict[str, Any] = {"query": document}
    if variables is not None:
        payload["variables"] = variables
    if envelope.operation_name is not ABSENT:
        payload["operationName"] = envelope.operation_name
    if envelope.extensions is not ABSENT:
        payload["extensions"] = envelope.extensions
    elif envelope.persisted is not None:
        digest = _sha256(document) if envelope.persisted != "bad-hash" else "0" * 63 + "\x00"
        payload["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
        if envelope.persisted == "hash-only":
            del payload["query"]
    return payload


def _query_string(payload: dict[str, Any]) -> str:
    """GET parameters, with lone surrogates sent as the bytes a hostile client
    would send (CESU-style UTF-8), since httpx's own encoder refuses them."""
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
    return "&".join(f"{k}={quote(v, safe='', errors='surrogatepass')}" for k, v in params.items())


async def send(
    client: httpx.AsyncClient,
    world: World,
    log: _Collect,
    document: str,
    variables: dict[str, Any] | None,
    envelope: Envelope,
    *,
    authenticated: bool,
) -> None:
    """Send one operation and assert the server answered it without crashing.

    A POST body is ASCII-escaped JSON built here: httpx's own encoder
    (``json=``) cannot send a lone surrogate."""
    payload = _payload(world.substitute(document), world.fill(variables), envelope)
    headers = {}
    if authenticated:
        headers["authorization"] = f"Bearer {world.token}"
    if envelope.transport == "post-graphql-response":
        headers["accept"] = "application/graphql-response+json"
    log.records.clear()
    try:
        if envelope.transport == "get":
            response = await client.get(f"/graphql?{_query_string(payload)}", headers=headers)
        else:
            headers["content-type"] = "application/json"
            response = await client.post("/graphql", content=json.dumps(payload), headers=headers)
    except Exception:  # the app raised through the ASGI transport: a 500
        answer = traceback.format_exc()
        pytest.fail(_report(payload, envelope, authenticated, "the app raised", answer, log))
    problem = _failure(response)
    if problem is not None:
        answer = f"HTTP {response.status_code}\n{response.text[:4000]}"
        pytest.fail(_report(payload, envelope, authenticated, problem, answer, log))
    if authenticated and "logOut" in document:
        await world.fresh_token()


def _report(
    payload: dict[str, Any],
    envelope: Envelope,
    authenticated: bool,
    problem: str,
    answer: str,
    log: _Collect,
) -> str:
    return (
        f"{problem} ({'with a token' if authenticated else 'anonymous'}, {envelope})\n"
        f"--- request ---\n{json.dumps({k: v for k, v in payload.items() if k != 'query'})}\n"
        f"--- document ---\n{payload.get('query')}\n"
        f"--- variables ---\n{json.dumps(payload.get('variables'))}\n"
        f"--- response ---\n{answer}\n"
        f"--- server log ---\n{log.text()}"
    )


# --- the properties ---------------------------------------------------------------------------


@pytest.mark.timeout(300)
@settings(FUZZ_SETTINGS, max_examples=DOCUMENT_EXAMPLES)
@given(
    document=from_schema(SCHEMA_SDL, custom_scalars=CUSTOM_SCALARS),
    envelope=envelopes,
    authenticated=st.booleans(),
)
async def test_schema_documents_never_crash(
    client: httpx.AsyncClient,
    world: World,
    server_log: _Collect,
    document: str,
    envelope: Envelope,
    authenticated: bool,
) -> None:
    """Valid queries and mutations over the whole schema, argument values inline."""
    await send(client, world, server_log, document, None, envelope, authenticated=authenticated)


@pytest.mark.timeout(300)
@settings(FUZZ_SETTINGS, max_examples=NEGATIVE_EXAMPLES)
@given(
    document=from_schema(SCHEMA_SDL, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE),
    envelope=envelopes,
    authenticated=st.booleans(),
)
async def test_invalid_documents_never_crash(
    client: httpx.AsyncClient,
    world: World,
    server_log: _Collect,
    document: str,
    envelope: Envelope,
    authenticated: bool,
) -> None:
    """Documents with one schema violation each: refused, never a crash."""
    await send(client, world, server_log, document, None, envelope, authenticated=authenticated)


@pytest.mark.timeout(300)
@settings(FUZZ_SETTINGS, max_examples=VARIABLE_EXAMPLES)
@given(operation=variable_operations(), envelope=envelopes, authenticated=st.booleans())
async def test_hostile_variables_never_crash(
    client: httpx.AsyncClient,
    world: World,
    server_log: _Collect,
    operation: tuple[str, dict[str, Any]],
    envelope: Envelope,
    authenticated: bool,
) -> None:
    """Every root field with its arguments as variables holding hostile values."""
    document, variables = operation
    await send(
        client, world, server_log, document, variables, envelope, authenticated=authenticated
    )


def test_every_root_field_is_fuzzed_with_variables() -> None:
    """The variables strategy covers the whole schema (a new field joins by itself)."""
    names = {(r.operation, r.name) for r in ROOT_FIELDS}
    for operation, root in (
        ("query", SCHEMA.query_type),
        ("mutation", SCHEMA.mutation_type),
        ("subscription", SCHEMA.subscription_type),
    ):
        assert root is not None
        assert {n for op, n in names if op == operation} == set(root.fields)
    for root in ROOT_FIELDS:
        assert not graphql.validate(SCHEMA, graphql.parse(root.document)), root.document
