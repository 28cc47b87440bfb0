"""Chirp's benchmark harness: ``chirp bench <scenario>`` (see ``bench.cli``).

``main`` imports the harness lazily so that the baseline apps under
``bench.baseline`` (imported by their own uvicorn processes) stay light.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run ``chirp bench`` with ``argv`` (without the program name); return the exit status."""
    from bench.cli import main as cli_main

    return cli_main(argv)


__all__ = ["main"]
