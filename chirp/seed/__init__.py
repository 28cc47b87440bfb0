"""``chirp seed``: fill an empty database with users, follows and tweets.

Two sources: the real socfb-Reed98 friendship graph, and a synthetic
power-law graph with a few celebrities (to exercise the hybrid fan-out).
Everything is written through bulk paths (COPY, graph bulk loads), with ids
and counters exactly as the live write paths would have left them.

Modules: ``ids`` (Snowflake ids for past times), ``graphs`` (users and
follows), ``texts`` and ``tweets`` (what was posted), ``load`` (writing it).
This package module only holds the constants the CLI shows, so that
``chirp --help`` does not import the loaders.
"""

from pathlib import Path
from typing import Final

#: Every seeded account logs in with this password (shown by
#: ``chirp seed --help``), so benchmarks and demos can act as any user.
SEED_PASSWORD: Final = "chirp-seed-password"
#: socfb-Reed98 ships inside the package (with its acknowledgement in the
#: README beside it), so ``chirp seed reed98`` works from any install.
REED98_PATH: Final = (
    Path(__file__).resolve().parent / "data" / "socfb-Reed98" / "socfb-Reed98.edges"
)
