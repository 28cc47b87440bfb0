"""Baseline apps: the floor each scenario is compared against.

Each module serves the same response shape as Chirp for one scenario, but from
memory (no database, no cache, no graph), with the same stack Chirp runs on:
Strawberry on Starlette under uvicorn. The ratio Chirp/baseline therefore shows
what Chirp's own work costs on top of the framework, independently of how fast
the machine is.
"""
