"""SPUCore end to end through the host bus in the Amaranth simulator: accumulator contents
equal golden.run_job bit for bit for random problems and configurations, and directed cases
(zero matrix, identity, both rails, back-to-back jobs, abort, reads and writes while busy)."""

import os
import random

import numpy as np
import pytest

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.gateware.core import SPUCore
from thermospu.rtl.spec.golden import run_job

from rtl_helpers import (bus_read, bus_write, load_job, random_problem, read_reg, read_result,
                         run_job_on_core, simulate, to_signed64, wait_done, write_reg)

SMALL = SPUConfig(n=6, lanes=2, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                  max_samples_log2=10)


def random_case(seed: int):
    """A random machine (N <= 8, moment lanes), job and SPD problem, all drawn from ``seed``."""
    rnd = random.Random(seed)
    n = rnd.randint(1, 8)
    lanes = rnd.choice([p for p in (1, 2, 4, 8) if p <= n])
    x_bits = rnd.randint(6, 16)
    cfg = SPUConfig(n=n, lanes=lanes, a_bits=rnd.randint(3, 12), b_bits=rnd.randint(3, 12),
                    x_bits=x_bits, out_bits=rnd.randint(2, x_bits), sigma_bits=rnd.randint(1, 8),
                    max_samples_log2=10)
    params = JobParams(
        n_active=rnd.randint(1, n), k=rnd.randint(0, 6), b_shift=rnd.randint(0, cfg.b_shift_max),
        sigma_q=rnd.randint(0, cfg.sigma_max_code),
        sigma_shift=rnd.randint(0, cfg.sigma_shift_max), burn_in=rnd.randint(0, 12),
        samples=rnd.randint(1, 12), thin=rnd.randint(1, 3), moments=rnd.random() < 0.7,
        seed=rnd.getrandbits(64)).validate(cfg)
    moment_lanes = rnd.choice([None, *(m for m in (1, 2, 4, 8) if m <= lanes)])
    a_q, b_q = random_problem(np.random.default_rng(seed), cfg, params)
    return cfg, moment_lanes, params, a_q, b_q


def run_on_core(cfg, jobs, moment_lanes=None):
    """Run [(a_q, b_q, params), ...] back to back on one core; returns the JobResults."""
    core = SPUCore(cfg, moment_lanes)
    results = []

    async def tb(ctx):
        for a_q, b_q, params in jobs:
            result, _ = await run_job_on_core(ctx, core, a_q, b_q, params)
            results.append(result)

    simulate(core, tb)
    return results


#: 20 random cases by default (a few seconds), 500 with THERMOSPU_LONG=1.
RANDOM_CASES = 500 if os.environ.get("THERMOSPU_LONG") == "1" else 20


@pytest.mark.parametrize("case", range(RANDOM_CASES))
def test_random_problems_bit_exact(case, request):
    seed = int(os.environ.get("THERMOSPU_SEED_RTL", 9000 + case))
    print(f"random case seed {seed} (replay: THERMOSPU_SEED_RTL={seed})")
    cfg, moment_lanes, params, a_q, b_q = random_case(seed)
    [got] = run_on_core(cfg, [(a_q, b_q, params)], moment_lanes)
    want = run_job(cfg, a_q, b_q, params)
    assert got == want, (f"seed {seed}: {cfg} moment_lanes={moment_lanes} {params}\n"
                         f"got  {got}\nwant {want}")


def job(**changes):
    fields = dict(n_active=6, k=2, b_shift=1, sigma_q=9, sigma_shift=2, burn_in=3, samples=6,
                  thin=2, moments=True, seed=77)
    fields.update(changes)
    return JobParams(**fields).validate(SMALL)


def test_zero_matrix_identity_and_both_rails_back_to_back():
    """Four jobs without reset in between; the rail jobs saturate and count it."""
    n = SMALL.n
    top_b = np.full(n, SMALL.b_max_code)
    jobs = [
        (np.zeros((n, n), dtype=np.int64), np.arange(n) * 50 - 120, job()),
        (np.eye(n, dtype=np.int64) * SMALL.a_max_code, np.arange(n) * 40 - 100, job(seed=5)),
        (np.zeros((n, n), dtype=np.int64), top_b, job(b_shift=SMALL.b_shift_max, sigma_q=0)),
        (np.zeros((n, n), dtype=np.int64), -top_b - 1, job(b_shift=SMALL.b_shift_max, thin=1)),
    ]
    got = run_on_core(SMALL, jobs)
    for (a_q, b_q, params), result in zip(jobs, got):
        assert result == run_job(SMALL, a_q, b_q, params)
    assert got[2].saturations > 0 and got[3].saturations > 0
    assert got[2].sum_y.min() == params_count(jobs[2]) * SMALL.y_max_code
    assert got[3].sum_y.max() == params_count(jobs[3]) * SMALL.y_min_code


def params_count(entry):
    return entry[2].samples


def test_abort_then_good_job_and_busy_rules():
    """Reads and writes while busy are refused and flagged; abort stops at a step boundary
    with STATUS aborted; the next job runs exactly."""
    core = SPUCore(SMALL)
    bus = core.bus
    rng = np.random.default_rng(3)
    long_job = job(burn_in=10_000)
    a_q, b_q = random_problem(rng, SMALL, long_job)
    good = job(seed=1234)
    checks = {}

    async def tb(ctx):
        # Before any job: sums read 0 (no sample taken), no error.
        assert await bus_read(ctx, bus, rm.sum_y_address(0)) == 0
        await load_job(ctx, core, a_q, b_q, long_job)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_START)
        for _ in range(200):
            await ctx.tick()
        assert ctx.get(core.busy)
        status = await read_reg(ctx, bus, rm.REG_STATUS)
        assert status == rm.STATUS_BUSY, rm.decode_status(status)
        checks["steps_running"] = await read_reg(ctx, bus, rm.REG_STEPS)
        # Reads of results and writes while busy: 0 and sticky flags; the write is ignored.
        assert await bus_read(ctx, bus, rm.sum_y_address(0)) == 0
        await bus_write(ctx, bus, rm.a_address(0, 0, SMALL.n), 1)
        await write_reg(ctx, bus, rm.REG_K, 0)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_START)
        status = await read_reg(ctx, bus, rm.REG_STATUS)
        assert status == (rm.STATUS_BUSY | rm.STATUS_ERROR | rm.STATUS_READ_WHILE_BUSY
                          | rm.STATUS_WRITE_WHILE_BUSY), rm.decode_status(status)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_ABORT)
        waited = await wait_done(ctx, core, 1000)
        assert waited < 2 * core.step_cycles(6) + 20      # stops at the next step boundary
        status = await read_reg(ctx, bus, rm.REG_STATUS)
        assert status & rm.STATUS_DONE and status & rm.STATUS_ABORTED
        assert await read_reg(ctx, bus, rm.REG_COUNT) == 0
        checks["steps_aborted"] = await read_reg(ctx, bus, rm.REG_STEPS)
        assert await read_reg(ctx, bus, rm.REG_K) == long_job.k
        assert to_signed64(await bus_read(ctx, bus, rm.a_address(0, 0, SMALL.n))) == a_q[0, 0]
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_CLEAR)
        assert await read_reg(ctx, bus, rm.REG_STATUS) == 0
        result, _ = await run_job_on_core(ctx, core, a_q, b_q, good)
        checks["good"] = result
        # Moments off: sum_yy reads 0; entries outside n_active read 0.
        await write_reg(ctx, bus, rm.REG_MOMENTS, 0)
        await write_reg(ctx, bus, rm.REG_N_ACTIVE, 4)
        await write_reg(ctx, bus, rm.REG_CONTROL, rm.CONTROL_START)
        await wait_done(ctx, core, 10_000)
        assert await bus_read(ctx, bus, rm.sum_yy_address(0, 0, SMALL.n)) == 0
        assert await bus_read(ctx, bus, rm.sum_y_address(5)) == 0
        assert await bus_read(ctx, bus, rm.sum_y_address(3)) != 0
        assert await read_reg(ctx, bus, rm.REG_STATUS) == rm.STATUS_DONE

    simulate(core, tb)
    assert checks["steps_running"] > 0
    assert checks["steps_running"] <= checks["steps_aborted"] < long_job.steps
    assert checks["good"] == run_job(SMALL, a_q, b_q, good)


def test_reset_mid_run_then_good_job():
    """The sync reset in the middle of a job brings the core to idle with default job
    registers; memories keep A, b and the seeds, and the next job is exact."""
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    core = SPUCore(SMALL)
    top = Module()
    top.domains.sync = sync = ClockDomain("sync")
    top.submodules.core = core
    rng = np.random.default_rng(11)
    long_job, good = job(burn_in=10_000), job(seed=4321, n_active=5)
    a_q, b_q = random_problem(rng, SMALL, long_job)
    results = {}

    async def tb(ctx):
        await load_job(ctx, core, a_q, b_q, long_job)
        await write_reg(ctx, core.bus, rm.REG_CONTROL, rm.CONTROL_START)
        for _ in range(300):
            await ctx.tick()
        assert ctx.get(core.busy)
        ctx.set(sync.rst, 1)
        await ctx.tick()
        ctx.set(sync.rst, 0)
        assert not ctx.get(core.busy)
        assert await read_reg(ctx, core.bus, rm.REG_STATUS) == 0
        assert await read_reg(ctx, core.bus, rm.REG_N_ACTIVE) == SMALL.n
        assert await read_reg(ctx, core.bus, rm.REG_BURN_IN) == 0
        for reg, field in rm.JOB_REGISTERS.items():   # only the registers: A, b, seeds stay
            await write_reg(ctx, core.bus, reg, int(getattr(good, field)))
        await write_reg(ctx, core.bus, rm.REG_CONTROL, rm.CONTROL_START)
        await wait_done(ctx, core, 100_000)
        results["good"] = await read_result(ctx, core, good)

    sim = Simulator(top)
    sim.add_clock(1e-6, domain="sync")
    sim.add_testbench(tb)
    sim.run()
    # Seeds of cells 0..4 are those of long_job's seed (written before the reset).
    expected = run_job(SMALL, a_q[:5, :5], b_q[:5], JobParams(**{**good.to_dict(), "seed": long_job.seed}))
    assert results["good"] == expected


def test_many_banks_read_back_through_their_groups():
    """P = 32 coupling banks (four groups of eight) and M = 16 second-moment banks (two groups):
    the host's reads of A and sum_yy pass the two-level bank selection (the random cases have
    at most eight banks, one group); A reads back as written and the job equals the golden
    model bit for bit."""
    cfg = SPUConfig(n=32, lanes=32, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                    max_samples_log2=10)
    params = JobParams(n_active=27, k=2, b_shift=1, sigma_q=9, sigma_shift=2, burn_in=2,
                       samples=3, thin=1, moments=True, seed=21).validate(cfg)
    a_q, b_q = random_problem(np.random.default_rng(32), cfg, params)
    core = SPUCore(cfg, moment_lanes=16)
    out = {}

    async def tb(ctx):
        out["result"], _ = await run_job_on_core(ctx, core, a_q, b_q, params)
        out["a"] = [[to_signed64(await bus_read(ctx, core.bus, rm.a_address(i, j, cfg.n)))
                     for j in range(params.n_active)] for i in range(params.n_active)]

    simulate(core, tb)
    np.testing.assert_array_equal(np.array(out["a"]), a_q)
    assert out["result"] == run_job(cfg, a_q, b_q, params)
