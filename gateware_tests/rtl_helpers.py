"""Shared helpers for the Amaranth-simulator tests of the SPU gateware: host-bus transactions
(async testbench API) and a whole-job runner that mirrors what the driver does."""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
from amaranth.sim import Simulator

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.golden import JobResult, cell_seeds

MASK64 = (1 << 64) - 1
ROOT = pathlib.Path(__file__).resolve().parent.parent


def to_signed64(word: int) -> int:
    return word - (1 << 64) if word >> 63 else word


async def bus_write(ctx, bus, addr: int, value: int) -> None:
    """One host-bus write (value may be negative: it is sign-extended to 64 bits)."""
    ctx.set(bus.addr, addr)
    ctx.set(bus.w_data, value & MASK64)
    ctx.set(bus.w_stb, 1)
    await ctx.tick()
    ctx.set(bus.w_stb, 0)


async def bus_read(ctx, bus, addr: int) -> int:
    """One host-bus read; checks the fixed read latency and returns the raw 64-bit word."""
    ctx.set(bus.addr, addr)
    ctx.set(bus.r_stb, 1)
    await ctx.tick()
    ctx.set(bus.r_stb, 0)
    for _ in range(rm.READ_LATENCY - 1):
        assert not ctx.get(bus.r_ack), "r_ack came early"
        await ctx.tick()
    assert ctx.get(bus.r_ack), f"no r_ack {rm.READ_LATENCY} cycles after r_stb"
    return ctx.get(bus.r_data)


async def read_reg(ctx, bus, reg: int) -> int:
    return await bus_read(ctx, bus, rm.address(rm.REGION_REGS, reg))


async def write_reg(ctx, bus, reg: int, value: int) -> None:
    await bus_write(ctx, bus, rm.address(rm.REGION_REGS, reg), value)


async def load_job(ctx, core, a_q, b_q, params) -> None:
    """Write A, b, the per-cell seeds and the job registers of ``params`` (not the start)."""
    cfg, bus = core.config, core.bus
    n = params.n_active
    for i in range(n):
        for j in range(n):
            await bus_write(ctx, bus, rm.a_address(i, j, cfg.n), int(a_q[i, j]))
        await bus_write(ctx, bus, rm.b_address(i), int(b_q[i]))
    for i, words in enumerate(cell_seeds(params.seed, n)):
        for w, word in enumerate(words):
            await bus_write(ctx, bus, rm.seed_address(i, w), int(word))
    for reg, field in rm.JOB_REGISTERS.items():
        await write_reg(ctx, bus, reg, int(getattr(params, field)))


async def wait_done(ctx, core, max_cycles: int) -> int:
    """Tick until the core is idle; returns the cycles waited."""
    for cycle in range(max_cycles):
        if not ctx.get(core.busy):
            return cycle
        await ctx.tick()
    raise AssertionError(f"core still busy after {max_cycles} cycles")


async def read_result(ctx, core, params) -> JobResult:
    """Read the accumulators of the last job the way the driver does."""
    cfg, bus = core.config, core.bus
    n = params.n_active
    sum_y = np.array([to_signed64(await bus_read(ctx, bus, rm.sum_y_address(i)))
                      for i in range(n)], dtype=np.int64)
    sum_yy = None
    if params.moments:
        sum_yy = np.array([to_signed64(await bus_read(ctx, bus, rm.sum_yy_address(i, j, cfg.n)))
                           for i in range(n) for j in range(i, n)], dtype=np.int64)
    return JobResult(
        sum_y=sum_y, sum_yy=sum_yy,
        count=await read_reg(ctx, bus, rm.REG_COUNT),
        saturations=await read_reg(ctx, bus, rm.REG_SATURATIONS),
        steps=await read_reg(ctx, bus, rm.REG_STEPS),
    )


def waves_path() -> pathlib.Path | None:
    """Where the running test's waveform goes when THERMOSPU_WAVES=1 (never by default):
    sim_build/rtl_waves/<test name>.vcd."""
    if os.environ.get("THERMOSPU_WAVES") != "1":
        return None
    test = os.environ.get("PYTEST_CURRENT_TEST", "amaranth_sim").split(" ")[0]
    path = ROOT / "sim_build" / "rtl_waves" / (re.sub(r"[^\w.-]+", "_", test) + ".vcd")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def simulate(dut, testbench, clock: bool = True) -> None:
    """Run ``testbench(ctx)`` against ``dut`` with a 1 MHz sync clock (none for a purely
    combinational ``dut``); writes a VCD when THERMOSPU_WAVES=1 (see :func:`waves_path`)."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    vcd = waves_path()
    if vcd:
        print(f"waveform: {vcd}")
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()


async def run_job_on_core(ctx, core, a_q, b_q, params, max_cycles: int = 200_000):
    """Load, start and wait for a job; returns (JobResult, cycles the job took)."""
    await load_job(ctx, core, a_q, b_q, params)
    await write_reg(ctx, core.bus, rm.REG_CONTROL, rm.CONTROL_START)
    await wait_done(ctx, core, max_cycles)
    status = await read_reg(ctx, core.bus, rm.REG_STATUS)
    assert status & rm.STATUS_DONE and not status & rm.STATUS_ERROR, rm.decode_status(status)
    cycles = await read_reg(ctx, core.bus, rm.REG_CYCLES)
    return await read_result(ctx, core, params), cycles


def random_problem(rng, config, params):
    """A random SPD coupling matrix and bias in codes, scaled to use most of the ranges."""
    n = params.n_active
    m = rng.standard_normal((n, n))
    a = m @ m.T / n + 0.5 * np.eye(n)
    a /= np.abs(a).max()
    a_q = np.clip(np.round(a * config.a_max_code), -config.a_max_code, config.a_max_code).astype(np.int64)
    b_q = rng.integers(-config.b_max_code, config.b_max_code + 1, size=n)
    return a_q, b_q


async def measure_sample_cycles(ctx, core, a_q, b_q, params, extra_samples: int = 4) -> float:
    """Clock cycles per sample in steady state (thin steps each, moments as in ``params``)."""
    _, cycles_short = await run_job_on_core(ctx, core, a_q, b_q, params)
    await write_reg(ctx, core.bus, rm.REG_SAMPLES, params.samples + extra_samples)
    await write_reg(ctx, core.bus, rm.REG_CONTROL, rm.CONTROL_START)
    await wait_done(ctx, core, 10_000_000)
    cycles_long = await read_reg(ctx, core.bus, rm.REG_CYCLES)
    return (cycles_long - cycles_short) / extra_samples
