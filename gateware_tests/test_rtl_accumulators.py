"""SampleAccumulators against NumPy sums of the same output codes (sum_y and the sum_yy
upper triangle), including memories left dirty by a previous job and back-pressure."""

import numpy as np
import pytest

from thermospu.rtl.gateware.accumulators import Y_BUFFERS, SampleAccumulators
from thermospu.rtl.gateware.bank_select import BANK_GROUP
from thermospu.rtl.spec.config import SPUConfig

from rtl_helpers import simulate


@pytest.mark.parametrize("n,lanes,n_active",
                         [(8, 4, 8), (8, 2, 5), (5, 1, 5), (4, 4, 2), (32, 16, 21)])
def test_sums_equal_numpy(n, lanes, n_active):
    cfg = SPUConfig(n=n, lanes=lanes, a_bits=6, b_bits=6, x_bits=10, out_bits=7, sigma_bits=4,
                    max_samples_log2=8)
    dut = SampleAccumulators(cfg)
    rng = np.random.default_rng(n * 100 + lanes * 10 + n_active)
    jobs = [rng.integers(cfg.y_min_code, cfg.y_max_code + 1, size=(s, n_active)) for s in (3, 9)]
    results = []

    async def tb(ctx):
        ctx.set(dut.n_active, n_active)
        ctx.set(dut.moments, 1)
        for ys in jobs:        # the second job must not see the first one's sums
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for s, y in enumerate(ys):
                while not ctx.get(dut.can_reserve):
                    await ctx.tick()
                ctx.set(dut.reserve, 1)
                await ctx.tick()
                ctx.set(dut.reserve, 0)
                for i, value in enumerate(y):     # one cell per cycle, as the integrator
                    ctx.set(dut.in_valid, 1)
                    ctx.set(dut.in_cell, i)
                    ctx.set(dut.in_y, int(value))
                    ctx.set(dut.in_first, s == 0)
                    ctx.set(dut.in_buffer, s % Y_BUFFERS)
                    ctx.set(dut.in_last_cell, i == n_active - 1)
                    await ctx.tick()
                ctx.set(dut.in_valid, 0)
            while ctx.get(dut.busy):
                await ctx.tick()
            ctx.set(dut.host_access, 1)
            sum_y, sum_yy = [], []
            for i in range(n_active):
                ctx.set(dut.host_sum_y_cell, i)
                await ctx.tick()
                sum_y.append(ctx.get(dut.host_sum_y))
                for j in range(i, n_active):
                    ctx.set(dut.host_yy_row, i)
                    ctx.set(dut.host_yy_col, j)
                    await ctx.tick()
                    sum_yy.append(ctx.get(dut.host_sum_yy[(i % dut.lanes) // BANK_GROUP]))
            ctx.set(dut.host_access, 0)
            results.append((sum_y, sum_yy))

    simulate(dut, tb)
    iu = np.triu_indices(n_active)
    for ys, (sum_y, sum_yy) in zip(jobs, results):
        np.testing.assert_array_equal(sum_y, ys.sum(axis=0))
        np.testing.assert_array_equal(sum_yy, (ys.T @ ys)[iu])


def test_reservations_stop_at_four_buffers():
    cfg = SPUConfig(n=4, lanes=2, a_bits=6, b_bits=6, x_bits=10, out_bits=7, sigma_bits=4,
                    max_samples_log2=8)
    dut = SampleAccumulators(cfg)

    async def tb(ctx):
        ctx.set(dut.n_active, 4)
        ctx.set(dut.moments, 1)
        for _ in range(Y_BUFFERS):
            assert ctx.get(dut.can_reserve)
            ctx.set(dut.reserve, 1)
            await ctx.tick()
        ctx.set(dut.reserve, 0)
        assert not ctx.get(dut.can_reserve)
        assert ctx.get(dut.busy)

    simulate(dut, tb)
