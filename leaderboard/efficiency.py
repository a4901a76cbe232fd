"""What each entry's code run used, and its cost, as every view of the board shows them.

The values are the ledger's, which are the run's MLflow tags read back, so each view prints them with the tag's own
decimals: the board shows exactly what the run recorded. A predictions file ran on the team's machine: its cells are
empty ("-", null, an empty CSV cell), never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codefest.challenges.efficiency import MEASURES, Measure, Prices, cost_per_1000
from codefest.challenges.spec import Challenge

COST = "cost_per_1000_items"


@dataclass(frozen=True)
class Efficiency:
    """An entry's measures (None: not a code run, or not measured) and its cost where the organisers set prices."""

    code_seconds: float | None = None
    code_peak_memory_mb: float | None = None
    code_cpu_seconds: float | None = None
    cost_per_1000_items: float | None = None

    def of(self, name: str) -> float | None:
        found: float | None = getattr(self, name)
        return found

    @property
    def measured(self) -> bool:
        return any(self.of(name) is not None for name in MEASURES)


def _known(value: float) -> float | None:
    return None if math.isnan(value) else value


def gpus(spec: Challenge) -> int:
    """The GPUs each code run of the challenge holds: priced for its whole wall time."""
    return spec.resources.gpus


def efficiency(spec: Challenge, measures: dict[str, float], items: int) -> Efficiency:
    """An entry's `Efficiency` from its ledger values (NaN where none) and the test items it was scored on."""
    known = {name: _known(measures[name]) for name in MEASURES}
    prices = spec.resources.prices
    cost = None
    if prices is not None:
        cost = cost_per_1000(prices, known["code_cpu_seconds"], known["code_seconds"], gpus(spec), items)
    return Efficiency(**known, cost_per_1000_items=cost)


def text(measure: Measure, value: float | None) -> str:
    """A measure as its tag records it; "-" for none."""
    return "-" if value is None else f"{value:.{measure.decimals}f}"


def prices_text(prices: Prices) -> str:
    """What a cost is, with the prices it was computed from, as the page's legend and the terminal's caption say."""
    gpu = "" if prices.gpu_hour is None else f" and {prices.gpu_hour:g} per GPU-hour"
    return f"{prices.currency} per 1,000 test items, at {prices.cpu_hour:g} per CPU-hour{gpu}"
