"""Every Cypher statement of the follow graph, written once for both engines.

The graph runs on Neo4j 5 in production and on embedded Ladybug (the Kuzu
fork) otherwise, with the *same* statements. Only schema setup differs per
engine. Each statement below keeps to the subset both engines accept; the
differences found while writing them (each statement run on Ladybug 0.22, and
passed through Neo4j's own Cypher semantic analysis, the linter in
``@neo4j-cypher/language-support``) decide their shape:

* ``COUNT { MATCH ... }`` (full form) runs on both; the short
  ``COUNT { (u)<-[:FOLLOWS]-() }`` is a parse error on Ladybug.
* Ladybug types a ``null`` parameter as BOOL, so ``$p IS NULL OR x < $p`` fails
  to bind. Optional bounds are therefore passed as sentinels (``INT64_MAX``,
  ``INT64_MIN``), never as null.
* List indexing is 1-based on Ladybug and 0-based on Neo4j, so batched rows
  are passed as lists of maps (Ladybug STRUCTs) and read by key (``e.since_ms``).
* ``MATCH (a {id: e.x}), (b {id: e.y})`` after UNWIND is planned as a cross
  product on Ladybug (100x slower); two separate MATCH clauses are index
  lookups on both engines.
* Ladybug loses relationships when one statement MERGEs a *new* node and then
  MERGEs several relationships from it across UNWIND rows (only the first is
  created). Bulk loads therefore create the nodes in one statement and the
  relationships in another (see ``ENSURE_USERS`` and ``BULK_FOLLOW``).
* ``sum()`` returns a Decimal on Ladybug; counters use ``count()`` instead.
* ``WITH ... ORDER BY ... LIMIT`` followed by another MATCH hop makes Ladybug
  scan every edge for the hop, so no statement limits mid-way (see
  ``SUGGESTIONS``).
* Neither engine's rows say whether MERGE created or matched, and a read
  before MERGE races under Neo4j's read-committed isolation. MERGE therefore
  marks a new edge by storing ``-1 - since`` and the same statement flips it
  back: the mark is never visible outside the transaction, and Neo4j's
  MergeInto operator locks both endpoints, so concurrent follows of the same
  pair create one edge and report ``created`` exactly once. ``since`` must be
  non-negative (epoch milliseconds), which the callers check.
"""

from __future__ import annotations

import re
from typing import Final

#: Upper bound of a signed 64-bit integer: the "no cursor" value for
#: newest-first keyset pagination (every real ``since``/id is below it).
INT64_MAX: Final = 2**63 - 1
#: Lower bound of a signed 64-bit integer: the "from the start" value for
#: id-ordered pages.
INT64_MIN: Final = -(2**63)

# --------------------------------------------------------------------- schema

#: Ladybug has typed tables and needs them before any statement runs.
LADYBUG_SCHEMA: Final[tuple[str, ...]] = (
    "CREATE NODE TABLE IF NOT EXISTS User(id INT64, PRIMARY KEY(id))",
    "CREATE REL TABLE IF NOT EXISTS FOLLOWS(FROM User TO User, since INT64)",
)

#: Neo4j is schemaless; the uniqueness constraint makes MERGE on :User(id)
#: safe under concurrency and gives the index every statement seeks through.
NEO4J_SCHEMA: Final[tuple[str, ...]] = (
    "CREATE CONSTRAINT chirp_user_id IF NOT EXISTS FOR (u:User) REQUIRE u.id IS UNIQUE",
)

# --------------------------------------------------------------------- writes

FOLLOW: Final = """
MERGE (a:User {id: $follower_id})
MERGE (b:User {id: $followee_id})
MERGE (a)-[r:FOLLOWS]->(b)
ON CREATE SET r.since = -1 - $since_ms
WITH r, r.since < 0 AS created
SET r.since = CASE WHEN created THEN -1 - r.since ELSE r.since END
RETURN created
"""

UNFOLLOW: Final = """
MATCH (:User {id: $follower_id})-[r:FOLLOWS]->(:User {id: $followee_id})
DELETE r
RETURN count(*) AS deleted
"""

#: Nodes first, in their own statement (see the module docstring).
ENSURE_USERS: Final = """
UNWIND $user_ids AS uid
MERGE (:User {id: uid})
"""

#: ``$edges``: list of ``{follower_id, followee_id, since_ms}``, no duplicate
#: pairs, endpoints already created by ``ENSURE_USERS``.
BULK_FOLLOW: Final = """
UNWIND $edges AS e
MATCH (a:User {id: e.follower_id})
MATCH (b:User {id: e.followee_id})
MERGE (a)-[r:FOLLOWS]->(b)
ON CREATE SET r.since = -1 - e.since_ms
WITH r, r.since < 0 AS created
SET r.since = CASE WHEN created THEN -1 - r.since ELSE r.since END
RETURN count(CASE WHEN created THEN 1 END) AS created
"""

#: Tests only: Neo4j would need ``CALL { } IN TRANSACTIONS`` for a big graph.
CLEAR: Final = "MATCH (u:User) DETACH DELETE u"

# ---------------------------------------------------------------------- reads

#: Newest first; ``$before_since``/``$before_id`` is the last edge of the
#: previous page (``INT64_MAX`` twice for the first page). Keyset, not offset,
#: so follows arriving between pages neither repeat nor skip an edge.
FOLLOWERS_PAGE: Final = """
MATCH (f:User)-[r:FOLLOWS]->(:User {id: $user_id})
WHERE r.since < $before_since OR (r.since = $before_since AND f.id < $before_id)
RETURN f.id AS user_id, r.since AS since_ms
ORDER BY since_ms DESC, user_id DESC
LIMIT $first
"""

FOLLOWING_PAGE: Final = """
MATCH (:User {id: $user_id})-[r:FOLLOWS]->(f:User)
WHERE r.since < $before_since OR (r.since = $before_since AND f.id < $before_id)
RETURN f.id AS user_id, r.since AS since_ms
ORDER BY since_ms DESC, user_id DESC
LIMIT $first
"""

#: Unknown users give no row; the caller fills in zeros. ``()`` rather than
#: ``(:User)`` on the far end lets Neo4j read the stored degree.
COUNTS: Final = """
UNWIND $user_ids AS uid
MATCH (u:User {id: uid})
RETURN u.id AS user_id,
       COUNT { MATCH (u)<-[:FOLLOWS]-() } AS follower_count,
       COUNT { MATCH (u)-[:FOLLOWS]->() } AS following_count
"""

FOLLOWER_COUNT: Final = """
MATCH (u:User {id: $user_id})
RETURN COUNT { MATCH (u)<-[:FOLLOWS]-() } AS follower_count
"""

#: Which of ``$followee_ids`` does ``$follower_id`` follow (viewerFollows).
FOLLOWS_ANY: Final = """
MATCH (:User {id: $follower_id})-[:FOLLOWS]->(b:User)
WHERE b.id IN $followee_ids
RETURN b.id AS user_id
"""

#: Which of ``$follower_ids`` follow ``$user_id`` (followsViewer).
FOLLOWED_BY_ANY: Final = """
MATCH (f:User)-[:FOLLOWS]->(:User {id: $user_id})
WHERE f.id IN $follower_ids
RETURN f.id AS user_id
"""

#: Friends of friends, ranked by how many friends follow them, ties by id.
#: The walk costs the sum of the friends' out-degrees. Capping it with
#: ``WITH friend ORDER BY ... LIMIT n`` before the second hop was tried and
#: dropped: Ladybug then plans the second hop as a scan of every FOLLOWS edge
#: (240 ms instead of 5-15 ms on a 500k-edge graph).
SUGGESTIONS: Final = """
MATCH (me:User {id: $user_id})-[:FOLLOWS]->(friend:User)-[:FOLLOWS]->(s:User)
WHERE s.id <> $user_id AND NOT EXISTS { MATCH (me)-[:FOLLOWS]->(s) }
RETURN s.id AS user_id, count(*) AS mutual_count
ORDER BY mutual_count DESC, user_id ASC
LIMIT $first
"""

#: The fallback for someone who follows nobody: the most followed accounts.
MOST_FOLLOWED: Final = """
MATCH (u:User)
WHERE NOT u.id IN $exclude
WITH u, COUNT { MATCH (u)<-[:FOLLOWS]-() } AS follower_count
WHERE follower_count > 0
RETURN u.id AS user_id, follower_count
ORDER BY follower_count DESC, user_id ASC
LIMIT $first
"""

#: Everyone a user follows (home feed rebuild).
FOLLOWING_IDS: Final = """
MATCH (:User {id: $user_id})-[:FOLLOWS]->(b:User)
RETURN b.id AS user_id
ORDER BY user_id
"""

#: Followers by ascending id after ``$after_id`` (``INT64_MIN`` to start):
#: a stable walk for fan-out even while the follower set changes.
FOLLOWER_IDS_PAGE: Final = """
MATCH (f:User)-[:FOLLOWS]->(:User {id: $user_id})
WHERE f.id > $after_id
RETURN f.id AS user_id
ORDER BY user_id
LIMIT $limit
"""

PING: Final = "RETURN 1 AS ok"

# -------------------------------------------------------------------- routing

_WRITE_CLAUSE = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|REMOVE|DROP|CALL|LOAD|FOREACH|COPY|ALTER)\b", re.IGNORECASE
)


def is_write(query: str) -> bool:
    """True if ``query`` may write, so it must run as a write transaction.

    Neo4j routes reads to any cluster member and writes to the leader; Ladybug
    runs one write transaction at a time. A false positive (a keyword in a
    string literal) only costs routing a read to the leader; a false negative
    would fail, so every clause that can write, procedure calls included,
    counts as a write.
    """
    return _WRITE_CLAUSE.search(query) is not None


# ----------------------------------------------------------------- home feeds

#: Everyone a user follows, with each one's follower count (home feed
#: rebuild: authors at or above the celebrity threshold are left out of the
#: stored timeline and merged in at read time instead). One statement rather
#: than ``FOLLOWING_IDS`` then ``COUNTS``, so a rebuild costs one graph call
#: however many accounts the user follows.
FOLLOWING_FOLLOWER_COUNTS: Final = """
MATCH (:User {id: $user_id})-[:FOLLOWS]->(b:User)
RETURN b.id AS user_id, COUNT { MATCH (b)<-[:FOLLOWS]-() } AS follower_count
ORDER BY user_id
"""
