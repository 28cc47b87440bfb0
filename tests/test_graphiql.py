"""GraphiQL served by Chirp itself: in a real browser that can reach nothing but
the test server, a query and a subscription run and the docs open, with no
console error and no CSP violation; and, without a browser, the page's
security headers, the assets' headers, and no external URL in any of them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from starlette.requests import Request

from chirp.graphiql import (
    ASSET_ROOT,
    CONTENT_SECURITY_POLICY,
    GRAPHIQL_VERSION,
    SCROLL_LOCK_STYLE_HASH,
    STATIC_DIR,
    graphiql_page,
)
from chirp.persistence import live
from chirp.runtime import Runtime
from tests.browser import INSTALL_HINT, PageRecord, find_chromium, launched_chromium, opened_page
from tests.live import http_url, running_server, until_listening
from tests.support import create_users, gql, tokens_for

REPO: Final = Path(__file__).resolve().parents[1]
SCREENSHOT: Final = REPO / "build" / "test-artifacts" / "graphiql.png"
PACKAGE_JSON: Final = REPO / "chirp" / "graphiql" / "build" / "package.json"
#: How long any expectation in the browser may take to come true: long enough
#: for a first paint of 2 MB of scripts on a busy 2-core box.
UI_TIMEOUT_MS: Final = 20_000

HANDLE: Final = "graphiql_fan"
USER_QUERY: Final = f'{{ user(handle: "{HANDLE}") {{ handle displayName }} }}'
HOME_FEED: Final = "subscription LiveFeed { homeFeed { text author { handle } } }"
POST_TWEET: Final = "mutation Post($text: String!) { postTweet(text: $text) { id } }"
TWEET_TEXT: Final = "live from GraphiQL, no CDN in sight"
#: Fields of Query the docs explorer must list.
QUERY_FIELDS: Final = ("viewer", "user", "trends", "hashtagFeed", "homeFeed")

PAGE_HEADERS: Final = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
ASSET_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"
ASSET_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: CSP source expressions that name no other origin (and hashes of inline styles).
SAME_ORIGIN_SOURCES: Final = re.compile(r"'self'|'none'|data:|'sha256-[A-Za-z0-9+/]+=*'")
REQUIRED_DIRECTIVES: Final = {
    "default-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
}

#: File types a browser loads from the page (licence texts are only read).
BROWSER_LOADED: Final = {".js", ".css", ".svg", ".html"}
ABSOLUTE_URL: Final = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: An absolute URL where a browser would fetch it: a script or image source, a
#: CSS url()/@import, a dynamic import, fetch, a worker or a socket.
FETCHED_URL: Final = re.compile(
    r"""(?:\bsrc\s*[=:]\s*|\burl\(\s*|@import\s+|\bimport\(\s*|\bimportScripts\(\s*|"""
    r"""\bfetch\(\s*|new\s+(?:Worker|SharedWorker|EventSource|WebSocket)\(\s*)"""
    r"""["'`]?\s*(?:https?:)?//"""
)
#: Where stock GraphiQL pages and their fonts come from.
CDN_HOSTS: Final = re.compile(
    r"unpkg\.com|jsdelivr\.net|cdnjs\.cloudflare\.com|esm\.sh|fonts\.googleapis\.com"
    r"|fonts\.gstatic\.com|cdn\.skypack\.dev"
)
#: The text of every <style> element of a page (the page itself has none).
INLINE_STYLES: Final = "[...document.querySelectorAll('style')].map((s) => s.textContent)"
HTML_ASSET_REF: Final = re.compile(r'(?:src|href)="([^"]*)"')


# --- without a browser -------------------------------------------------------


@pytest.fixture
async def endpoint(clean: Runtime) -> AsyncIterator[str]:
    """The real server's ``http://127.0.0.1:<port>/graphql``."""
    async with running_server(clean) as ws_url:
        yield http_url(ws_url)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def rendered_page() -> str:
    request = Request({"type": "http", "method": "GET", "path": "/graphql", "headers": []})
    return bytes(graphiql_page(request).body).decode()


async def test_the_page_and_its_assets_carry_their_security_headers(endpoint: str) -> None:
    async with httpx.AsyncClient() as http:
        page = await http.get(endpoint, headers={"accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        for name, value in PAGE_HEADERS.items():
            assert page.headers[name] == value, name
        csp = page.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        for name, sources in REQUIRED_DIRECTIVES.items():
            assert directives[name] == sources, name
        assert directives["form-action"] in (["'none'"], ["'self'"])
        for name, sources in directives.items():
            assert all(SAME_ORIGIN_SOURCES.fullmatch(s) for s in sources), (name, sources)
            assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources

        refs = HTML_ASSET_REF.findall(page.text)
        assert len(refs) == 7  # favicon, 2 stylesheets, 4 scripts
        for ref in refs:
            asset = await http.get(origin_of(endpoint) + ref)
            assert asset.status_code == 200, ref
            assert asset.headers["content-type"] == ASSET_TYPES[Path(ref).suffix], ref
            assert asset.headers["x-content-type-options"] == "nosniff", ref
            assert asset.headers["cache-control"] == ASSET_CACHE_CONTROL, ref
        versioned = refs[0].rsplit("/", 1)[0]
        assert (await http.get(f"{origin_of(endpoint)}{versioned}/nope.js")).status_code == 404
        stale = f"{origin_of(endpoint)}{ASSET_ROOT}/0.0.0/chirp-graphiql.js"
        assert (await http.get(stale)).status_code == 404


def test_nothing_the_browser_loads_names_another_origin() -> None:
    page = rendered_page()
    assert "://" not in page
    refs = HTML_ASSET_REF.findall(page)  # root-relative, under the versioned asset path
    assert refs and all(ref.startswith(f"{ASSET_ROOT}/{GRAPHIQL_VERSION}-") for ref in refs)
    assert "<style" not in page and " style=" not in page
    assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", page))  # none inline

    assets = [p for p in STATIC_DIR.rglob("*") if p.suffix in BROWSER_LOADED]
    assert {p.name for p in assets} >= {"graphiql.min.js", "graphiql.min.css", "chirp-graphiql.js"}
    for path in assets:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(STATIC_DIR)
        assert not CDN_HOSTS.search(text), where
        assert not FETCHED_URL.search(text), (where, FETCHED_URL.search(text))
        assert "sourceMappingURL" not in text, where
        if path.suffix == ".css":
            assert "@import" not in text, where
            urls = re.findall(r"url\(\s*['\"]?([^'\")]*)", text)
            assert all(url.startswith("data:") for url in urls), where
    assert not ABSOLUTE_URL.search((STATIC_DIR / "chirp-graphiql.js").read_text())


def test_the_vendored_graphiql_is_the_pinned_one() -> None:
    pins = json.loads(PACKAGE_JSON.read_text())["dependencies"]
    assert pins["graphiql"] == GRAPHIQL_VERSION
    react = (STATIC_DIR / "vendor" / "react.production.min.js").read_text()
    assert f'version="{pins["react"]}"' in react
    licences = (STATIC_DIR / "vendor" / "THIRD_PARTY_LICENSES.txt").read_text()
    for name in ("graphiql", "react", "react-dom"):
        assert f"\n{name}@{pins[name]} (MIT)\n" in licences, name


# --- in Chromium ---------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip(INSTALL_HINT)
    expect.set_options(timeout=UI_TIMEOUT_MS)  # Playwright's default is 5 s
    async with launched_chromium(executable) as launched:
        yield launched


@pytest.fixture
async def graphiql(browser: Browser, endpoint: str) -> AsyncIterator[PageRecord]:
    """GraphiQL open and ready to type into; checked for good behaviour after the test."""
    async with opened_page(browser, endpoint) as record:
        await expect(record.page.locator(".graphiql-query-editor .CodeMirror")).to_be_visible()
        yield record
        await record.assert_well_behaved(origin_of(endpoint))


async def replace_editor(page: Page, editor_selector: str, text: str) -> None:
    """Select all in a CodeMirror editor and type ``text`` over it (as a paste
    would, so that the editor's bracket auto-closing does not double them)."""
    await page.locator(f"{editor_selector} .CodeMirror").click()
    await page.keyboard.press("ControlOrMeta+A")
    await page.keyboard.insert_text(text)


async def type_query(page: Page, query: str) -> None:
    """Type ``query`` over the query editor and wait until GraphiQL has parsed it:
    it takes the operation name from a parse 100 ms after the last keystroke, and
    a run before then would send the old one. Its edit callback, which comes after
    that parse, writes the query into the URL's fragment (chirp-graphiql.js)."""
    await replace_editor(page, ".graphiql-query-editor", query)
    await expect(page).to_have_url(re.compile(re.escape(urlencode({"query": query}))))


async def run(page: Page) -> None:
    await page.locator(".graphiql-execute-button").click()


def style_hash(text: str) -> str:
    """A CSP hash source for the inline style ``text``."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def result_pane(page: Page) -> Locator:
    return page.locator(".result-window")


async def test_graphiql_renders_and_runs_a_typed_query(
    clean: Runtime, graphiql: PageRecord
) -> None:
    page = graphiql.page
    await expect(page).to_have_title("Chirp GraphiQL")
    await expect(page.locator("#graphiql")).not_to_contain_text("Loading")
    await create_users(clean, [HANDLE])
    await type_query(page, USER_QUERY)
    await run(page)
    await expect(result_pane(page)).to_contain_text(f'"handle": "{HANDLE}"')
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOT)
    print(f"GraphiQL screenshot: {SCREENSHOT}")


async def test_a_subscription_with_the_headers_tab_token_receives_live_tweets(
    clean: Runtime, graphiql: PageRecord, endpoint: str
) -> None:
    page = graphiql.page
    [user] = await create_users(clean, [HANDLE])
    [token] = await tokens_for(clean, user.id)
    await page.get_by_role("button", name="Headers", exact=True).click()
    headers = json.dumps({"Authorization": f"Bearer {token}"})
    await replace_editor(page, ".graphiql-editor-tool .graphiql-editor:not(.hidden)", headers)
    await type_query(page, HOME_FEED)
    await run(page)
    await until_listening(clean, live.timeline_channel(user.id))
    async with httpx.AsyncClient(base_url=origin_of(endpoint)) as http:
        body = await gql(http, POST_TWEET, {"text": TWEET_TEXT}, token=token)
        assert "errors" not in body, body
    await expect(result_pane(page)).to_contain_text(TWEET_TEXT)
    await expect(result_pane(page)).to_contain_text(f'"handle": "{HANDLE}"')
    assert graphiql.websockets == [endpoint.replace("http", "ws", 1)]


async def test_a_shared_link_opens_with_its_query(browser: Browser, endpoint: str) -> None:
    shared = f"{endpoint}#{urlencode({'query': USER_QUERY})}"
    async with opened_page(browser, shared) as record:
        editor = record.page.locator(".graphiql-query-editor .CodeMirror")
        await expect(editor).to_contain_text(USER_QUERY)
        await record.assert_well_behaved(origin_of(endpoint))


async def test_the_docs_explorer_lists_the_query_fields(graphiql: PageRecord) -> None:
    page = graphiql.page
    await page.get_by_role("button", name="Show Documentation Explorer").click()
    explorer = page.locator(".graphiql-doc-explorer")
    await explorer.get_by_role("link", name="Query", exact=True).click()
    for field in QUERY_FIELDS:
        await expect(explorer.get_by_role("link", name=field, exact=True)).to_be_visible()


async def test_the_default_tab_and_dialogs_log_no_error_and_break_no_csp_rule(
    graphiql: PageRecord,
) -> None:
    page = graphiql.page
    await run(page)  # the Welcome query, without a token
    await expect(result_pane(page)).to_contain_text('"trends": []')
    await expect(result_pane(page)).to_contain_text('"viewer": null')
    await expect(result_pane(page)).not_to_contain_text('"errors"')
    for dialog in ("Open settings dialog", "Open short keys dialog"):
        await page.get_by_role("button", name=dialog).click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        # The scroll lock's inline style is the one the CSP allows by its hash.
        styles = await page.evaluate(INLINE_STYLES)
        assert [style_hash(style) for style in styles] == [SCROLL_LOCK_STYLE_HASH]
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_be_hidden()
    # assert_well_behaved (in the fixture) checks the console and CSP reports.
