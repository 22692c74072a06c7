"""Cycles per Euler step of SPUCore, measured in the Amaranth simulator through CYCLES.

The measured steady-state period must equal the documented model ``SPUCore.step_cycles``
(G*n + max(0, X_LATENCY - (G-1)*P), G = ceil(n/P)), stay within ceil(n**2/P) + X_LATENCY when
P divides n, and second-moment accumulation must not slow sampling at thinning 1 or 4.
The full table (N up to 32, utilization) is bench/bench_cycles.py -> docs/cycles.md."""

import math

import numpy as np
import pytest

from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.gateware.core import SPUCore, moment_pass_cycles, step_cycles

from rtl_helpers import measure_sample_cycles, random_problem, simulate


def measure(n, lanes, n_active, moments, thin, moment_lanes=None):
    cfg = SPUConfig(n=n, lanes=lanes, a_bits=8, b_bits=10, x_bits=12, out_bits=8, sigma_bits=6,
                    max_samples_log2=10)
    core = SPUCore(cfg, moment_lanes)
    params = JobParams(n_active=n_active, k=3, b_shift=0, sigma_q=5, sigma_shift=0, burn_in=0,
                       samples=2, thin=thin, moments=moments, seed=1)
    a_q, b_q = random_problem(np.random.default_rng(n), cfg, params)
    out = {}

    async def tb(ctx):
        out["per_sample"] = await measure_sample_cycles(ctx, core, a_q, b_q, params, extra_samples=2)

    simulate(core, tb)
    return core, out["per_sample"] / thin


CASES = [(4, 1, 4), (4, 4, 4), (8, 2, 8), (8, 8, 8), (8, 4, 5), (16, 4, 16), (16, 8, 16),
         (16, 16, 16)]


@pytest.mark.parametrize("n,lanes,n_active", CASES)
@pytest.mark.parametrize("moments,thin", [(False, 1), (True, 1), (True, 4)])
def test_step_cycles_match_model(n, lanes, n_active, moments, thin):
    core, per_step = measure(n, lanes, n_active, moments, thin)
    assert per_step == core.step_cycles(n_active)
    if n_active % lanes == 0:
        assert per_step <= math.ceil(n_active**2 / lanes) + SPUCore.X_LATENCY
    print(f"N={n} P={lanes} n={n_active} moments={moments} thin={thin}: {per_step} cycles/step, "
          f"utilization {n_active**2 / (lanes * per_step):.1%}")


@pytest.mark.parametrize("n", [16, 32, 128])
def test_full_utilization_from_two_groups(n):
    """The model (checked against measurements above) gives 100 % whenever P <= N/2 and the
    previous groups span at least X_LATENCY rows; with one group (P = N) a step is
    n + X_LATENCY cycles: every row of a step needs every row of the previous one."""
    for lanes in (1, 2, 4, 8, 16, 32, 64):
        if lanes <= n // 2 and n - lanes >= SPUCore.X_LATENCY:
            assert step_cycles(SPUConfig(n=n, lanes=lanes), n) == n * n // lanes
    if n <= 32:
        assert step_cycles(SPUConfig(n=n, lanes=n), n) == n + SPUCore.X_LATENCY


def test_step_cycles_n32_one_group():
    """N = P = 32, moments on at thinning 1: a moment pass takes exactly a step here."""
    core, per_step = measure(32, 32, 32, True, 1)
    assert per_step == core.step_cycles(32) == 32 + SPUCore.X_LATENCY


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 4, 8, 16])
@pytest.mark.parametrize("moments,thin", [(False, 1), (True, 1), (True, 4)])
def test_step_cycles_n32(lanes, moments, thin):
    core, per_step = measure(32, lanes, 32, moments, thin)
    assert per_step == core.step_cycles(32)


@pytest.mark.parametrize("n,lanes,moment_lanes", [(8, 4, 2), (8, 4, 1), (16, 8, 4)])
@pytest.mark.parametrize("thin", [1, 2])
def test_fewer_moment_lanes(n, lanes, moment_lanes, thin):
    """With M < P moment lanes a sample takes max(thin * step, pass) cycles."""
    core, per_step = measure(n, lanes, n, True, thin, moment_lanes)
    per_sample = per_step * thin
    assert per_sample == max(thin * core.step_cycles(n), moment_pass_cycles(n, moment_lanes))
