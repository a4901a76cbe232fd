"""What a code submission used, as a challenge may rank by it and organisers may price it.

Three measures, taken by the sandbox for every code run: the wall time of the prediction step, the peak memory of
the whole run (its cgroup, every process together) and the CPU time of all its processes. Each is recorded on the
run as an MLflow tag under its name here and in the ledger; all three are better when lower. A predictions file has
none: it ran on the team's own machine.

The cost of a run per 1,000 test items comes from the prices the organisers set, so that offices weigh what a pilot
would cost to operate beside what it scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

SECONDS_PER_HOUR = 3600.0
ITEMS_PER_COST = 1000
# Measures of one pilot vary by a third from run to run on a shared host (13.6 s and 18.0 s wall time, 2.68 and
# 3.55 CPU s): values within this share of the best are equal, so only a clear difference breaks a tie.
DEFAULT_TOLERANCE = 0.25


@dataclass(frozen=True)
class Measure:
    name: str  # in `tie_breakers`, and the run's MLflow tag
    header: str  # the leaderboard's column: short words, which wrap only between them
    meaning: str
    decimals: int  # as the run's tag records it, so the board shows the recorded value exactly


CODE_SECONDS = Measure("code_seconds", "time (s)", "wall time of the prediction step, in seconds", 1)
PEAK_MEMORY_MB = Measure(
    "code_peak_memory_mb", "memory (MB)", "peak memory of the whole run, all its processes together, in MB", 1
)
CPU_SECONDS = Measure("code_cpu_seconds", "CPU (s)", "CPU time of all the run's processes, in seconds", 2)
MEASURES: dict[str, Measure] = {m.name: m for m in (CODE_SECONDS, PEAK_MEMORY_MB, CPU_SECONDS)}


class Prices(BaseModel):
    """What the organisers pay for compute: the leaderboard shows each code submission's cost per 1,000 items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_hour: float = Field(ge=0, allow_inf_nan=False, description="price of one CPU-hour (one core for an hour)")
    gpu_hour: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="price of one GPU-hour; needed when runs have GPUs"
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR, USD, CHF")


def cost_per_1000(
    prices: Prices, cpu_seconds: float | None, wall_seconds: float | None, gpus: int, items: int
) -> float | None:
    """(CPU-hours x its price + GPU-hours x its price) / items x 1,000, where a run holds its `gpus` for its whole
    wall time; None when a value it needs was not measured or nothing was scored."""
    if cpu_seconds is None or wall_seconds is None or items <= 0:
        return None
    if math.isnan(cpu_seconds) or math.isnan(wall_seconds):
        return None
    run = cpu_seconds / SECONDS_PER_HOUR * prices.cpu_hour
    if gpus:
        run += wall_seconds * gpus / SECONDS_PER_HOUR * (prices.gpu_hour or 0.0)
    return run / items * ITEMS_PER_COST


def within(value: float, best: float, tolerance: float) -> bool:
    """Whether a measure is equal to the best (lowest) one of its group: no more than `tolerance` x best above it.
    Compared with the best, never with a neighbour, so that equality never chains (1.0, 1.2, 1.4 at 0.25: the
    third is not equal to the first, though it is to the second)."""
    return value <= best + tolerance * abs(best)


def money(value: float | None) -> str:
    """A cost with three significant digits and at least two decimals (0.0000926, 0.0500, 1.23); "-" for none."""
    if value is None or math.isnan(value):
        return "-"
    if value <= 0:
        return "0.00"
    decimals = min(9, max(2, 2 - math.floor(math.log10(value))))
    return f"{value:.{decimals}f}"
