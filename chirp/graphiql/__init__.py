"""GraphiQL served from Chirp itself: the page a browser gets from ``GET /graphql``
and the vendored assets it loads, so the IDE works offline and loads nothing
from a CDN (Strawberry's stock page pulls React and GraphiQL from unpkg.com).

The page has no inline script or style, so its Content-Security-Policy can
allow ``'self'`` alone (and, by its hash, the one style GraphiQL writes).
Assets live under a path that names the GraphiQL version and a digest of the
files, so browsers may cache them forever: any change to them is a new URL.
``static/vendor`` is built by ``build/vendor.sh`` (see README.md);
``static/chirp-graphiql.*`` and ``favicon.svg`` are Chirp's.
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
from os import PathLike
from pathlib import Path, PurePath
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: The vendored GraphiQL (pinned in build/package.json; a test checks they agree).
GRAPHIQL_VERSION: Final = "3.8.3"
STATIC_DIR: Final = Path(__file__).parent / "static"
#: Assets are served under ``{ASSET_ROOT}/{asset_version()}/``.
ASSET_ROOT: Final = "/graphiql"
#: Hex digits of the files' digest in the asset version: enough to never repeat.
DIGEST_CHARS: Final = 12
ROUTE_NAME: Final = "graphiql-assets"

#: The one inline style GraphiQL writes: react-remove-scroll-bar's scroll lock,
#: a ``<style>`` added while a modal dialog (settings, short keys) is open. Its
#: text names the page's scrollbar width, which is 0 on this page (it never
#: scrolls), so it is always the same text and a hash can allow exactly it,
#: rather than ``'unsafe-inline'`` allowing any. Should it differ (a GraphiQL
#: upgrade), the browser blocks it and reports a violation, which the browser
#: test catches; the dialogs work either way.
SCROLL_LOCK_STYLE_HASH: Final = "sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc="
#: Only our own origin; the websocket for subscriptions is same-origin, which
#: ``connect-src 'self'`` covers (CSP 3). The vendored CSS embeds its fonts and
#: a few icons as ``data:`` URIs. No ``'unsafe-inline'``, no ``'unsafe-eval'``.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' '{SCROLL_LOCK_STYLE_HASH}'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate each time: the page names the current asset version.
    "Cache-Control": "no-cache",
}
ASSET_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=31536000, immutable",
}
#: Set explicitly rather than guessed from the system's MIME tables, which
#: vary (nosniff makes a wrong script or style type fatal).
CONTENT_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

#: The page; ``{assets}`` is the versioned asset path. Scripts are deferred so
#: they run in order once the document is parsed.
PAGE_TEMPLATE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chirp GraphiQL</title>
<link rel="icon" href="{assets}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{assets}/vendor/graphiql.min.css">
<link rel="stylesheet" href="{assets}/chirp-graphiql.css">
<script defer src="{assets}/vendor/react.production.min.js"></script>
<script defer src="{assets}/vendor/react-dom.production.min.js"></script>
<script defer src="{assets}/vendor/graphiql.min.js"></script>
<script defer src="{assets}/chirp-graphiql.js"></script>
</head>
<body>
<div id="graphiql"><p class="chirp-loading">Loading GraphiQL…</p></div>
<noscript>GraphiQL needs JavaScript.</noscript>
</body>
</html>
"""


@functools.cache
def asset_version() -> str:
    """``<graphiql version>-<digest of every asset>``: Chirp's own script can
    change without a GraphiQL upgrade, and a cached old copy must not survive it."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return f"{GRAPHIQL_VERSION}-{digest.hexdigest()[:DIGEST_CHARS]}"


def asset_path(root_path: str = "") -> str:
    """Where the assets are served, below the app's mount point ``root_path``."""
    return f"{root_path}{ASSET_ROOT}/{asset_version()}"


def graphiql_page(request: Request) -> Response:
    """The GraphiQL page for a browser's GET of /graphql. Asset paths are
    root-relative (no host), so the page works behind any proxy or name."""
    assets = html.escape(asset_path(request.scope.get("root_path", "")))
    return HTMLResponse(PAGE_TEMPLATE.format(assets=assets), headers=PAGE_HEADERS)


class _Assets(StaticFiles):
    """StaticFiles with fixed content types and the immutable-cache headers."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        content_type = CONTENT_TYPES.get(PurePath(full_path).suffix)
        if content_type is not None and response.status_code == 200:
            response.headers["Content-Type"] = content_type
        response.headers.update(ASSET_HEADERS)
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        """404 for a file type not in CONTENT_TYPES: nothing else is an asset."""
        if PurePath(path).suffix not in CONTENT_TYPES:
            return Response("Not Found", 404, media_type="text/plain")
        return await super().get_response(path, scope)


def graphiql_routes() -> list[BaseRoute]:
    """The assets at ``/graphiql/<version>/...``, next to /graphql."""
    return [Mount(asset_path(), app=_Assets(directory=STATIC_DIR), name=ROUTE_NAME)]
