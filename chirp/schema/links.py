"""Short links in the schema; fields resolve off ``LinkRecord`` roots."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from chirp.persistence.links import LinkRecord
from chirp.resolvers import links
from chirp.services.links import DayVisits

if TYPE_CHECKING:
    from chirp.schema.users import User

UserType = Annotated["User", strawberry.lazy("chirp.schema.users")]


@strawberry.type(description="Visits of a short link on one UTC day.")
class DailyVisits:
    day: date
    visits: int

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, DayVisits)


@strawberry.type(
    description="A short link: `GET shortUrl` answers 302 to `targetUrl`, 404 for an "
    "unknown code, 410 once expired or out of visits."
)
class ShortLink:
    code: str = strawberry.field(description="Base62 of a Snowflake id, or the alias chosen.")
    short_url: str = strawberry.field(resolver=links.short_url)
    target_url: str = strawberry.field(
        description="Absolute http(s) URL, in its ASCII form (IDNA host, percent-encoding)."
    )
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="After this, 410 Gone.")
    max_visits: int | None = strawberry.field(
        description="Redirects allowed in all; exact under concurrency. Then 410 Gone."
    )
    visit_count: int = strawberry.field(
        resolver=links.visit_count,
        description="Redirects so far (GET; HEAD is not counted). Recent visits of "
        "links without maxVisits may take a moment to show.",
    )
    owner: UserType | None = strawberry.field(
        resolver=links.owner, description="Who made it; null once their account is gone."
    )
    daily_visits: list[DailyVisits] = strawberry.field(
        resolver=links.daily_visits,
        description="Visits per UTC day for the last `days` days (1-92), oldest first, "
        "today last, days without visits included.",
    )

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, LinkRecord)


@strawberry.type
class LinkQuery:
    short_link: ShortLink | None = strawberry.field(
        resolver=links.short_link, description="A short link by code; null if there is none."
    )


@strawberry.type
class LinkMutation:
    shorten_url: ShortLink = strawberry.field(
        resolver=links.shorten_url,
        description="Shorten an absolute http(s) URL (at most 2,048 characters). `alias`: "
        "3-32 of [A-Za-z0-9_-], case-sensitive (CONFLICT when taken); `expiresAt` in the "
        "future; `maxVisits` at least 1. Requires a token.",
    )
