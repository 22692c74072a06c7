"""cocotb module of bench/bench_simspeed.py: how many clock cycles per wall-clock second the
simulator runs SPUCore at while the core is busy (a long job with moments on, thinning 1, so the
MAC lanes, integrator and accumulators all work every step).

The clock is cocotb's (a simulator-side clock, no Python per cycle) and the test waits with a
single Timer per chunk, so the figure is the simulator's own speed on this design. Environment:
``THERMOSPU_SPU_CONFIG`` (JSON SPUConfig), ``THERMOSPU_MIN_SECONDS`` (wall time to measure for,
default 3) and ``THERMOSPU_REPORT`` (JSON output: cycles, seconds, Euler steps run).
"""

from __future__ import annotations

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.config import JobParams, SPUConfig

from .host import CLOCK_PERIOD_NS, HostBusDriver, SPUHost
from .jobs import random_spd_codes


@cocotb.test()
async def free_run_speed(dut):
    config = SPUConfig.from_dict(json.loads(os.environ["THERMOSPU_SPU_CONFIG"]))
    min_seconds = float(os.environ.get("THERMOSPU_MIN_SECONDS", "3"))
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    bus = HostBusDriver(dut, dut.clk)
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    host = SPUHost(bus, config, done=dut.done, busy=dut.busy)
    rng = np.random.default_rng(1)
    n = config.n
    a_q = random_spd_codes(rng, n, config, condition=10.0)
    b_q = rng.integers(-(1 << (config.b_bits - 2)), 1 << (config.b_bits - 2), n)
    params = JobParams(n_active=n, k=4, b_shift=0, sigma_q=config.sigma_max_code // 2,
                       sigma_shift=0, burn_in=0, samples=config.max_samples, thin=1,
                       moments=True, seed=1).validate(config)
    await host.load(a_q, b_q, params)
    await host.start()
    steps_before = await bus.read(rm.address(rm.REGION_REGS, rm.REG_STEPS))
    cycles, chunk = 0, 1000
    start = time.perf_counter()
    while True:
        await Timer(chunk * CLOCK_PERIOD_NS, "ns")
        cycles += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
        if elapsed < min_seconds / 4:
            chunk *= 2
    await FallingEdge(dut.clk)
    assert dut.busy.value, "the job ended while being timed"
    steps = await bus.read(rm.address(rm.REGION_REGS, rm.REG_STEPS)) - steps_before
    report = {"cycles": cycles, "seconds": elapsed, "steps": steps}
    with open(os.environ["THERMOSPU_REPORT"], "w") as f:
        json.dump(report, f)
    await host.control(rm.CONTROL_ABORT)
