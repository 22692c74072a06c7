"""Cycles per Euler step of SPUCore, measured in the Amaranth simulator, against N and P.

Each entry runs two jobs through the host bus that differ by two samples and divides the
difference of their CYCLES registers: the steady-state cost, without job start-up and drain.
Columns: moments off; second moments on at thinning 1 and 4 (cycles per step), and at thinning 1
with half the moment lanes; the model
``step_cycles`` (docs/gateware.md); the bound ceil(N**2/P) + X_LATENCY; MAC-lane utilization
N**2 / (P * cycles per step). Prints a markdown table and writes it to docs/cycles.md.

Usage: .venv/bin/python bench/bench_cycles.py [--quick]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "gateware_tests"))

from rtl_helpers import measure_sample_cycles, random_problem, simulate  # noqa: E402

from thermospu.rtl.spec.config import JobParams, SPUConfig  # noqa: E402
from thermospu.rtl.gateware.core import SPUCore, step_cycles  # noqa: E402


def measure(n: int, lanes: int, moments: bool, thin: int, moment_lanes: int | None = None) -> float:
    cfg = SPUConfig(n=n, lanes=lanes, a_bits=16, b_bits=16, x_bits=24, out_bits=16,
                    sigma_bits=16, max_samples_log2=16)
    core = SPUCore(cfg, moment_lanes)
    params = JobParams(n_active=n, k=4, b_shift=0, sigma_q=100, sigma_shift=0, burn_in=0,
                       samples=2, thin=thin, moments=moments, seed=1)
    a_q, b_q = random_problem(np.random.default_rng(n), cfg, params)
    out = {}

    async def tb(ctx):
        out["cycles"] = await measure_sample_cycles(ctx, core, a_q, b_q, params, extra_samples=2)

    simulate(core, tb)
    return out["cycles"] / thin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N <= 16 only")
    args = parser.parse_args(argv)
    sizes = [4, 8, 16] if args.quick else [4, 8, 16, 32]
    rows = []
    start = time.time()
    for n in sizes:
        for lanes in [p for p in (1, 2, 4, 8, 16, 32) if p <= n]:
            off = measure(n, lanes, False, 1)
            thin1 = measure(n, lanes, True, 1)
            thin4 = measure(n, lanes, True, 4)
            half = measure(n, lanes, True, 1, lanes // 2) if lanes > 1 else None
            cfg = SPUConfig(n=n, lanes=lanes)
            bound = math.ceil(n * n / lanes) + SPUCore.X_LATENCY
            rows.append((n, lanes, off, thin1, thin4, half, step_cycles(cfg, n), bound,
                         n * n / (lanes * off)))
            print(f"N={n} P={lanes}: {off:g} cycles/step", file=sys.stderr)
    lines = [
        "# SPUCore cycles per Euler step",
        "",
        "Measured with `bench/bench_cycles.py` in the Amaranth simulator (n_active = N; widths "
        "a/b/x/out = 16/16/24/16; cycles do not depend on widths). Steady state: difference of "
        "the CYCLES register between two jobs that differ by two samples. Moments columns: "
        "second-moment accumulation on, cycles per step at thinning 1 and 4 (M = P moment lanes), "
        "and at thinning 1 with M = P/2 (`SPUCore(config, moment_lanes=P//2)`, fewer multipliers; "
        "from thinning 2 on it costs nothing). Model: "
        "`step_cycles` = G*N + max(0, X_LATENCY - (G-1)*P), G = ceil(N/P), X_LATENCY = "
        f"{SPUCore.X_LATENCY}. Bound: ceil(N^2/P) + X_LATENCY. Utilization: N^2 / (P * cycles).",
        "",
        "| N | P | cycles/step | moments, thin 1 | moments, thin 4 | moments, thin 1, M = P/2 "
        "| model | bound | MAC utilization |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, lanes, off, thin1, thin4, half, model, bound, util in rows:
        half_text = "–" if half is None else f"{half:g}"
        lines.append(f"| {n} | {lanes} | {off:g} | {thin1:g} | {thin4:g} | {half_text} | {model} "
                     f"| {bound} | {util:.1%} |")
    lines += ["", f"({len(rows)} configurations, {time.time() - start:.0f} s of simulation.)", ""]
    table = "\n".join(lines)
    print(table)
    (ROOT / "docs" / "cycles.md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
