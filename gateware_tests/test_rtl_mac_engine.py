"""MacEngine against NumPy: coupling sums and captured states of consecutive groups."""

import numpy as np
import pytest

from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.gateware.mac_engine import MacEngine

from rtl_helpers import simulate


@pytest.mark.parametrize("lanes,n_active", [(4, 8), (4, 6), (1, 3), (8, 3)])
def test_group_sums(lanes, n_active):
    cfg = SPUConfig(n=8, lanes=lanes, a_bits=8, b_bits=8, x_bits=12, out_bits=8)
    dut = MacEngine(cfg, tag_bits=4)
    rng = np.random.default_rng(lanes * 10 + n_active)
    a = rng.integers(-(1 << cfg.fa), 1 << cfg.fa, size=(n_active, n_active))
    a[0, :] = -(1 << cfg.fa)                      # extreme codes: the largest magnitudes
    x = rng.integers(cfg.x_min_code, cfg.x_max_code + 1, size=n_active)
    x[:2] = cfg.x_min_code
    groups = range(0, n_active, lanes)
    outputs = []

    async def tb(ctx):
        for g, base in enumerate(groups):
            rows = min(lanes, n_active - base)
            for j in range(n_active):
                ctx.set(dut.in_valid, 1)
                ctx.set(dut.in_first, j == 0)
                ctx.set(dut.in_last, j == n_active - 1)
                for lane in range(lanes):
                    row = base + lane
                    ctx.set(dut.in_a[lane], int(a[row, j]) if row < n_active else 0)
                ctx.set(dut.in_x, int(x[j]))
                ctx.set(dut.in_capture, sum(1 << lane for lane in range(lanes) if base + lane == j))
                ctx.set(dut.in_rows, rows)
                ctx.set(dut.in_tag, g)
                await ctx.tick()
                if ctx.get(dut.out_valid):
                    outputs.append((ctx.get(dut.out_tag), ctx.get(dut.out_lane),
                                    ctx.get(dut.out_sum), ctx.get(dut.out_x_old)))
        ctx.set(dut.in_valid, 0)
        while ctx.get(dut.busy):
            await ctx.tick()
            if ctx.get(dut.out_valid):
                outputs.append((ctx.get(dut.out_tag), ctx.get(dut.out_lane),
                                ctx.get(dut.out_sum), ctx.get(dut.out_x_old)))

    simulate(dut, tb)
    acc = a @ x
    expected = [(g, lane, int(acc[base + lane]), int(x[base + lane]))
                for g, base in enumerate(groups) for lane in range(min(lanes, n_active - base))]
    assert outputs == expected
