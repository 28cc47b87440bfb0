"""The scenario registry: every module here that defines ``SCENARIO`` (request
load against ``chirp serve``) or ``MEASUREMENT`` (a custom measurement) is one.

Discovery by module (rather than a hand-kept list) means adding a scenario is
adding one file, and two people adding scenarios never edit the same line.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from bench.scenario import AnyScenario, Measurement, Scenario

Benchmark = AnyScenario | Measurement


@cache
def registry() -> dict[str, Benchmark]:
    """All scenarios by name, imported once."""
    found: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None) or getattr(module, "MEASUREMENT", None)
        if not isinstance(scenario, (Scenario, Measurement)):
            raise TypeError(
                f"{module.__name__} must define SCENARIO = Scenario(...) "
                "or MEASUREMENT = Measurement(...)"
            )
        if scenario.name in found:
            raise ValueError(f"two scenarios are named {scenario.name!r}")
        found[scenario.name] = scenario
    return found


def get(name: str) -> Benchmark:
    """The scenario called ``name``; KeyError lists the known ones."""
    scenarios = registry()
    if name not in scenarios:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(scenarios)}")
    return scenarios[name]
