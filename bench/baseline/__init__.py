"""Bare in-memory apps that serve each scenario's response shape.

They get the same framework setup Chirp uses (parsed and validated documents
cached), so a scenario's ratio measures what Chirp adds on top of Strawberry,
not a difference in Strawberry configuration.
"""

from __future__ import annotations

from functools import partial

from strawberry.extensions import ParserCache, ValidationCache

#: Same sizes as Chirp's schema uses.
DOCUMENT_CACHE_SIZE = 512
EXTENSIONS = [
    partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
    partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
]
