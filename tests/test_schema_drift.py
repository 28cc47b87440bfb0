"""schema.graphql is the printed schema; clients and reviewers read it."""

from __future__ import annotations

from chirp.schema import SCHEMA_FILE, printed_schema


def test_committed_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == printed_schema(), (
        "schema.graphql is out of date: run `make schema` and commit the result"
    )
