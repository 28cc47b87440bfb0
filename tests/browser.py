"""Debian's Chromium driven by Playwright, for tests of pages in a real browser.

Never a browser that Playwright downloads: ``scripts/ensure-chromium`` installs
Debian's package (``make test`` runs it). Every host but 127.0.0.1 is made
unresolvable, so a page that reaches for a CDN fails loudly instead of
quietly working on a machine that happens to be online; and everything the
page asks for, says on the console or gets refused by its CSP is recorded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

#: An explicit browser binary, tried first.
CHROMIUM_ENV: Final = "CHIRP_CHROMIUM"
#: Debian's package, then whatever the PATH has under the usual names.
CHROMIUM_PATHS: Final = ("/usr/bin/chromium",)
CHROMIUM_NAMES: Final = ("chromium", "chromium-browser")
INSTALL_HINT: Final = (
    "no Chromium found: install Debian's 'chromium' package "
    "(scripts/ensure-chromium does, as root) or set CHIRP_CHROMIUM to a Chromium binary"
)
CHROMIUM_ARGS: Final = (
    "--no-sandbox",  # tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Only the test server is reachable, by IP; any other name fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
#: Room for GraphiQL's three panes in screenshots.
VIEWPORT: Final = {"width": 1400, "height": 900}
#: Runs before the page's own scripts (through DevTools, so the page's CSP does
#: not apply to it) and keeps every CSP violation the page reports.
CSP_RECORDER: Final = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline";
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${blocked}`);
});
"""


def find_chromium() -> str | None:
    """The Chromium to drive: ``$CHIRP_CHROMIUM``, Debian's, or one on the PATH."""
    candidates = [os.environ.get(CHROMIUM_ENV, ""), *CHROMIUM_PATHS]
    candidates += [shutil.which(name) or "" for name in CHROMIUM_NAMES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@contextlib.asynccontextmanager
async def launched_chromium(executable: str) -> AsyncIterator[Browser]:
    """A headless Chromium that can reach 127.0.0.1 and nothing else."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class PageRecord:
    """What a page did: every request and websocket it opened, and its complaints."""

    page: Page
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console_errors.append(f"{message.type}: {message.text} ({message.location})")

    async def csp_violations(self) -> list[str]:
        return await self.page.evaluate("window.__cspViolations")

    async def assert_well_behaved(self, origin: str) -> None:
        """Nothing was loaded from anywhere but ``origin`` (``http://host:port``),
        nothing was logged as a warning or error, and the CSP refused nothing."""
        ws_origin = "ws" + origin.removeprefix("http")
        strays = [url for url in self.requests if not url.startswith(f"{origin}/")]
        strays += [url for url in self.websockets if not url.startswith(f"{ws_origin}/")]
        assert strays == [], strays
        assert self.page_errors == [], self.page_errors
        assert self.console_errors == [], self.console_errors
        assert await self.csp_violations() == []


@contextlib.asynccontextmanager
async def opened_page(browser: Browser, url: str) -> AsyncIterator[PageRecord]:
    """``url`` in a fresh context (no storage left by another test), recorded."""
    context = await browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    try:
        page = await context.new_page()
        record = PageRecord(page)
        page.on("request", lambda request: record.requests.append(request.url))
        page.on("websocket", lambda ws: record.websockets.append(ws.url))
        page.on("console", record._console)
        page.on("pageerror", lambda error: record.page_errors.append(str(error)))
        await page.add_init_script(CSP_RECORDER)
        await page.goto(url)
        yield record
    finally:
        await context.close()
