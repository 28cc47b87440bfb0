"""``GET|HEAD {CHIRP_SHORT_LINK_PREFIX}/{code}``: the redirect, and ``/metrics`` for its cache.

302 with ``Location`` to the target; 404 for an unknown code and 410 for an
expired or used-up link, each with the same short plain body whatever the
reason, so a response tells nothing about other links. ``Cache-Control:
private, max-age=0`` on every answer: shared caches must not keep a redirect
(it would hide visits from the count and outlive expiry or ``maxVisits``).

``HEAD`` answers with the same status and headers and no body, and is not
counted as a visit: link checkers and unfurlers send it, and it must not use
up a capped link.
"""

from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chirp.runtime import Runtime
from chirp.services.redirects import Redirects

#: Generated codes and aliases; anything else is unknown without a lookup.
_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_CACHE_CONTROL = "private, max-age=0"
_BODIES = {404: b"Not found\n", 410: b"Gone\n"}
_TEXT = "text/plain; charset=utf-8"


def _error(status: int, *, head: bool) -> Response:
    body = _BODIES[status]
    headers = {"cache-control": _CACHE_CONTROL, "content-type": _TEXT}
    if head:  # same headers as GET, without the body
        headers["content-length"] = str(len(body))
        return Response(b"", status, headers=headers)
    return Response(body, status, headers=headers)


def redirect_routes(prefix: str, redirects: Redirects) -> list[Route]:
    async def redirect(request: Request) -> Response:
        code: str = request.path_params["code"]
        head = request.method == "HEAD"
        if not _CODE.fullmatch(code):
            return _error(404, head=head)
        outcome = redirects.visit_cached(code, count=not head)
        if outcome is None:
            rt: Runtime = request.app.state.runtime
            outcome = await redirects.visit(rt, code, count=not head)
        if outcome.target_url is None:
            return _error(outcome.status, head=head)
        return Response(
            status_code=302,
            headers={"location": outcome.target_url, "cache-control": _CACHE_CONTROL},
        )

    async def metrics(_request: Request) -> Response:
        """Prometheus exposition of this app's registry: where link lookups were answered."""
        return Response(generate_latest(redirects.metrics), media_type=CONTENT_TYPE_LATEST)

    return [
        Route(f"{prefix}/{{code}}", redirect, methods=["GET", "HEAD"]),
        Route("/metrics", metrics),
    ]
