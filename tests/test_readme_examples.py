"""The README's "First hour" examples, replayed in order against a real server.

What the section must look like (only fenced blocks between the ``## First
hour`` heading and the next ``## `` heading are read, all of them, in order):

* A ```` ```graphql ```` block is one operation, POSTed to ``/graphql`` as
  ``{"query": ...}``. Leading comment lines ``# Headers: {...}`` give its HTTP
  headers, as typed in GraphiQL's Headers tab (the bearer token). The next
  block, ```` ```json ````, is its response.
* A ```` ```sh ```` block holds one ``curl`` command (URL, ``-H``, ``-d``,
  ``-s``, ``-i``). The next block is its output: ```` ```json ```` for a body,
  ```` ```http ```` for ``curl -i`` (the status and each header listed are
  checked; ``date`` and ``x-request-id`` vary).
* A ```` ```text ```` block whose lines start with ``> `` or ``< `` is a
  graphql-transport-ws transcript: ``>`` messages are sent, ``<`` messages must
  be the next ones received (pings are answered and skipped). A message may go
  on over lines that start with neither. A ``connection_init`` opens a new
  socket, which stays open over the blocks that follow (so a mutation can cause
  what the next transcript receives) until the next ``connection_init``. When a
  transcript ends with a ``subscribe``, the replay waits until the server
  listens on a new Redis channel (the protocol acknowledges no subscribe).

The README shows one real run verbatim, ids and tokens included, and later
operations quote earlier responses' values as a reader would copy them. Values
that differ from run to run sit in fields named like ``VARYING`` (``code`` only
outside ``extensions``): the real value must have the same type as the README's,
and each README string there is remembered as standing for the real one,
consistently (one README id is always the same real id). Before anything is
sent, README values are replaced by the real ones they stand for, and
``http://127.0.0.1:8000`` by the test server's address. Everything else must be
equal, and shapes identical.

Queries (not mutations) are retried until they match or ``EVENTUALLY_SECONDS``
pass: notifications, trends and feed fan-out come from workers a moment after
the mutation that causes them.

After changing the section, take the responses from a real run with

    .venv/bin/python -m tests.test_readme_examples --write

which starts embedded servers in a temporary directory, replays the section,
writes each real response into README.md (a response that does not match the
README is taken as it comes, and reported) and leaves the diff to review.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from graphql import OperationType, parse
from websockets.asyncio.client import connect

from chirp.runtime import Runtime
from tests.live import TRANSPORT_WS, GraphQLSocket, http_url, running_server
from tests.support import EVENTUALLY_SECONDS, eventually

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## First hour"
#: Where the README's examples say the server is.
README_BASE_URL = "http://127.0.0.1:8000"
#: Fields whose values differ between runs.
VARYING = frozenset(
    {
        "id",
        "token",
        "cursor",
        "endCursor",
        "createdAt",
        "expiresAt",
        "code",
        "shortUrl",
        "day",
        "score",
        "requestId",
    }
)
#: Response headers whose values differ between runs.
VARYING_HEADERS = frozenset({"date", "x-request-id"})
HEADERS_COMMENT = "# Headers:"
#: Width the README's JSON is folded to.
JSON_WIDTH = 88


@dataclass
class Block:
    lang: str
    text: str
    #: Line numbers (0-based) of the opening and closing fences.
    opening: int
    closing: int


@dataclass
class Step:
    """One request (``request`` and its ``response`` block) or one transcript."""

    request: Block
    response: Block | None = None


def first_hour_blocks(lines: list[str]) -> list[Block]:
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    blocks, i = [], start + 1
    while i < end:
        if lines[i].startswith("```"):
            opening = i
            closing = next(j for j in range(i + 1, end) if lines[j] == "```")
            lang = lines[i].removeprefix("```").split(" ")[0]
            blocks.append(Block(lang, "\n".join(lines[i + 1 : closing]), opening, closing))
            i = closing
        i += 1
    return blocks


def steps_of(blocks: list[Block]) -> list[Step]:
    steps, queue = [], list(blocks)
    while queue:
        block = queue.pop(0)
        line = block.opening + 1
        if block.lang == "text":
            steps.append(Step(block))
            continue
        assert block.lang in ("graphql", "sh"), f"README.md:{line}: unexpected {block.lang!r}"
        assert queue, f"README.md:{line}: no response block follows"
        response = queue.pop(0)
        wanted = ("json",) if block.lang == "graphql" else ("json", "http")
        assert response.lang in wanted, f"README.md:{response.opening + 1}: want {wanted}"
        steps.append(Step(block, response))
    return steps


# ------------------------------------------------------------------ matching


@dataclass
class Match:
    """Compares a README value with a real one, learning what README values stand for."""

    values: dict[str, str]
    problems: list[str] = field(default_factory=list)

    def compare(self, expected: Any, actual: Any, path: str = "$", varying: bool = False) -> None:
        if varying and expected is not None:
            self._varying(expected, actual, path)
        elif isinstance(expected, dict) and isinstance(actual, dict):
            if expected.keys() != actual.keys():
                self.problems.append(f"{path}: keys {sorted(expected)} != {sorted(actual)}")
            in_extensions = path.endswith(".extensions")
            for key in expected.keys() & actual.keys():
                varies = key in VARYING and not (key == "code" and in_extensions)
                self.compare(expected[key], actual[key], f"{path}.{key}", varies)
        elif isinstance(expected, list) and isinstance(actual, list):
            if len(expected) != len(actual):
                self.problems.append(f"{path}: {len(expected)} items != {len(actual)}")
            for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
                self.compare(e, a, f"{path}[{i}]")
        elif expected != actual or type(expected) is not type(actual):
            self.problems.append(f"{path}: {expected!r} != {actual!r}")

    def _varying(self, expected: Any, actual: Any, path: str) -> None:
        if isinstance(expected, str) and isinstance(actual, str):
            known = self.values.setdefault(expected, actual)
            if known != actual:
                self.problems.append(f"{path}: {expected!r} stood for {known!r}, now {actual!r}")
        elif not (_is_number(expected) and _is_number(actual)):
            self.problems.append(f"{path}: {expected!r} and {actual!r} differ in type")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def pretty(value: Any, indent: int = 0, column: int | None = None) -> str:
    """JSON folded to JSON_WIDTH: what fits on its line (from ``column``) stays on it."""
    flat = json.dumps(value, ensure_ascii=False)
    start = indent if column is None else column
    if start + len(flat) < JSON_WIDTH or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + 2
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            name = json.dumps(key, ensure_ascii=False) + ": "
            items.append(" " * inner + name + pretty(item, inner, inner + len(name)))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [" " * inner + pretty(item, inner) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


# -------------------------------------------------------------------- replay


class Replay:
    def __init__(self, rt: Runtime, ws_url: str, *, write: bool = False) -> None:
        self.rt = rt
        self.ws_url = ws_url
        self.base_url = http_url(ws_url).removesuffix("/graphql")
        self.write = write
        self.values: dict[str, str] = {}
        #: In write mode: the new text of each block, by its opening line.
        self.rewritten: dict[int, str] = {}
        self.notes: list[str] = []
        self.socket: GraphQLSocket | None = None
        self._socket_scope = contextlib.AsyncExitStack()

    def sub(self, text: str) -> str:
        """``text`` with README values replaced by the real ones they stand for."""
        if self.values:
            keys = sorted(self.values, key=len, reverse=True)
            pattern = "|".join(map(re.escape, keys))
            text = re.sub(pattern, lambda m: self.values[m.group()], text)
        return text

    async def run(self, steps: list[Step]) -> None:
        try:
            for step in steps:
                where = f"README.md:{step.request.opening + 1}"
                if step.request.lang == "graphql":
                    await self.graphql(step, where)
                elif step.request.lang == "sh":
                    await self.curl(step, where)
                else:
                    await self.transcript(step.request, where)
        finally:
            await self._socket_scope.aclose()

    def settle(self, expected: Any, actual: Any) -> list[str]:
        match = Match(dict(self.values))
        match.compare(expected, actual)
        if not match.problems or self.write:
            self.values = match.values
        return match.problems

    def mismatch(self, where: str, problems: list[str]) -> None:
        report = f"{where}: the real response differs: " + "; ".join(problems)
        if not self.write:
            raise AssertionError(report)
        self.notes.append(report)

    async def graphql(self, step: Step, where: str) -> None:
        assert step.response is not None
        lines = self.sub(step.request.text).splitlines()
        headers: dict[str, str] = {}
        while lines and lines[0].startswith(HEADERS_COMMENT):
            headers.update(json.loads(lines.pop(0).removeprefix(HEADERS_COMMENT)))
        document = "\n".join(lines)
        [operation] = parse(document).definitions
        retry = operation.operation is OperationType.QUERY  # type: ignore[attr-defined]
        expected = json.loads(step.response.text)
        deadline = asyncio.get_running_loop().time() + EVENTUALLY_SECONDS
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            while True:
                response = await http.post("/graphql", json={"query": document}, headers=headers)
                assert response.status_code == 200, f"{where}: {response.text}"
                actual = response.json()
                problems = self.settle(expected, actual)
                if not problems or not retry or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)
        if problems:
            self.mismatch(where, problems)
        self.rewritten[step.request.opening] = self.sub(step.request.text)
        self.rewritten[step.response.opening] = pretty(actual)

    async def curl(self, step: Step, where: str) -> None:
        assert step.response is not None
        command = self.sub(step.request.text).replace("\\\n", " ")
        words = shlex.split(command)
        assert words[0] == "curl", f"{where}: only curl commands are replayed"
        headers: dict[str, str] = {}
        method, body, url, show_head = "GET", None, None, False
        options = iter(words[1:])
        for word in options:
            if word == "-s":
                continue
            if word == "-i":
                show_head = True
            elif word == "-H":
                name, _, value = next(options).partition(":")
                headers[name.strip()] = value.strip()
            elif word in ("-d", "--data"):
                method, body = "POST", next(options)
            else:
                url = word.replace(README_BASE_URL, self.base_url)
        assert url is not None, f"{where}: curl without a URL"
        async with httpx.AsyncClient() as http:
            response = await http.request(method, url, headers=headers, content=body)
        if show_head:
            assert step.response.lang == "http", f"{where}: curl -i shows an http block"
            problems = self.check_head(step.response.text, response)
            head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
            head += [f"{name}: {value}" for name, value in response.headers.items()]
            output = "\n".join(head)
        else:
            problems = self.settle(json.loads(step.response.text), response.json())
            output = response.text
        if problems:
            self.mismatch(where, problems)
        self.rewritten[step.request.opening] = self.sub(step.request.text)
        self.rewritten[step.response.opening] = output

    def check_head(self, text: str, response: httpx.Response) -> list[str]:
        status_line, *header_lines = text.splitlines()
        problems = []
        if int(status_line.split()[1]) != response.status_code:
            problems.append(f"status {status_line!r} != {response.status_code}")
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), self.sub(value.strip())
            if name not in response.headers:
                problems.append(f"no {name} header")
            elif name not in VARYING_HEADERS and response.headers[name] != value:
                problems.append(f"{name}: {value!r} != {response.headers[name]!r}")
        return problems

    async def transcript(self, block: Block, where: str) -> None:
        messages: list[list[str]] = []
        for line in block.text.splitlines():
            if line.startswith(("> ", "< ")):
                messages.append([line[:1], line[2:]])
            else:
                assert messages, f"{where}: a transcript starts with > or <"
                messages[-1][1] += "\n" + line
        out = []
        for i, (direction, text) in enumerate(messages):
            if direction == ">":
                message = json.loads(self.sub(text))
                last = i == len(messages) - 1
                await self.send(message, wait_for_listening=last)
                out.append("> " + self.sub(text))
            else:
                out.append("< " + await self.expect(json.loads(text), where))
        self.rewritten[block.opening] = "\n".join(out)

    async def send(self, message: dict[str, Any], *, wait_for_listening: bool) -> None:
        if message["type"] == "connection_init":
            await self._socket_scope.aclose()
            ws = await self._socket_scope.enter_async_context(
                connect(self.ws_url, subprotocols=[TRANSPORT_WS])  # type: ignore[list-item]
            )
            self.socket = GraphQLSocket(ws, TRANSPORT_WS)
        assert self.socket is not None, "a transcript starts with connection_init"
        channels = set(await self.rt.redis.pubsub_channels())
        await self.socket.send(message)
        if message["type"] == "subscribe" and wait_for_listening:

            async def listening() -> bool:
                return bool(set(await self.rt.redis.pubsub_channels()) - channels)

            await eventually(listening)

    async def expect(self, expected: dict[str, Any], where: str) -> str:
        assert self.socket is not None, f"{where}: no socket open"
        actual = await self.socket.receive()
        envelope = {k: v for k, v in expected.items() if k != "payload"}
        problems = []
        if envelope != {k: v for k, v in actual.items() if k != "payload"}:
            problems.append(f"message {actual} is not {envelope}")
        elif "payload" in expected or "payload" in actual:
            problems = self.settle(expected.get("payload"), actual.get("payload"))
        if problems:
            self.mismatch(where, problems)
        return pretty(actual, 0, 2).replace("\n", "\n  ")


def rewrite(text: str, rewritten: dict[int, str]) -> str:
    """README text with each block's content replaced (by opening fence line)."""
    lines = text.split("\n")
    for block in reversed(first_hour_blocks(lines)):
        if block.opening in rewritten:
            lines[block.opening + 1 : block.closing] = rewritten[block.opening].split("\n")
    return "\n".join(lines)


#: The documents a reader of the repository follows links between.
DOCUMENTS = ("README.md", "docs/API.md", "examples/python/README.md")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(markdown: str) -> set[str]:
    """GitHub's ids for the headings of a document."""
    ids = set()
    for line in markdown.split("\n"):
        if line.startswith("#") and not line.startswith("#!"):
            title = line.lstrip("#").strip().lower()
            ids.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return ids


def test_links_between_the_documents_resolve_inside_the_repository() -> None:
    root = README.parent
    broken = []
    for name in DOCUMENTS:
        source = root / name
        for target in _LINK.findall(source.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            resolved = (source.parent / path).resolve() if path else source
            if not resolved.is_relative_to(root) or not resolved.exists():
                broken.append(f"{name}: {target}")
            elif anchor and anchor not in anchors(resolved.read_text()):
                broken.append(f"{name}: {target} (no such heading)")
    assert not broken, broken


async def test_the_first_hour_examples_hold(clean: Runtime) -> None:
    steps = steps_of(first_hour_blocks(README.read_text().split("\n")))
    assert len(steps) > 20, "the README's First hour section lost its examples"
    async with running_server(clean) as ws_url:
        await Replay(clean, ws_url).run(steps)


# ----------------------------------------------------- regenerating the README


@contextlib.asynccontextmanager
async def _fresh_server() -> AsyncIterator[tuple[Runtime, str]]:
    from chirp.config import Settings
    from chirp.persistence.embedded import EmbeddedServers
    from chirp.runtime import open_runtime

    with tempfile.TemporaryDirectory() as data_dir:
        servers = EmbeddedServers(Settings(data_dir=Path(data_dir)))
        settings = servers.start()
        try:
            async with open_runtime(settings) as rt, running_server(rt) as ws_url:
                yield rt, ws_url
        finally:
            servers.stop()


async def _write_readme() -> int:
    text = README.read_text()
    steps = steps_of(first_hour_blocks(text.split("\n")))
    async with _fresh_server() as (rt, ws_url):
        replay = Replay(rt, ws_url, write=True)
        await replay.run(steps)
    README.write_text(rewrite(text, replay.rewritten))
    for note in replay.notes:
        print(note, file=sys.stderr)
    print(f"README.md rewritten from a real run; {len(replay.notes)} responses changed")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_readme_examples --write")
    sys.exit(asyncio.run(_write_readme()))
