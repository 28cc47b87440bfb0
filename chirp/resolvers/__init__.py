"""Thin resolvers: check auth, call a service, map the result.

They return records (frozen dataclasses); the schema types describe how a
record maps to GraphQL fields, so resolvers never import schema types.
"""

from __future__ import annotations

from strawberry.types import Info

from chirp.context import Context

ChirpInfo = Info[Context, None]
