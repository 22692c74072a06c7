"""cocotb tests of SPUCore's generated Verilog against the golden model (run by
gateware_tests/test_cocotb_spu.py through :mod:`thermospu.rtl.sim.runner`).

Parameters arrive in environment variables (the simulator's Python is a separate process):

``THERMOSPU_SPU_CONFIG``  JSON of the :class:`SPUConfig` the Verilog was built for (required);
``THERMOSPU_JOB_SEED``    seed of the random jobs (``random_jobs``);
``THERMOSPU_JOB_COUNT``   number of random jobs (``random_jobs``);
``THERMOSPU_REPORT``      where ``random_jobs`` writes its JSON report (jobs compared, failures,
                          cycles per Euler step), read back by the pytest side.

Every test resets the core first; within ``random_jobs`` the jobs run back to back with no
reset in between, so state left over by one job would show up as a mismatch in the next.
"""

from __future__ import annotations

import dataclasses
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.golden import run_job

from .host import CLOCK_PERIOD_NS, HostBusDriver, HostBusMonitor, SPUHost
from .jobs import Job, random_job
from .scoreboard import Scoreboard, result_mismatches


def _config() -> SPUConfig:
    return SPUConfig.from_dict(json.loads(os.environ["THERMOSPU_SPU_CONFIG"]))


async def _bring_up(dut) -> tuple[SPUHost, HostBusMonitor]:
    """Clock, reset, driver, monitor; checks the info registers against the build's config."""
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    bus = HostBusDriver(dut, dut.clk)
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    monitor = HostBusMonitor(dut, dut.clk)
    cocotb.start_soon(monitor.run())
    host = SPUHost(bus, _config(), done=dut.done, busy=dut.busy)
    await host.check_info()
    return host, monitor


async def _finish(host: SPUHost, monitor: HostBusMonitor, board: Scoreboard) -> None:
    """Let the monitor see the last transaction, then check the bus protocol and the results."""
    await host.pause(rm.READ_LATENCY + 2)
    monitor.check(host.bus)
    board.check()


def _reg(reg: int) -> int:
    return rm.address(rm.REGION_REGS, reg)


async def _run_and_compare(host: SPUHost, board: Scoreboard, job: Job, label: str):
    got, cycles = await host.run_job(job.a_q, job.b_q, job.params)
    board.compare(job, got, label)
    return got, cycles


def _job(config: SPUConfig, a_q, b_q, **params) -> Job:
    a_q = np.asarray(a_q, dtype=np.int64)
    p = JobParams(n_active=a_q.shape[0], **params).validate(config)
    return Job(a_q=a_q, b_q=np.asarray(b_q, dtype=np.int64), params=p, kind="directed")


# --- random jobs ------------------------------------------------------------------------------

@cocotb.test()
async def random_jobs(dut):
    """THERMOSPU_JOB_COUNT random jobs from THERMOSPU_JOB_SEED, back to back, bit for bit."""
    host, monitor = await _bring_up(dut)
    config = host.config
    seed = int(os.environ["THERMOSPU_JOB_SEED"])
    count = int(os.environ["THERMOSPU_JOB_COUNT"])
    board = Scoreboard(config, dut._log)
    per_step = []
    for index in range(count):
        job = random_job(np.random.default_rng([seed, index]), config)
        _, cycles = await _run_and_compare(
            host, board, job, f"job {index} of THERMOSPU_JOB_SEED={seed}:")
        per_step.append([job.params.n_active, job.params.steps, job.params.samples,
                         int(job.params.moments), job.params.thin, cycles])
    await host.pause(rm.READ_LATENCY + 2)   # the monitor sees the last acknowledge
    report = {"compared": board.compared, "failures": board.failures,
              "config": config.to_dict(), "jobs": per_step,
              "bus_reads": monitor.reads, "bus_writes": monitor.writes}
    path = os.environ.get("THERMOSPU_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(report, f)
    await _finish(host, monitor, board)


# --- directed cases ---------------------------------------------------------------------------

@cocotb.test()
async def saturation_both_rails(dut):
    """Cells driven hard to +rail and -rail (alternating b signs, A = 0, h = 1): the states clamp,
    the saturation counter counts every clamped update, the output codes sit at the rails."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    n = config.n
    b_q = np.array([config.b_max_code if i % 2 == 0 else -(1 << (config.b_bits - 1))
                    for i in range(n)])
    job = _job(config, np.zeros((n, n)), b_q, k=0, b_shift=config.b_shift_max, sigma_q=0,
               sigma_shift=0, burn_in=8, samples=4, thin=1, moments=True, seed=1)
    got, _ = await _run_and_compare(host, board, job, "saturation")
    # The case must do what it says: every cell pinned at a rail (else the test proves nothing).
    expected = run_job(config, job.a_q, job.b_q, job.params)
    rails = np.where(b_q > 0, config.y_max_code, config.y_min_code) * job.params.samples
    assert np.array_equal(expected.sum_y, rails), "directed case does not reach the rails"
    assert expected.saturations > 0
    # A symmetric coupling matrix of extreme codes with noise at full scale: both rails again,
    # through the multiplier path rather than the bias.
    a = np.full((n, n), -(1 << config.fa))
    job = _job(config, a, np.zeros(n), k=0, b_shift=0, sigma_q=config.sigma_max_code,
               sigma_shift=config.sigma_shift_max,
               burn_in=3, samples=6, thin=1, moments=True, seed=2)
    await _run_and_compare(host, board, job, "saturation via A and noise")
    await _finish(host, monitor, board)


@cocotb.test()
async def zero_matrix(dut):
    """A = 0, b = 0: without noise the state stays at 0 (all sums 0); with noise it random-walks."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    n = config.n
    z = np.zeros((n, n))
    quiet = _job(config, z, np.zeros(n), k=2, b_shift=0, sigma_q=0, sigma_shift=0,
                 burn_in=5, samples=5, thin=2, moments=True, seed=3)
    got, _ = await _run_and_compare(host, board, quiet, "zero matrix, no noise")
    assert not got.sum_y.any() and not got.sum_yy.any() and got.saturations == 0
    noisy = dataclasses.replace(quiet, params=dataclasses.replace(
        quiet.params, sigma_q=config.sigma_max_code,
        sigma_shift=min(2, config.sigma_shift_max)))
    await _run_and_compare(host, board, noisy, "zero matrix, noise")
    await _finish(host, monitor, board)


@cocotb.test()
async def identity(dut):
    """A = (1 - 2**-fa) I, b random, no noise: every cell relaxes independently towards b_i."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    n = config.n
    rng = np.random.default_rng(4)
    b_q = rng.integers(-(1 << (config.b_bits - 2)), 1 << (config.b_bits - 2), n)
    job = _job(config, np.eye(n, dtype=np.int64) * config.a_max_code, b_q, k=1, b_shift=0,
               sigma_q=0, sigma_shift=0, burn_in=20, samples=8, thin=1, moments=True, seed=4)
    await _run_and_compare(host, board, job, "identity")
    await _finish(host, monitor, board)


@cocotb.test()
async def back_to_back_shrinking(dut):
    """Jobs back to back without reset, the second smaller (n_active) and without moments: the
    accumulators outside its n_active and the whole sum_yy region read 0 (regmap rule)."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    n = config.n
    rng = np.random.default_rng(5)
    big = random_job(rng, config)
    big = dataclasses.replace(big, a_q=rng.integers(-(1 << config.fa), config.a_max_code + 1,
                                                    (n, n)),
                              b_q=rng.integers(-(1 << (config.b_bits - 1)), config.b_max_code + 1,
                                               n),
                              params=dataclasses.replace(big.params, n_active=n, moments=True,
                                                         sigma_q=config.sigma_max_code))
    await _run_and_compare(host, board, big, "back-to-back 1 (full size)")
    small_n = max(1, n // 2)
    small = _job(config, big.a_q[:small_n, :small_n], big.b_q[:small_n], k=3, b_shift=0,
                 sigma_q=7 % (config.sigma_max_code + 1), sigma_shift=0, burn_in=2, samples=3,
                 thin=2, moments=False, seed=6)
    await _run_and_compare(host, board, small, "back-to-back 2 (smaller, no moments)")
    outside = await host.bus.read_many([rm.sum_y_address(i) for i in range(small_n, n)])
    everything = await host.bus.read_many(
        [rm.sum_yy_address(i, j, n) for i in range(n) for j in range(i, n)])
    assert not any(outside), f"sum_y beyond n_active reads {outside}"
    assert not any(everything), "sum_yy of a job without moments is not all 0"
    # ... and a third job identical to the first reproduces it exactly.
    await _run_and_compare(host, board, big, "back-to-back 3 (repeat of 1)")
    await _finish(host, monitor, board)


def _long_job(config: SPUConfig) -> Job:
    rng = np.random.default_rng(7)
    job = random_job(rng, config)
    return dataclasses.replace(job, params=dataclasses.replace(
        job.params, burn_in=3, samples=min(config.max_samples, 200), thin=2))


@cocotb.test()
async def abort_mid_run(dut):
    """ABORT while sampling: the core stops at a step boundary with DONE|ABORTED, COUNT samples
    in the sums (equal to the golden model's with that many samples), and the next job runs
    cleanly without a reset."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    job = _long_job(config)
    p = job.params
    await host.load(job.a_q, job.b_q, p)
    await host.start()
    per_step = -(-config.n * config.n // config.lanes)
    # Abort once a few samples are in: COUNT is readable while busy.
    while await host.bus.read(_reg(rm.REG_COUNT)) < 3:
        await host.pause(per_step)
    assert host.busy.value, "job finished before the abort could be tested"
    await host.control(rm.CONTROL_ABORT)
    await host.wait_done(4 * (per_step + 64))
    status = await host.status()
    assert status & rm.STATUS_ABORTED and status & rm.STATUS_DONE, rm.decode_status(status)
    assert not status & rm.STATUS_ERROR, rm.decode_status(status)
    got = await host.read_results(p.n_active, p.moments)
    assert 1 <= got.count < p.samples, f"abort left COUNT={got.count} of {p.samples}"
    assert p.burn_in + got.count * p.thin <= got.steps < p.burn_in + (got.count + 1) * p.thin
    truncated = run_job(config, job.a_q, job.b_q, dataclasses.replace(p, samples=got.count))
    diffs = result_mismatches(
        dataclasses.replace(truncated, saturations=0, steps=0),
        dataclasses.replace(got, saturations=0, steps=0))
    assert not diffs, f"sums after abort differ from {got.count} golden samples: {diffs}"
    await host.control(rm.CONTROL_CLEAR)
    after = random_job(np.random.default_rng(8), config)
    await _run_and_compare(host, board, after, "job after abort")
    await _finish(host, monitor, board)


@cocotb.test()
async def reset_mid_run(dut):
    """Reset during a run returns the core to idle (not busy, not done, no errors) and the next
    job is bit-exact."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    job = _long_job(config)
    await host.load(job.a_q, job.b_q, job.params)
    await host.start()
    await host.pause(40 * config.n)
    assert host.busy.value, "job finished before the reset could be tested"
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    status = await host.status()
    assert status == 0, f"STATUS after reset is {status:#x}: {rm.decode_status(status)}"
    after = random_job(np.random.default_rng(9), config)
    await _run_and_compare(host, board, after, "job after reset")
    await _finish(host, monitor, board)


@cocotb.test()
async def read_before_done(dut):
    """While busy: memory regions read 0 and set READ_WHILE_BUSY; writes to A are ignored and set
    WRITE_WHILE_BUSY; COUNT and STEPS are readable and grow. None of this disturbs the job,
    whose result stays bit-exact; CLEAR then clears the sticky errors."""
    host, monitor = await _bring_up(dut)
    config = host.config
    board = Scoreboard(config, dut._log)
    job = _long_job(config)
    p = job.params
    await host.load(job.a_q, job.b_q, p)
    await host.start()
    await host.pause(20 * config.n)
    assert host.busy.value, "job finished before the early reads could be tested"
    early = await host.bus.read_many([rm.sum_y_address(0), rm.a_address(0, 0, config.n),
                                      rm.b_address(0), rm.seed_address(0, 0)])
    assert early == [0, 0, 0, 0], f"memory reads while busy returned {early}"
    steps_1 = await host.bus.read(_reg(rm.REG_STEPS))
    await host.bus.write(rm.a_address(0, 0, config.n), 1)
    await host.pause(8 * config.n)
    steps_2 = await host.bus.read(_reg(rm.REG_STEPS))
    assert 0 < steps_1 < steps_2 <= p.steps, (steps_1, steps_2)
    status = await host.status()
    assert status & rm.STATUS_BUSY and status & rm.STATUS_READ_WHILE_BUSY \
        and status & rm.STATUS_WRITE_WHILE_BUSY and status & rm.STATUS_ERROR, \
        rm.decode_status(status)
    await host.wait_done(host.timeout_cycles(p))
    got = await host.read_results(p.n_active, p.moments)
    board.compare(job, got, "job read early")
    await host.control(rm.CONTROL_CLEAR)
    status = await host.status()
    assert status == 0, f"STATUS after CLEAR is {status:#x}: {rm.decode_status(status)}"
    await _finish(host, monitor, board)


DIRECTED = ["saturation_both_rails", "zero_matrix", "identity", "back_to_back_shrinking",
            "abort_mid_run", "reset_mid_run", "read_before_done"]
