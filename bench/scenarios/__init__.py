"""The scenario registry: every module here that defines ``SCENARIO`` is one.

Discovery by module (rather than a hand-kept list) means adding a scenario is
adding one file, and two people adding scenarios never edit the same line.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from bench.scenario import AnyScenario, Scenario


@cache
def registry() -> dict[str, AnyScenario]:
    """All scenarios by name, imported once."""
    found: dict[str, AnyScenario] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        scenario = getattr(module, "SCENARIO", None)
        if not isinstance(scenario, Scenario):
            raise TypeError(f"{module.__name__} must define SCENARIO = Scenario(...)")
        if scenario.name in found:
            raise ValueError(f"two scenarios are named {scenario.name!r}")
        found[scenario.name] = scenario
    return found


def get(name: str) -> AnyScenario:
    """The scenario called ``name``; KeyError lists the known ones."""
    scenarios = registry()
    if name not in scenarios:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(scenarios)}")
    return scenarios[name]
