"""CellIntegrator against the golden model's update formula: random cells and both rails."""

import numpy as np
import pytest

from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.gateware.integrator import CellIntegrator

from rtl_helpers import simulate

CONFIG = SPUConfig(n=8, lanes=2, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                   max_samples_log2=10)


def reference(cfg, params, acc, x_old, b, g):
    """rtl/spec/golden.py's update of one cell, in Python integers."""
    shift = cfg.fa + params.k
    fine = (b << params.b_shift) - acc + ((params.sigma_q * g) << params.sigma_shift)
    x = x_old + ((fine + (1 << (shift - 1))) >> shift)
    clamped = min(max(x, cfg.x_min_code), cfg.x_max_code)
    return clamped, clamped != x


def run_cells(cfg, params, cells):
    """Feed one cell per cycle: b and g first, acc and x_old PREPARE_LATENCY cycles later; each
    cell's result must come out UPDATE_LATENCY cycles after its acc, with its tag."""
    dut = CellIntegrator(cfg, tag_bits=8)
    outputs = []
    lag = dut.PREPARE_LATENCY
    latency = dut.UPDATE_LATENCY

    async def tb(ctx):
        for name in ("k", "b_shift", "sigma_q", "sigma_shift"):
            ctx.set(getattr(dut, name), getattr(params, name))
        for t in range(len(cells) + lag + latency + 1):
            if t < len(cells):
                _, _, b, g = cells[t]
                ctx.set(dut.b, b)
                ctx.set(dut.gaussian, g)
            entering = t - lag
            ctx.set(dut.in_valid, 0 <= entering < len(cells))
            if 0 <= entering < len(cells):
                acc, x_old, _, _ = cells[entering]
                ctx.set(dut.acc, acc)
                ctx.set(dut.x_old, x_old)
                ctx.set(dut.in_tag, entering % 256)
            leaving = entering - latency
            assert ctx.get(dut.out_valid) == (0 <= leaving < len(cells))
            if 0 <= leaving < len(cells):
                assert ctx.get(dut.out_tag) == leaving % 256
                outputs.append((ctx.get(dut.x_new), bool(ctx.get(dut.saturated))))
            await ctx.tick()

    simulate(dut, tb)
    return outputs


@pytest.mark.parametrize("k,b_shift,sigma_q,sigma_shift", [(0, 0, 0, 0), (3, 2, 17, 4), (24, 5, 63, 0),
                                                           (1, 0, 63, None)])
def test_random_cells(k, b_shift, sigma_q, sigma_shift):
    if sigma_shift is None:
        sigma_shift = CONFIG.sigma_shift_max
    params = JobParams(n_active=8, k=k, b_shift=b_shift, sigma_q=sigma_q, sigma_shift=sigma_shift,
                       burn_in=0, samples=1).validate(CONFIG)
    rng = np.random.default_rng(k * 1000 + b_shift)
    acc_max = CONFIG.n << (CONFIG.fa + CONFIG.fx)
    cells = [(int(rng.integers(-acc_max, acc_max + 1)),
              int(rng.integers(CONFIG.x_min_code, CONFIG.x_max_code + 1)),
              int(rng.integers(-(1 << (CONFIG.b_bits - 1)), 1 << (CONFIG.b_bits - 1))),
              int(rng.integers(-510, 511))) for _ in range(60)]
    got = run_cells(CONFIG, params, cells)
    assert got == [reference(CONFIG, params, *cell) for cell in cells]


def test_rounding_and_both_rails():
    """Half-way cases round up; the rails clamp and count, one LSB inside does not."""
    params = JobParams(n_active=8, k=2, b_shift=0, sigma_q=0, sigma_shift=0, burn_in=0, samples=1)
    shift = CONFIG.fa + params.k
    top, bottom = CONFIG.x_max_code, CONFIG.x_min_code
    cells = [
        (-(1 << (shift - 1)), 0, 0, 0),        # fine = +half: rounds up to +1
        ((1 << (shift - 1)), 0, 0, 0),         # fine = -half: rounds up to 0
        ((1 << (shift - 1)) + 1, 0, 0, 0),     # just below -half: -1
        (-(1 << shift), top - 1, 0, 0),        # +1: reaches the top exactly
        (-(2 << shift), top - 1, 0, 0),        # +2: clamped at the top
        ((1 << shift), bottom + 1, 0, 0),      # -1: reaches the bottom exactly
        ((5 << shift), bottom + 1, 0, 0),      # -5: clamped at the bottom
        (-(CONFIG.n << (CONFIG.fa + CONFIG.fx)), top, 0, 0),   # largest push up
        ((CONFIG.n << (CONFIG.fa + CONFIG.fx)), bottom, 0, 0),  # largest push down
    ]
    got = run_cells(CONFIG, params, cells)
    assert got == [(1, False), (0, False), (-1, False), (top, False), (top, True),
                   (bottom, False), (bottom, True), (top, True), (bottom, True)]
    assert got == [reference(CONFIG, params, *cell) for cell in cells]


def test_noise_wider_than_fine_bits():
    """A narrow machine whose noise term |sigma_q * g| (up to 2**15 here) dominates the fine sum:
    the integrator must add it without wrapping (random case seed 9141 found this; the spec's
    fine_bits now covers it too)."""
    cfg = SPUConfig(n=1, lanes=1, a_bits=3, b_bits=7, x_bits=9, out_bits=6, sigma_bits=7)
    params = JobParams(n_active=1, k=4, b_shift=1, sigma_q=cfg.sigma_max_code, sigma_shift=0,
                       burn_in=0, samples=1).validate(cfg)
    assert cfg.sigma_max_code * 510 < 1 << (cfg.fine_bits - 2)
    cells = [(0, 0, 0, 510), (0, 0, 0, -510), (3, -5, 17, 300), (-7, 100, -64, -499)]
    got = run_cells(cfg, params, cells)
    assert got == [reference(cfg, params, *cell) for cell in cells]
