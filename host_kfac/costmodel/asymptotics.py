"""Asymptotics of the per-step costs: analytic exponents, a fit of them, and crossover widths.

Widths are cells (the side n of a square n x n layer); times are seconds per training step.
"""

from __future__ import annotations

import math
from typing import Sequence

from .hardware import AnalogSPU, DigitalHardware
from .step_costs import kfac_step, thermo_kfac_step
from .units import CostModelError
from .workloads import KFACSchedule, SolverAccuracy, width_sweep_workload

__all__ = ["ANALYTIC_EXPONENTS", "fit_exponent", "crossover_width"]


#: Exponent p of each per-step cost ~ n**p at fixed rows, intervals and hardware (width sweep).
ANALYTIC_EXPONENTS = {
    ("kfac", "inversion"): 3, ("kfac", "precondition"): 3, ("kfac", "factors"): 2,
    ("kfac", "total"): 3, ("adam", "total"): 2, ("sgd", "total"): 2,
    ("thermo-m1", "precondition"): 3, ("thermo-m1", "total"): 3,
    ("thermo-m1", "spu_sampling"): 1, ("thermo-m1", "spu_load"): 2,
    ("thermo-m2", "spu_burn_in"): 1, ("thermo-m2", "spu_sampling"): 1,
    ("thermo-m2", "spu_rhs_dac"): 1, ("thermo-m2", "spu_load"): 2, ("thermo-m2", "spu_link"): 2,
    ("thermo-m2", "total"): 2, ("thermo-m2-raw", "spu_load"): 1, ("thermo-m2-raw", "total"): 2,
}


def fit_exponent(widths: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(width)."""
    if len(widths) != len(seconds) or len(widths) < 2:
        raise CostModelError("need at least two (width, seconds) pairs of equal length")
    xs = [math.log(w) for w in widths]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def crossover_width(hw: DigitalHardware, spu: AnalogSPU, schedule: KFACSchedule = KFACSchedule(),
                    accuracy: SolverAccuracy = SolverAccuracy(), *, method: int = 2,
                    rows: int = 512, lo: int = 2, hi: int = 1 << 20,
                    backprop: bool = False) -> float | None:
    """Width n of a square layer (``rows`` activation rows) from which on thermodynamic K-FAC
    (``method``) takes less time per step than digital K-FAC, up to ``hi``; None if it is
    slower at ``hi``. At small widths per-call latencies can favour either side, so the search
    takes the *last* change of sign on a grid of sqrt(2) steps, then bisects it to one unit."""
    def gain(n: int) -> float:
        w = width_sweep_workload(n, rows=rows)
        return (kfac_step(w, hw, schedule, backprop=backprop).total_s
                - thermo_kfac_step(w, hw, spu, schedule, accuracy, method=method,
                                   backprop=backprop).total_s)
    if gain(hi) <= 0:
        return None
    grid = sorted({int(round(lo * 2 ** (i / 2)))
                   for i in range(int(2 * math.log2(hi / lo)) + 1)} | {hi})
    slower = [n for n in grid if gain(n) <= 0]
    if not slower:
        return float(lo)
    low = slower[-1]
    high = grid[grid.index(low) + 1]
    while high - low > 1:
        mid = (low + high) // 2
        if gain(mid) > 0:
            high = mid
        else:
            low = mid
    return float(high)
